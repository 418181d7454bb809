"""What marketers write for automated messages: variants per program, the brand, SMS footers.

Part of the guardrails document (versioned, validated, audited, restorable), so copy changes
take the same road as every other rule. Each variant's text is a template checked on save
(:mod:`policy.templates`); a program with several variants learns which one works
(:mod:`policy.variants`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from policy.templates import check_template

LOCALE = r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MessageVariant(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$", description="e.g. a, b, friendly")
    text: str = Field(
        min_length=1,
        max_length=1000,
        description="A template: {{ first_name }}, {{ products }}, {{ product.name }}, "
        "{{ cart_total }}, {{ discount_code }}, {{ shop_name }}, {{ size }}, {{ note }}",
    )
    locale: str | None = Field(
        default=None, pattern=LOCALE, description="Only for shoppers of this locale (en, de-CH)"
    )

    @field_validator("text")
    @classmethod
    def _renders(cls, text: str) -> str:
        return check_template(text)


class Brand(_Strict):
    name: str = Field(default="Our shop", min_length=1, max_length=60)
    default_locale: str = Field(default="en", pattern=LOCALE)


class MarketingFooters(_Strict):
    """The opt-out line carriers require on marketing SMS, per locale."""

    sms: dict[str, str] = Field(
        default_factory=lambda: {"en": "Reply STOP to opt out."},
        description="locale → line; the default locale's line is used when none matches",
    )

    @field_validator("sms")
    @classmethod
    def _short(cls, lines: dict[str, str]) -> dict[str, str]:
        for locale, line in lines.items():
            if not 1 <= len(line) <= 80:
                raise ValueError(f"the {locale} line must be 1 to 80 characters")
        return lines


CopyMode = Literal["template", "generated"]
