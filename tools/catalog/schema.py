"""The product schema: what a shop sends, what search filters on, what shoppers see on cards."""

from __future__ import annotations

import hashlib
import html
import re

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, field_validator, model_validator

_ID = r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$"


class Variant(BaseModel):
    """One buyable version of a product; stock is per variant."""

    model_config = ConfigDict(extra="forbid")

    sku: str = Field(min_length=1, max_length=64)
    size: str | None = Field(default=None, max_length=32)
    colour: str | None = Field(default=None, max_length=32)
    price: float | None = Field(default=None, ge=0, description="Overrides the product price")
    stock: int = Field(default=0, ge=0)


class Product(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=_ID, description="Your product id; imports upsert by it")
    name: str = Field(min_length=1, max_length=300)
    description: str = Field(default="", max_length=5000)
    category: list[str] = Field(
        default_factory=list,
        description='Category path, broad to narrow: ["Shoes", "Running"] ("Shoes > Running" '
        "in CSV)",
    )
    brand: str | None = Field(default=None, max_length=100)
    price: float = Field(ge=0)
    currency: str = Field(pattern=r"^[A-Z]{3}$", description="ISO 4217, e.g. USD")
    compare_at_price: float | None = Field(default=None, ge=0, description="Price before sale")
    url: HttpUrl | None = None
    image_url: HttpUrl | None = None
    tags: list[str] = Field(default_factory=list)
    variants: list[Variant] = Field(default_factory=list)
    stock: int | None = Field(
        default=None, ge=0, description="For products without variants; else ignored"
    )

    @field_validator("name", "description", "brand", mode="before")
    @classmethod
    def _decoded(cls, value: object) -> object:
        return decode_entities(value) if isinstance(value, str) else value

    @field_validator("category", "tags")
    @classmethod
    def _clean_list(cls, values: list[str]) -> list[str]:
        decoded = (decode_entities(value).strip() for value in values)
        return [value for value in decoded if value]

    @field_validator("currency", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _unique_skus(self) -> Product:
        skus = [variant.sku.lower() for variant in self.variants]
        if len(skus) != len(set(skus)):
            raise ValueError("variant SKUs must be unique within a product")
        return self

    @property
    def in_stock(self) -> bool:
        if self.variants:
            return any(variant.stock > 0 for variant in self.variants)
        return (self.stock or 0) > 0

    def embedding_text(self) -> str:
        """What the vector is made of: meaning, not stock or price, so those update cheaply."""
        parts = [self.name]
        if self.brand:
            parts.append(f"by {self.brand}")
        if self.category:
            parts.append(" / ".join(self.category))
        if self.tags:
            parts.append(", ".join(self.tags))
        colours = sorted({v.colour for v in self.variants if v.colour})
        if colours:
            parts.append("colours: " + ", ".join(colours))
        if self.description:
            parts.append(self.description)
        return ". ".join(parts)

    def embedding_hash(self) -> str:
        return hashlib.sha256(self.embedding_text().encode()).hexdigest()[:32]


def decode_entities(text: str) -> str:
    """Shops export HTML-escaped text ("Black &amp; Brown Slipper", sometimes twice): stored
    decoded, so each channel escapes it exactly once for its own format."""
    for _ in range(3):
        decoded = html.unescape(text)
        if decoded == text:
            break
        text = decoded
    return text


def normalise(value: str) -> str:
    """Case and spacing insensitive form used for exact filters (brand, size, colour, SKU)."""
    return re.sub(r"\s+", " ", value.strip().lower())
