"""The guardrails document: every rule a marketer can change without a code change.

One validated pydantic model, loadable from YAML (``CHATCOMMERCE_GUARDRAILS_FILE``); the
eligibility engine and the agent read it, never the prompt.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import time, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from policy.decisioning import Audience, Decisioning
from policy.message_copy import Brand, CopyMode, MarketingFooters, MessageVariant
from profile_store.models import Channel, ConsentPurpose

DEMO_GUARDRAILS = Path(__file__).with_name("demo_guardrails.yaml")

Percent = Annotated[float, Field(ge=0, le=100)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FrequencyCap(_Strict):
    """At most ``max_messages`` of ``purpose`` per sliding ``window``, on one channel or all."""

    max_messages: int = Field(ge=0)
    window: timedelta = Field(description="ISO 8601 duration or seconds, e.g. P7D, PT24H")
    channel: Channel | None = Field(default=None, description="None counts every channel")
    purpose: ConsentPurpose = ConsentPurpose.MARKETING

    @model_validator(mode="after")
    def _positive_window(self) -> FrequencyCap:
        if self.window <= timedelta(0):
            raise ValueError("window must be longer than zero")
        return self


class QuietHours(_Strict):
    """No marketing between ``start`` and ``end`` in the customer's own local time."""

    start: time = time(21, 0)
    end: time = time(9, 0)
    purposes: list[ConsentPurpose] = Field(default_factory=lambda: [ConsentPurpose.MARKETING])
    default_timezone: str = Field(
        default="UTC", description="When neither a stored timezone nor the phone tells"
    )


class PurchaseSuppression(_Strict):
    """No promotion for what the customer bought recently (or its whole category)."""

    days: int = Field(default=30, ge=0)
    scope: Literal["product", "category"] = "product"


class DiscountPolicy(_Strict):
    ceiling_by_tier: dict[str, Percent] = Field(default_factory=lambda: {"default": 10.0})
    approval_threshold: Percent = Field(
        default=15.0, description="Offers above this need a human's approval"
    )
    code_validity: timedelta = Field(
        default=timedelta(days=7),
        description="How long a granted code is valid; a shopper has one active code at a time",
    )
    minimum_order: float = Field(
        default=0.0, ge=0, description="Order total a code needs (0: none)"
    )
    full_price_buyer_share: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description=(
            "A customer with at least 3 orders whose share of discounted orders is at most "
            "this buys at full price and gets no discount"
        ),
    )

    def ceiling(self, tier: str | None) -> float:
        return self.ceiling_by_tier.get(tier or "default", self.ceiling_by_tier.get("default", 0.0))


TemplateVariable = Literal[
    "text", "program", "first_name", "product_name", "product_url", "cart_total", "discount_code"
]


class WhatsAppTemplate(_Strict):
    content_sid: str = Field(pattern=r"^HX[0-9a-fA-F]{32}$")
    variables: list[TemplateVariable] = Field(
        default_factory=list,
        description="What fills {{1}}, {{2}}, … in order: the rendered text, the program's "
        "name, the shopper's first name, the first product's name or link, the cart total, "
        "the discount code",
    )


class Program(_Strict):
    """One kind of automated outreach (cart reminder, win-back, …)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    enabled: bool = True
    holdout_percent: Percent = 0.0
    whatsapp_template: WhatsAppTemplate | None = None
    variants: list[MessageVariant] = Field(
        default_factory=list,
        description="The copy; several variants are tried and the best learnt. None: the "
        "built-in copy",
    )
    copy_mode: CopyMode = Field(
        default="template",
        alias="copy",
        description="generated: a configured model writes each message from the brief, the "
        "products and the brand voice (the template when there is no model or the guard "
        "refuses)",
    )
    brief: str = Field(default="", max_length=1000, description="For generated copy")
    audience: str | None = Field(
        default=None, description="Only customers in this audience (see audiences:)"
    )

    @model_validator(mode="after")
    def _unique_variants(self) -> Program:
        ids = [variant.id for variant in self.variants]
        if len(ids) != len(set(ids)):
            raise ValueError("variant ids must be unique within a program")
        return self


class TriggerWindows(_Strict):
    """How long after a shopper's last step each trigger fires."""

    cart_abandoned: timedelta = timedelta(minutes=30)
    browse_abandoned: timedelta = timedelta(hours=2)
    post_purchase: timedelta = timedelta(days=3)
    win_back: timedelta = timedelta(days=60)
    horizon: timedelta = Field(
        default=timedelta(hours=6),
        description="An event whose trigger moment passed longer ago than this is history "
        "(an import, a backfill): it arms nothing",
    )


