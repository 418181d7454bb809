"""Canonical forms of identities, so that one person's many spellings meet in one profile."""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers

from profile_store.models import IdentityKind

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# Meta's business-scoped user id (BSUID): the user's ISO 3166 alpha-2 country code, a period
# and up to 128 letters and digits (US.13491208655302741918); a parent BSUID, shared by linked
# business portfolios, has ENT between them (US.ENT.11815799212886844830). Source:
# developers.facebook.com/documentation/business-messaging/whatsapp/business-scoped-user-ids
_WHATSAPP_ID = re.compile(r"[A-Z]{2}\.(?:ENT\.)?[A-Za-z0-9]{1,128}")


@lru_cache(maxsize=65536)
def normalize_phone(raw: str, default_region: str = "US") -> str:
    """E.164, so that SMS and WhatsApp from one number are one customer."""
    text = raw.strip()
    for prefix in ("whatsapp:", "tel:", "sms:"):
        if text.lower().startswith(prefix):
            text = text[len(prefix) :]
    try:
        number = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"not a phone number: {raw!r}") from exc
    # "possible" rather than "valid": fictional 555 numbers and new ranges must still resolve.
    if not phonenumbers.is_possible_number(number):
        raise ValueError(f"not a possible phone number: {raw!r}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_email(raw: str) -> str:
    text = raw.strip().lower()
    if not _EMAIL.match(text) or len(text) > 320:
        raise ValueError(f"not an email address: {raw!r}")
    return text


def normalize_telegram_id(raw: str | int) -> str:
    text = str(raw).strip()
    if not text.lstrip("-").isdigit():
        raise ValueError(f"a Telegram id is a number, got {raw!r}")
    return str(int(text))


def normalize_whatsapp_id(raw: str) -> str:
    """The id as WhatsApp sent it: Meta asks that it be stored and sent back unchanged, so
    only a Twilio-style ``whatsapp:`` prefix and surrounding spaces are dropped."""
    text = raw.strip()
    if text.lower().startswith("whatsapp:"):
        text = text[len("whatsapp:") :]
    if not _WHATSAPP_ID.fullmatch(text):
        raise ValueError(
            f"not a WhatsApp business-scoped user id (like US.13491208655302741918): {raw!r}"
        )
    return text


def normalize_opaque(raw: str) -> str:
    text = raw.strip()
    if not text or len(text) > 200:
        raise ValueError("must be 1 to 200 characters")
    return text


def normalize_identity(kind: IdentityKind, raw: str | int, default_region: str = "US") -> str:
    if kind is IdentityKind.PHONE:
        return normalize_phone(str(raw), default_region)
    if kind is IdentityKind.EMAIL:
        return normalize_email(str(raw))
    if kind is IdentityKind.TELEGRAM_ID:
        return normalize_telegram_id(raw)
    if kind is IdentityKind.WHATSAPP_ID:
        return normalize_whatsapp_id(str(raw))
    return normalize_opaque(str(raw))
