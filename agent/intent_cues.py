"""High-precision cues: the few phrasings whose intent is beyond doubt.

A cue decides only when it cannot be wrong in a shop: "hi" alone, "/start", "remind me",
"20% off", "talk to a person". Everything else goes to the classifier, so "a gift for a person
who loves hiking" is a search and "track pants in black" is not an order. A handoff cue marks
the request as explicit: the one intent that silences the bot needs words that say so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from agent.intent_labels import Intent

_END = r"[\s!.,?]*$"
_PEOPLE = (
    r"(a |an |some |your |the |real )?(human( being)?|real person|person|people|agent|"
    r"someone|somebody|manager|supervisor|representative|operator|staff|colleague|"
    r"customer (service|support|care)|support team|team member|live agent)"
)
ORDER_REFERENCE = re.compile(
    r"\border\s*(number|no\.?|#)?\s*#?\s*[A-Za-z]{0,4}-?\d{3,}\b|#\s?\d{4,}\b", re.I
)


@dataclass(frozen=True)
class Cue:
    intent: Intent
    explicit: bool = False


CUES: list[tuple[Intent, bool, re.Pattern[str]]] = [
    (
        Intent.GREETING,
        False,
        re.compile(
            r"^\s*(hi+|hello+|hey+|hiya|yo|howdy|greetings|good (morning|afternoon|evening)|"
            rf"morning)( there| again| all)?{_END}|^\s*/start(@\w+)?(\s+\S*)?\s*$",
            re.I,
        ),
    ),
    (
        Intent.THANKS,
        False,
        re.compile(
            r"^\s*(ok(ay)?,? )?(thanks|thank you|thx|ty|cheers|bye|goodbye|see you)"
            rf"( (a lot|so much|very much|again|bye))?{_END}",
            re.I,
        ),
    ),
    (
        Intent.HELP,
        False,
        re.compile(
            r"^\s*(/help|help|menu|options|commands)\s*[?!.]*$|\bsystem prompt\b|"
            r"\b(what('s| is| are)|show me|tell me|print|reveal|repeat) (your|the) "
            r"(instructions|prompt|rules)\b|\bare you (a )?(bot|robot|human|real)\b|"
            r"^\s*what can you do\b",
            re.I,
        ),
    ),
    (
        Intent.HUMAN,
        True,
        re.compile(
            rf"\b(talk|speak|chat)( (to|with))? {_PEOPLE}\b(?! who)|"
            rf"\b(get|give|put|connect|transfer|pass|hand) me( over| through)?( to| with)? "
            rf"{_PEOPLE}\b(?! who)|"
            r"^\s*(customer (service|support|care)|support team|an? (human|person|agent)|human|"
            r"agent|operator|representative|real person|someone real)( please| now)?[\s!.]*$",
            re.I,
        ),
    ),
    (
        # The same request in the other languages the shop answers in (agent.language): the
        # one irreversible step must not depend on writing English.
        Intent.HUMAN,
        True,
        re.compile(
            r"\b(hablar|chatear) con (una persona|un humano|alguien|un agente|un asesor)|"
            r"\b(parler|discuter) (à|a|avec) (une personne|un humain|quelqu'un|un conseiller)|"
            r"\b(mit )?(einem menschen|einer person|jemandem|einem mitarbeiter) (sprechen|reden)|"
            r"\b(parlare|chattare) con (una persona|un umano|qualcuno|un operatore)|"
            r"\b(falar|conversar) com (uma pessoa|um humano|alguém|um atendente)|"
            r"\b(praten|spreken) met (een mens|een persoon|iemand|een medewerker)",
            re.I,
        ),
    ),
    (
        Intent.DISCOUNT,
        False,
        re.compile(
            r"\b\d{1,3}\s*(%|percent)\s*(off|discount)\b|"
            r"\b(discount|promo|coupon|voucher)\s*codes?\b(?! (organi[sz]er|wallet|book|holder))",
            re.I,
        ),
    ),
    (
        Intent.FOLLOW_UP,
        False,
        re.compile(
            r"\b(remind me|set a reminder|(let|keep) me (know|posted) (when|if)|tell me (when|if)|"
            r"notify me|alert me|ping me|text me when|message me when)\b",
            re.I,
        ),
    ),
    (
        Intent.ORDER_STATUS,
        False,
        re.compile(
            r"\b(did|have|has) you (send|sent|ship|shipped|dispatch|dispatched|post|posted)\b"
            r"(?!.{0,30}\b(code|coupon|voucher|invoice|receipt|link|email)\b).{0,40}\b(i|my)\b",
            re.I,
        ),
    ),
    (
        Intent.PREFERENCES,
        False,
        re.compile(
            r"\b(i prefer (whatsapp|sms|telegram|text)|"
            r"(contact|message|text) me (only )?(on|via|by) (whatsapp|sms|telegram|text)|"
            r"(don'?t|do not|never) (message|text|contact|write)( to)? me (after|before|at|on)|"
            r"my (shoe |clothing )?size is|i('m| am) (a )?size|i wear (a )?size|"
            r"quiet hours)\b",
            re.I,
        ),
    ),
]
# Short replies that only mean something as answers to a question the bot asked.
ANSWERS: list[tuple[Intent, re.Pattern[str]]] = [
    (
        Intent.AFFIRM,
        re.compile(
            r"^\s*(yes|yes please|yeah|yep|yup|sure|ok|okay|y|please do|go ahead|do it|"
            r"sounds good|absolutely|of course|why not|please|sí|si|claro|vale|oui|d'accord|ja|"
            rf"sì|certo|sim|graag)( thanks| thank you| gracias| merci| danke| grazie)?{_END}",
            re.I,
        ),
    ),
    (
        Intent.DENY,
        re.compile(
            rf"^\s*(no|nope|nah|no thanks|no thank you|not now|no need|don'?t)( thanks)?{_END}",
            re.I,
        ),
    ),
    (
        Intent.CANCEL,
        re.compile(
            r"^\s*(never ?mind|forget (it|about it|that)|cancel that|scratch that|stop|"
            rf"leave it|ignore that)( then)?{_END}",
            re.I,
        ),
    ),
]


def cue(text: str) -> Cue | None:
    for intent, pattern in ANSWERS:
        if pattern.search(text):
            return Cue(intent)
    for intent, explicit, pattern in CUES:
        if pattern.search(text):
            return Cue(intent, explicit)
    return None


def mentions_order(text: str) -> bool:
    """An order number in the message ("order 10234", "#55821")."""
    return ORDER_REFERENCE.search(text) is not None


def asks_for_a_person(text: str) -> bool:
    """The explicit handoff request the irreversible tool needs."""
    found = cue(text)
    return found is not None and found.intent is Intent.HUMAN and found.explicit