Keyword = Annotated[
    str,
    Field(
        min_length=1,
        max_length=40,
        description="A whole message, e.g. STOP (any case), or a Telegram command, e.g. /stop",
    ),
]
_COMMAND = re.compile(r"^/[A-Za-z0-9_]{1,32}$")


class KeywordRules(_Strict):
    """One channel's compliance keywords: a message that is exactly one of them is answered
    before any agent sees it.

    An opt-in word only counts while the shopper is opted out on the channel (it resumes);
    otherwise it is ordinary text ("yes" answering a question is just "yes"), unless
    ``opt_in_grants_marketing`` is on.
    """

    opt_out: list[Keyword] = Field(
        min_length=1, description="Words that stop every message on this channel"
    )
    opt_in: list[Keyword] = Field(
        default_factory=list, description="Words that lift an opt-out on this channel"
    )
    help: list[Keyword] = Field(
        default_factory=list,
        description="Words answered with the help reply (carriers require one on SMS); leave "
        "empty to let the agent answer them",
    )
    opt_in_grants_marketing: bool = Field(
        default=False,
        description='For keyword opt-in campaigns ("text YES to join"): an opt-in word always '
        "counts and grants marketing consent, not only resumes what there was before an opt-out",
    )

    @field_validator("opt_out", "opt_in", "help", mode="before")
    @classmethod
    def _no_yaml_booleans(cls, words: Any) -> Any:
        if isinstance(words, list) and any(isinstance(word, bool) for word in words):
            raise ValueError('put YES, NO, ON and OFF in quotes ("YES"): YAML reads them as true')
        return words

    @field_validator("opt_out", "opt_in", "help")
    @classmethod
    def _well_formed(cls, words: list[str]) -> list[str]:
        for word in words:
            if word != word.strip() or "\n" in word:
                raise ValueError(f"{word!r}: no surrounding spaces or line breaks")
            if word.startswith("/") and not _COMMAND.match(word):
                raise ValueError(f"{word!r}: a command is / and up to 32 letters, digits or _")
            if word.endswith((".", "!")):
                raise ValueError(
                    f"{word!r}: a final . or ! is ignored in messages, so it would never match"
                )
        return words

    @model_validator(mode="after")
    def _each_word_once(self) -> KeywordRules:
        seen: dict[str, str] = {}
        for kind in ("opt_out", "opt_in", "help"):
            for word in getattr(self, kind):
                form = word.lower()
                if form in seen and seen[form] != kind:
                    raise ValueError(f"{word!r} is in both {seen[form]} and {kind}")
                seen[form] = kind
        return self

    @property
    def commands(self) -> list[str]:
        return [word for word in (*self.opt_out, *self.opt_in, *self.help) if word[0] == "/"]


# Twilio's defaults for US long codes (tests/fixtures/sms_optout_keywords.json has the sources).
SMS_KEYWORDS = KeywordRules(
    opt_out=["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"],
    opt_in=["START", "UNSTOP", "YES"],
    help=["HELP", "INFO"],
)
# Chat apps: only words that cannot mean anything else ("cancel" is "cancel my order" here);
# the agent answers "help" better than a fixed reply.
WHATSAPP_KEYWORDS = KeywordRules(opt_out=["STOP", "UNSUBSCRIBE"], opt_in=["START"])
# Every Telegram user sends /start on opening the bot: it only counts after an opt-out.
TELEGRAM_KEYWORDS = KeywordRules(
    opt_out=["/stop", "STOP", "UNSUBSCRIBE"], opt_in=["/start"], help=["/help"]
)
# Web chat: the opt-out words only, and START to resume; no carrier words, no commands.
WEBCHAT_KEYWORDS = KeywordRules(opt_out=["STOP", "UNSUBSCRIBE"], opt_in=["START"])
_DEFAULT_KEYWORDS = {
    Channel.SMS: SMS_KEYWORDS,
    Channel.WHATSAPP: WHATSAPP_KEYWORDS,
    Channel.TELEGRAM: TELEGRAM_KEYWORDS,
    Channel.WEBCHAT: WEBCHAT_KEYWORDS,
}


