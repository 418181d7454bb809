"""Carrier compliance keywords (STOP, START, HELP …), recognised before any agent sees a message.

Only a message that is exactly one keyword counts (any case, surrounding whitespace and a final
punctuation mark ignored): "stop" opts out, "please stop the emails" is for the agent. The lists
are Twilio's defaults for US long codes. On Telegram the bot commands ``/stop``, ``/start`` and
``/help`` mean the same, including ``/start@ShopBot`` and ``/start <deep-link payload>``.
"""

from __future__ import annotations

import re
from enum import StrEnum

from channels.messages import ChannelName


class ComplianceKeyword(StrEnum):
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    HELP = "help"


OPT_OUT_WORDS = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
)
OPT_IN_WORDS = frozenset({"START", "YES", "UNSTOP"})
HELP_WORDS = frozenset({"HELP", "INFO"})

_WORDS = (
    {word: ComplianceKeyword.OPT_OUT for word in OPT_OUT_WORDS}
    | {word: ComplianceKeyword.OPT_IN for word in OPT_IN_WORDS}
    | {word: ComplianceKeyword.HELP for word in HELP_WORDS}
)
_TELEGRAM_COMMANDS = {
    "stop": ComplianceKeyword.OPT_OUT,
    "start": ComplianceKeyword.OPT_IN,
    "help": ComplianceKeyword.HELP,
}
_COMMAND = re.compile(r"^/([a-z]+)(?:@\w+)?(?:\s.*)?$", re.IGNORECASE | re.DOTALL)


def compliance_keyword(channel: ChannelName, text: str | None) -> ComplianceKeyword | None:
    """The keyword this whole message is, or None when it is anything else."""
    if not text:
        return None
    stripped = text.strip()
    if channel is ChannelName.TELEGRAM and (match := _COMMAND.match(stripped)):
        return _TELEGRAM_COMMANDS.get(match.group(1).lower())
    return _WORDS.get(stripped.rstrip(".!").upper())
