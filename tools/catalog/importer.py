"""Reading a catalog file (CSV or JSON) into products, with a reason for every rejected row.

JSON: ``{"products": [product, ...]}`` or a bare list, each object in the product schema.
CSV: one row per variant; rows sharing an ``id`` are one product whose fields come from its
first row. Columns: id, name, description, category ("Shoes > Running"), brand, price,
currency, compare_at_price, url, image_url, tags ("a|b"), stock, variant_sku, variant_size,
variant_colour, variant_price, variant_stock. Only id, name, price and currency are required.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from tools.catalog.schema import Product

PRODUCT_COLUMNS = (
    "id",
    "name",
    "description",
    "category",
    "brand",
    "price",
    "currency",
    "compare_at_price",
    "url",
    "image_url",
    "tags",
    "stock",
)
VARIANT_COLUMNS = (
    "variant_sku",
    "variant_size",
    "variant_colour",
    "variant_price",
    "variant_stock",
)


class RejectedRow(BaseModel):
    row: int
    product_id: str | None
    reason: str


class ParsedCatalog(BaseModel):
    products: list[Product]
    rejected: list[RejectedRow]


class CatalogFileError(ValueError):
    """The file as a whole cannot be read (missing, not CSV/JSON, no header)."""


def describe(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'product'}: {e['msg']}" for e in error.errors()
    )


def read_catalog(path: Path) -> ParsedCatalog:
    if not path.is_file():
        raise CatalogFileError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".json":
        return _read_json(path)
    if suffix == ".csv":
        return _read_csv(path)
    raise CatalogFileError(f"{path}: expected a .csv or .json file")


def validate_products(items: list[Any], first_row: int = 1) -> ParsedCatalog:
    products, rejected = [], []
    for offset, item in enumerate(items):
        product_id = item.get("id") if isinstance(item, dict) else None
        try:
            products.append(Product.model_validate(item))
        except ValidationError as exc:
            rejected.append(
                RejectedRow(
                    row=first_row + offset,
                    product_id=str(product_id) if product_id else None,
                    reason=describe(exc),
                )
            )
    return ParsedCatalog(products=products, rejected=rejected)


def _read_json(path: Path) -> ParsedCatalog:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CatalogFileError(f"{path}: not valid JSON ({exc})") from None
    items = raw.get("products") if isinstance(raw, dict) else raw
    if not isinstance(items, list):
        raise CatalogFileError(f'{path}: expected {{"products": [...]}} or a list of products')
    return validate_products(items)


def _blank_to_none(row: dict[str, str | None]) -> dict[str, str]:
    return {key: value.strip() for key, value in row.items() if key and value and value.strip()}


def _read_csv(path: Path) -> ParsedCatalog:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise CatalogFileError(f"{path}: not UTF-8 text") from None
    reader = csv.DictReader(text.splitlines())
    if not reader.fieldnames or "id" not in reader.fieldnames:
        raise CatalogFileError(f"{path}: the first line must be a header with an 'id' column")
    unknown = set(reader.fieldnames) - set(PRODUCT_COLUMNS) - set(VARIANT_COLUMNS)
    if unknown:
        raise CatalogFileError(f"{path}: unknown column(s) {', '.join(sorted(unknown))}")
    groups: dict[str, tuple[int, dict[str, Any]]] = {}
    rejected: list[RejectedRow] = []
    for line, row in enumerate(reader, start=2):
        cells = _blank_to_none(row)
        product_id = cells.get("id")
        if not product_id:
            rejected.append(RejectedRow(row=line, product_id=None, reason="id: missing"))
            continue
        if product_id not in groups:
            product: dict[str, Any] = {k: v for k, v in cells.items() if k in PRODUCT_COLUMNS}
            if "category" in product:
                product["category"] = [part.strip() for part in product["category"].split(">")]
            if "tags" in product:
                product["tags"] = [tag.strip() for tag in product["tags"].split("|")]
            product["variants"] = []
            groups[product_id] = (line, product)
        if "variant_sku" in cells:
            groups[product_id][1]["variants"].append(
                {
                    key.removeprefix("variant_"): value
                    for key, value in cells.items()
                    if key in VARIANT_COLUMNS
                }
            )
    parsed = ParsedCatalog(products=[], rejected=rejected)
    for line, item in groups.values():
        result = validate_products([item], first_row=line)
        parsed.products += result.products
        parsed.rejected += result.rejected
    parsed.rejected.sort(key=lambda r: r.row)
    return parsed