class ComplianceKeywords(_Strict):
    """Keywords per chat channel. A channel or list left out keeps its default, so changing
    the opt-in words cannot drop the opt-out ones by accident."""

    sms: KeywordRules = SMS_KEYWORDS
    whatsapp: KeywordRules = WHATSAPP_KEYWORDS
    telegram: KeywordRules = TELEGRAM_KEYWORDS
    webchat: KeywordRules = WEBCHAT_KEYWORDS

    @model_validator(mode="before")
    @classmethod
    def _defaults_for_what_is_left_out(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        filled = dict(data)
        for channel, defaults in _DEFAULT_KEYWORDS.items():
            given = filled.get(channel.value)
            if isinstance(given, Mapping):
                filled[channel.value] = defaults.model_dump() | dict(given)
        return filled

    @field_validator("sms", "whatsapp", "webchat")
    @classmethod
    def _no_commands(cls, rules: KeywordRules) -> KeywordRules:
        if rules.commands:
            raise ValueError(f"{rules.commands[0]!r}: bot commands exist only on Telegram")
        return rules

    def for_channel(self, channel: Channel) -> KeywordRules | None:
        """None for a channel without keywords (email)."""
        rules: KeywordRules | None = getattr(self, channel.value, None)
        return rules


class ComplianceTexts(_Strict):
    """The compliance answers in one language; one left out falls back to the default."""

    opt_out: str | None = None
    opt_in: str | None = None
    help: str | None = None


# The keywords stay the carriers' (STOP, START); the sentences around them are translated.
DEFAULT_TRANSLATIONS = {
    "es": ComplianceTexts(
        opt_out="Te has dado de baja y no recibirás más mensajes aquí. Responde START para volver.",
        opt_in="¡Hola! Recibirás nuestros mensajes aquí. Responde STOP para darte de baja.",
        help="Es el asistente de la tienda: pregunta por productos o pedidos. Responde STOP "
        "para darte de baja.",
    ),
    "fr": ComplianceTexts(
        opt_out="Vous êtes désinscrit et ne recevrez plus de messages ici. Répondez START pour "
        "reprendre.",
        opt_in="Bonjour ! Vous recevrez nos messages ici. Répondez STOP pour vous désinscrire.",
        help="Ici l'assistant de la boutique : posez vos questions sur les produits ou les "
        "commandes. Répondez STOP pour vous désinscrire.",
    ),
    "de": ComplianceTexts(
        opt_out="Sie sind abgemeldet und erhalten hier keine Nachrichten mehr. Antworten Sie "
        "START, um sie wieder zu erhalten.",
        opt_in="Hallo! Sie erhalten unsere Nachrichten hier. Antworten Sie STOP zum Abmelden.",
        help="Hier ist der Assistent des Shops: Fragen Sie nach Produkten oder Bestellungen. "
        "Antworten Sie STOP zum Abmelden.",
    ),
}


class ComplianceReplies(_Strict):
    """Compliance keywords per channel and what the shop answers to them (before any agent).
    The answers go in the shopper's language (their ``locale``) when ``translations`` has it."""

    opt_out: str = "You are unsubscribed and will get no more messages here. Reply START to resume."
    opt_in: str = (
        "Hi! You will get messages from us here. Reply STOP to unsubscribe, HELP for help."
    )
    help: str = (
        "This is the shop's assistant. Ask about products or orders. Reply STOP to unsubscribe."
    )
    sms_provider_replies: bool = Field(
        default=True,
        description="Twilio's Advanced Opt-Out answers SMS keywords itself; do not answer "
        "twice (keep the SMS keywords below the same as the ones set in Twilio)",
    )
    keywords: ComplianceKeywords = ComplianceKeywords()
    translations: dict[str, ComplianceTexts] = Field(
        default_factory=lambda: dict(DEFAULT_TRANSLATIONS),
        description="The answers per language (ISO 639-1, e.g. es), chosen by the shopper's locale",
    )

    def text(self, kind: Literal["opt_out", "opt_in", "help"], locale: str | None) -> str:
        language = (locale or "").split("-")[0].split("_")[0].lower()
        translated = self.translations.get(language)
        value = getattr(translated, kind) if translated is not None else None
        return str(value or getattr(self, kind))


class ToolSwitch(_Strict):
    enabled: bool = True
    audience: str | None = Field(
        default=None, description="Only for shoppers in this audience (see audiences:)"
    )


class SearchToolConfig(ToolSwitch):
    max_results: int = Field(default=3, ge=1, le=10)


class FollowUpToolConfig(ToolSwitch):
    max_days_ahead: int = Field(
        default=90, ge=1, le=365, description="How far ahead a shopper may ask to be reminded"
    )


class AgentTools(_Strict):
    """The agent's tools; a switched-off tool is not offered to the model at all."""

    get_profile: ToolSwitch = ToolSwitch()
    search_products: SearchToolConfig = SearchToolConfig()
    get_order_status: ToolSwitch = ToolSwitch()
    check_eligibility: ToolSwitch = ToolSwitch()
    offer_discount: ToolSwitch = ToolSwitch()
    schedule_follow_up: FollowUpToolConfig = FollowUpToolConfig()
    update_preferences: ToolSwitch = ToolSwitch()
    handoff_to_human: ToolSwitch = ToolSwitch()
    verify_identity: ToolSwitch = ToolSwitch()
    request_order_change: ToolSwitch = ToolSwitch()
    confirm_order_change: ToolSwitch = ToolSwitch()

    def enabled(self) -> frozenset[str]:
        return frozenset(name for name in type(self).model_fields if getattr(self, name).enabled)


DEFAULT_INSTRUCTIONS = (
    "You are the shop's assistant on a messaging app. Help the shopper find products, check "
    "their orders and make choices. Use the tools to answer; never invent products, prices, "
    "orders or discounts. Only offer a discount that the offer_discount tool granted."
)


class AgentConfig(_Strict):
    """What the marketer says about how the agent talks; limits are enforced in code."""

    tools: AgentTools = AgentTools()
    audience: str | None = Field(
        default=None,
        description="Only shoppers in this audience get the agent; others get "
        "outside_audience_reply and a colleague",
    )
    outside_audience_reply: str = Field(
        default="Thanks for your message! A colleague will reply here soon.",
        max_length=500,
        description="Said to a shopper outside agent.audience, whose conversation goes to a person",
    )
    instructions: str = Field(default=DEFAULT_INSTRUCTIONS, max_length=4000)
    brand_voice: str = Field(
        default="Warm, brief and plain-spoken. Short sentences; no more than one emoji.",
        max_length=1000,
    )
    blocked_topics: list[Annotated[str, Field(min_length=2, max_length=100)]] = Field(
        default_factory=list,
        description="Subjects the agent declines, e.g. politics, medical advice",
    )
    blocked_topic_reply: str = Field(
        default="That is not something I can help with here. Can I help you find a product "
        "or check an order?",
        max_length=500,
    )
    holding_reply: str = Field(
        default="One moment, please: I'm still working on your answer.",
        max_length=500,
        description="Said once when a turn failed and is being tried again",
    )
    failure_reply: str = Field(
        default="Sorry, I can't answer right now. Please try again in a few minutes; I've also "
        "asked a colleague to look at your message.",
        max_length=500,
        description="Said when every try of a turn failed; the conversation is flagged for a "
        "person",
    )


class QuickReplyOption(_Strict):
    """A button the web chat shows; pressing it says ``payload`` (the label when left out)."""

    label: str = Field(min_length=1, max_length=40)
    payload: str | None = Field(default=None, min_length=1, max_length=200)

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, data: Any) -> Any:
        return {"label": data} if isinstance(data, str) else data

    @property
    def says(self) -> str:
        return self.payload or self.label


