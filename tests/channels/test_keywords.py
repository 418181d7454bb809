"""Compliance keywords: the matching rule, the per-channel defaults and their validation."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from channels.keywords import ComplianceKeyword, KeywordSet
from channels.messages import ChannelName
from policy.guardrails import (
    SMS_KEYWORDS,
    TELEGRAM_KEYWORDS,
    WHATSAPP_KEYWORDS,
    Guardrails,
    KeywordRules,
    load_guardrails,
)
from tests.channels.conftest import fixture

OUT, IN, HELP = ComplianceKeyword.OPT_OUT, ComplianceKeyword.OPT_IN, ComplianceKeyword.HELP
DEFAULTS = {
    ChannelName.SMS: SMS_KEYWORDS,
    ChannelName.WHATSAPP: WHATSAPP_KEYWORDS,
    ChannelName.TELEGRAM: TELEGRAM_KEYWORDS,
}


def keyword_set(rules: KeywordRules) -> KeywordSet:
    return KeywordSet.of(opt_out=rules.opt_out, opt_in=rules.opt_in, help=rules.help)


@pytest.mark.parametrize(
    ("channel", "text", "expected"),
    [
        (ChannelName.SMS, "STOP", OUT),
        (ChannelName.SMS, "  optout ", OUT),
        (ChannelName.SMS, "Cancel.", OUT),
        (ChannelName.SMS, "unstop", IN),
        (ChannelName.SMS, "yes", IN),
        (ChannelName.SMS, "info", HELP),
        (ChannelName.SMS, "stop it", None),
        (ChannelName.SMS, "yes!?", None),
        (ChannelName.SMS, "/stop", None),  # slash commands are Telegram's
        (ChannelName.WHATSAPP, "Unsubscribe!", OUT),
        (ChannelName.WHATSAPP, "Cancel", None),  # "cancel my order", not an opt-out
        (ChannelName.WHATSAPP, "end", None),
        (ChannelName.WHATSAPP, "yes", None),
        (ChannelName.WHATSAPP, "help", None),  # the agent answers it
        (ChannelName.WHATSAPP, "start", IN),
        (ChannelName.TELEGRAM, "/stop@ShopBot", OUT),
        (ChannelName.TELEGRAM, "/STOP", OUT),
        (ChannelName.TELEGRAM, "stop", OUT),
        (ChannelName.TELEGRAM, "/start ref-123", IN),
        (ChannelName.TELEGRAM, "/start@ShopBot", IN),
        (ChannelName.TELEGRAM, "/help", HELP),
        (ChannelName.TELEGRAM, "cancel", None),
        (ChannelName.TELEGRAM, "yes", None),
        (ChannelName.TELEGRAM, "/menu", None),
        (ChannelName.TELEGRAM, "", None),
    ],
)
def test_default_keywords_per_channel(
    channel: ChannelName, text: str, expected: ComplianceKeyword | None
) -> None:
    assert keyword_set(DEFAULTS[channel]).match(text) == expected


def test_sms_defaults_are_twilios_carrier_lists() -> None:
    twilio = fixture("sms_optout_keywords.json")["union_twilio"]
    assert sorted(SMS_KEYWORDS.opt_out) == sorted(twilio["opt_out"])
    assert sorted(SMS_KEYWORDS.opt_in) == sorted(twilio["opt_in"])
    assert sorted(SMS_KEYWORDS.help) == sorted(twilio["help"])


def test_a_word_given_twice_to_the_matcher_counts_as_an_opt_out() -> None:
    assert KeywordSet.of(opt_out=["stop"], opt_in=["STOP"]).match("Stop") is OUT


def guardrails(keywords: dict[str, Any]) -> Guardrails:
    return Guardrails.model_validate({"compliance": {"keywords": keywords}})


def problems(keywords: dict[str, Any]) -> list[tuple[tuple[str | int, ...], str]]:
    with pytest.raises(ValidationError) as caught:
        guardrails(keywords)
    return [(tuple(error["loc"]), error["msg"]) for error in caught.value.errors()]


def test_an_unknown_channel_is_an_error_with_its_path() -> None:
    [(loc, _)] = problems({"signal": {"opt_out": ["STOP"]}})
    assert loc == ("compliance", "keywords", "signal")


@pytest.mark.parametrize(
    ("keywords", "where", "says"),
    [
        ({"sms": {"opt_out": ["/stop"]}}, ("sms",), "only on Telegram"),
        ({"webchat": {"opt_in": ["/start"]}}, ("webchat",), "only on Telegram"),
        ({"telegram": {"opt_in": ["/start now"]}}, ("telegram", "opt_in"), "a command is"),
        ({"whatsapp": {"opt_out": ["STOP!"]}}, ("whatsapp", "opt_out"), "never match"),
        ({"sms": {"opt_out": [" STOP"]}}, ("sms", "opt_out"), "surrounding spaces"),
        ({"sms": {"opt_out": []}}, ("sms", "opt_out"), "at least 1"),
        ({"sms": {"opt_in": ["stop"]}}, ("sms",), "in both opt_out and opt_in"),
        ({"telegram": {"stop_words": ["x"]}}, ("telegram", "stop_words"), "Extra inputs"),
        (yaml.safe_load("sms: {opt_in: [START, YES]}"), ("sms", "opt_in"), "in quotes"),
    ],
)
def test_bad_keywords_are_errors_with_their_path(
    keywords: dict[str, Any], where: tuple[str, ...], says: str
) -> None:
    [(loc, message)] = problems(keywords)
    assert loc[: 2 + len(where)] == ("compliance", "keywords", *where)
    assert says in message


def test_web_chat_has_the_opt_out_words_and_start_and_no_carrier_words() -> None:
    matcher = keyword_set(Guardrails().compliance.keywords.webchat)
    assert matcher.match("stop") is OUT and matcher.match("Unsubscribe!") is OUT
    assert matcher.match("START") is IN
    for word in ("CANCEL", "END", "QUIT", "HELP", "YES", "/stop"):
        assert matcher.match(word) is None, word


def test_a_list_left_out_keeps_its_channels_default() -> None:
    rules = guardrails({"sms": {"opt_in": ["UNSTOP"]}, "whatsapp": {"help": ["AYUDA"]}})
    keywords = rules.compliance.keywords
    assert keywords.sms.opt_in == ["UNSTOP"]
    assert keywords.sms.opt_out == SMS_KEYWORDS.opt_out  # not dropped by the change
    assert keywords.whatsapp.help == ["AYUDA"]
    assert keywords.whatsapp.opt_out == WHATSAPP_KEYWORDS.opt_out
    assert keywords.telegram == TELEGRAM_KEYWORDS


def test_keywords_survive_a_round_trip_through_yaml(tmp_path: Any) -> None:
    rules = guardrails({"sms": {"opt_in_grants_marketing": True, "opt_out": ["ARRET", "STOP"]}})
    path = tmp_path / "guardrails.yaml"
    path.write_text(yaml.safe_dump(rules.model_dump(mode="json")))
    assert load_guardrails(path) == rules
