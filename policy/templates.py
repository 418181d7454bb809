"""The marketer's message copy: Jinja2 templates, rendered in a sandbox with a fixed context.

Copy is written by people who are not developers and saved through the admin API, so it runs in
Jinja2's ``SandboxedEnvironment`` (no attribute access beyond plain data, no imports), and every
template is checked when the guardrails document is validated: an unknown placeholder, a typo in
a product field or a template that fails to render is refused then, with its path, never found
out at send time. Text is plain (no autoescape): each channel escapes it for itself.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, meta
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel, Field


class TemplateProduct(BaseModel):
    """One product as copy may name it."""

    name: str
    variant: str | None = None
    price: float | None = None
    was_price: float | None = None
    currency: str | None = None
    url: str | None = None
    quantity: int = 1


class TemplateContext(BaseModel):
    """Everything a template may use; anything else is an unknown placeholder."""

    first_name: str | None = None
    shop_name: str = ""
    products: list[TemplateProduct] = Field(default_factory=list)
    product: TemplateProduct | None = Field(default=None, description="the first of products")
    cart_total: str | None = Field(default=None, description='formatted, e.g. "59.00 USD"')
    discount_code: str | None = None
    discount_percent: float | None = None
    size: str | None = None
    note: str = Field(default="", description="the shopper's own words for a follow-up")


PLACEHOLDERS = frozenset(TemplateContext.model_fields)
SAMPLE = TemplateContext(
    first_name="Ada",
    shop_name="Example Shop",
    products=[
        TemplateProduct(
            name="Kestrel Storm Running Shoes",
            variant="42 / black",
            price=59.0,
            was_price=79.0,
            currency="USD",
            url="https://shop.example/p/1",
        ),
        TemplateProduct(name="Trail Sock", price=12.0, currency="USD"),
    ],
    cart_total="71.00 USD",
    discount_code="CC-1A2B3C4D",
    discount_percent=10.0,
    size="42",
    note="the boots",
)
SAMPLE = SAMPLE.model_copy(update={"product": SAMPLE.products[0]})
# The least a send can carry: a shopper without a name, one product known by its name alone.
SPARSE = TemplateContext(
    shop_name="Example Shop",
    products=[TemplateProduct(name="Trail Sock")],
    product=TemplateProduct(name="Trail Sock"),
)


def money(value: float | None, currency: str | None = None) -> str:
    if value is None:
        return ""
    return f"{value:,.2f} {currency}" if currency else f"{value:,.2f}"


def _environment() -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        undefined=StrictUndefined, autoescape=False, trim_blocks=True, lstrip_blocks=True
    )
    env.filters["money"] = money
    return env


ENV = _environment()


@lru_cache(maxsize=512)
def _compiled(text: str) -> Any:
    return ENV.from_string(text)


@lru_cache(maxsize=1024)
def check_template(text: str) -> str:
    """``text`` if it is a template every send can render; ValueError saying why not.

    Cached: a text that passed once always passes (only successes are kept), and the copy is
    validated every time a variant is built, on every send."""
    try:
        parsed = ENV.parse(text)
    except TemplateSyntaxError as exc:
        raise ValueError(f"template syntax error on line {exc.lineno}: {exc.message}") from None
    unknown = sorted(meta.find_undeclared_variables(parsed) - PLACEHOLDERS)
    if unknown:
        known = ", ".join(sorted(PLACEHOLDERS))
        raise ValueError(f"unknown placeholder {unknown[0]!r}; use one of: {known}")
    for context in (SAMPLE, SPARSE):  # with everything, and with the least
        try:
            render(text, context)
        except (TemplateError, TypeError, ValueError, ArithmeticError) as exc:
            raise ValueError(f"template does not render: {exc}") from None
    return text


def render(text: str, context: TemplateContext) -> str:
    values = {name: getattr(context, name) for name in PLACEHOLDERS}
    rendered: str = _compiled(text).render(**_plain(values))
    return "\n".join(line.strip() for line in rendered.splitlines() if line.strip())


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    """Models as plain dicts: the sandbox then allows nothing but their data."""
    return {
        name: (
            value.model_dump()
            if isinstance(value, BaseModel)
            else [v.model_dump() for v in value]
            if isinstance(value, list)
            else value
        )
        for name, value in values.items()
    }