def _options(*labels: str) -> list[QuickReplyOption]:
    return [QuickReplyOption(label=label) for label in labels]


class WebChatCopy(_Strict):
    """What the web chat page says before the agent does, and the buttons it offers."""

    greeting: str = Field(
        default="Hi! I'm the shop's assistant. Tell me what you are looking for, or ask about "
        "an order.",
        min_length=1,
        max_length=1000,
        description="The first message a new visitor sees",
    )
    quick_replies: list[QuickReplyOption] = Field(
        default_factory=lambda: _options(
            "Running shoes under 80", "Where is my order?", "What can you do?"
        ),
        max_length=6,
        description="Buttons under the greeting",
    )
    product_quick_replies: list[QuickReplyOption] = Field(
        default_factory=lambda: _options("Remind me tomorrow", "Talk to a person"),
        max_length=6,
        description="Buttons under every message with product cards",
    )


OrderAction = Literal["cancel", "return", "exchange", "change_address", "change_items"]


class OrdersPolicy(_Strict):
    """What the agent may do about an order after the sale (``orders:``). The tools check
    these; a shopper cannot talk the model past them."""

    return_window_days: int = Field(
        default=30, ge=0, le=3650, description="days after delivery a return or exchange is open"
    )
    cancellable_states: list[str] = Field(
        default_factory=lambda: ["placed"], description="order states a cancel is allowed in"
    )
    changeable_states: list[str] = Field(
        default_factory=lambda: ["placed"],
        description="states in which the address or items may change (before shipping)",
    )
    exchange_same_product: bool = Field(
        default=True, description="an exchange is only for another variant of the same product"
    )
    approval_required: list[OrderAction] = Field(
        default_factory=list, description="actions a person approves before the shop is asked"
    )
    verify_channels: list[Channel] = Field(
        default_factory=lambda: [Channel.TELEGRAM, Channel.WEBCHAT],
        description="channels whose shopper proves who they are before order details",
    )


