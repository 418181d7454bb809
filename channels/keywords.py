"""Compliance keywords (STOP, START, HELP …): whether a whole message is one of a brand's words.

Which words count is the caller's business: the lists differ per channel and per brand ("cancel"
opts out of SMS but means "cancel my order" on WhatsApp), so they are passed in. This module
holds only the matching rule. A message counts when it is exactly one keyword (any case,
surrounding whitespace and a final "." or "!" ignored): "stop" opts out, "please stop the
emails" is for the agent. A keyword written with a leading slash is a Telegram bot command:
``/start`` also matches ``/start@ShopBot`` and ``/start <deep-link payload>``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType


class ComplianceKeyword(StrEnum):
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    HELP = "help"


_COMMAND = re.compile(r"^/(\w+)(?:@\w+)?(?:\s.*)?$", re.DOTALL)


def keyword_form(word: str) -> str:
    """The form a listed keyword is compared in: commands in lower case, words in upper."""
    stripped = word.strip()
    return stripped.lower() if stripped.startswith("/") else stripped.upper()


def message_form(text: str) -> str:
    """The form a message is compared in: a command without its bot name and payload, or the
    whole text in upper case without a final full stop or exclamation mark."""
    stripped = text.strip()
    if match := _COMMAND.match(stripped):
        return "/" + match.group(1).lower()
    return stripped.rstrip(".!").upper()


@dataclass(frozen=True)
class KeywordSet:
    """One channel's keywords. A word in two lists counts as an opt-out: when in doubt, the
    shopper asked to be left alone."""

    opt_out: frozenset[str] = frozenset()
    opt_in: frozenset[str] = frozenset()
    help: frozenset[str] = frozenset()
    _lookup: Mapping[str, ComplianceKeyword] = field(
        init=False, repr=False, compare=False, default_factory=lambda: MappingProxyType({})
    )

    def __post_init__(self) -> None:
        lookup: dict[str, ComplianceKeyword] = {}
        for keyword, words in (
            (ComplianceKeyword.HELP, self.help),
            (ComplianceKeyword.OPT_IN, self.opt_in),
            (ComplianceKeyword.OPT_OUT, self.opt_out),
        ):
            lookup |= {keyword_form(word): keyword for word in words}
        object.__setattr__(self, "_lookup", MappingProxyType(lookup))

    @classmethod
    def of(
        cls, *, opt_out: Iterable[str] = (), opt_in: Iterable[str] = (), help: Iterable[str] = ()
    ) -> KeywordSet:
        return cls(frozenset(opt_out), frozenset(opt_in), frozenset(help))

    def match(self, text: str | None) -> ComplianceKeyword | None:
        """The keyword this whole message is, or None when it is anything else."""
        if not text or not text.strip():
            return None
        return self._lookup.get(message_form(text))