class Guardrails(_Strict):
    version_note: str = ""
    triggers: TriggerWindows = TriggerWindows()
    frequency_caps: list[FrequencyCap] = Field(default_factory=list)
    quiet_hours: QuietHours = QuietHours()
    purchase_suppression: PurchaseSuppression = PurchaseSuppression()
    discounts: DiscountPolicy = DiscountPolicy()
    programs: dict[str, Program] = Field(default_factory=dict)
    whatsapp_window: timedelta = timedelta(hours=24)
    compliance: ComplianceReplies = ComplianceReplies()
    agent: AgentConfig = AgentConfig()
    brand: Brand = Brand()
    footers: MarketingFooters = MarketingFooters()
    audiences: dict[str, Audience] = Field(default_factory=dict)
    decisioning: Decisioning = Decisioning()
    orders: OrdersPolicy = OrdersPolicy()

    @model_validator(mode="after")
    def _known_audiences(self) -> Guardrails:
        known = set(self.audiences)
        named = [(f"programs.{n}.audience", p.audience) for n, p in self.programs.items()]
        named += [
            (f"agent.tools.{n}.audience", getattr(self.agent.tools, n).audience)
            for n in type(self.agent.tools).model_fields
        ]
        named.append(("agent.audience", self.agent.audience))
        for path, audience in named:
            if audience is not None and audience not in known:
                listed = ", ".join(sorted(known)) or "none defined"
                raise ValueError(f"{path}: no audience {audience!r} (audiences: {listed})")
        return self

    webchat: WebChatCopy = WebChatCopy()

    def program(self, name: str) -> Program:
        return self.programs.get(name, Program())

    def with_tools(self, switches: Mapping[str, bool]) -> Guardrails:
        """A copy with these agent tools switched on or off (names from ``AgentTools``)."""
        tools = self.agent.tools
        unknown = set(switches) - set(AgentTools.model_fields)
        if unknown:
            raise ValueError(f"no tool {sorted(unknown)[0]!r}")
        switched = tools.model_copy(
            update={
                name: getattr(tools, name).model_copy(update={"enabled": on})
                for name, on in switches.items()
            }
        )
        return self.model_copy(update={"agent": self.agent.model_copy(update={"tools": switched})})


def load_guardrails(path: Path | None = None) -> Guardrails:
    """The document at ``path`` (default: the demo guardrails). Raises ValueError naming the
    problem: a missing file, bad YAML, or each invalid field with its path."""
    source = path or DEMO_GUARDRAILS
    try:
        raw = yaml.safe_load(source.read_text())
    except OSError as exc:
        raise ValueError(f"cannot read guardrails file {source}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ValueError(f"guardrails file {source} is not valid YAML: {exc}") from exc
    return Guardrails.model_validate(raw or {})
