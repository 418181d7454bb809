"""The product catalog: batch upsert, delete, read, and the search the agent uses."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from pydantic import ValidationError

from app.catalog_watches import wake_watches
from app.deps import ContainerDep, WriteKey
from profile_store.refs import parse_customer_ref
from tools.catalog.importer import describe, validate_products
from tools.catalog.purchases import purchased_product_ids
from tools.catalog.schema import Product
from tools.catalog.search import ProductHit, SearchQuery, UnknownProductError, search
from tools.catalog.store import UpsertSummary

router = APIRouter(prefix="/v1/catalog", tags=["catalog"], dependencies=[WriteKey])
MAX_PRODUCTS = 1000


@router.post(
    "/products",
    summary="Create or update up to 1,000 products by id",
    response_model=UpsertSummary,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "products": {
                                "type": "array",
                                "items": {"$ref": "#/components/schemas/Product"},
                            }
                        },
                    }
                }
            },
        }
    },
    responses={422: {"description": "Each bad product by index and reason; nothing stored"}},
)
async def upsert_products(request: Request, container: ContainerDep) -> Any:
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "body is not valid JSON") from None
    items = body.get("products") if isinstance(body, dict) else body
    if not isinstance(items, list) or not items:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            'body must be {"products": [product, ...]} with at least one product',
        )
    if len(items) > MAX_PRODUCTS:
        raise HTTPException(
            status.HTTP_413_CONTENT_TOO_LARGE, f"{len(items)} products; the limit is 1,000"
        )
    parsed = validate_products(items, first_row=0)
    if parsed.rejected:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            {
                "detail": f"{len(parsed.rejected)} invalid product(s); nothing was stored",
                "errors": [
                    {"index": r.row, "id": r.product_id, "reason": r.reason}
                    for r in parsed.rejected
                ],
            },
        )
    catalog = await container.catalog()
    summary = await catalog.upsert(parsed.products)
    await wake_watches(container.sessions, parsed.products)
    return summary


@router.get("/products/{product_id}", response_model=Product, summary="One product")
async def get_product(product_id: str, container: ContainerDep) -> Any:
    product = await (await container.catalog()).get(product_id)
    if product is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no product {product_id!r}")
    return product


@router.delete(
    "/products/{product_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Remove a product"
)
async def delete_product(product_id: str, container: ContainerDep) -> Response:
    if not await (await container.catalog()).delete(product_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no product {product_id!r}")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/search",
    response_model=list[ProductHit],
    summary="Semantic search with exact filters",
    description="`q` is the shopper's words (or a SKU or exact name, which come first). "
    "`customer` (any profile reference) leaves out what that customer already bought.",
)
async def search_catalog(
    request: Request,
    container: ContainerDep,
    q: str = "",
    min_price: float | None = None,
    max_price: float | None = None,
    category: str | None = None,
    brand: str | None = None,
    in_stock: bool = False,
    size: str | None = None,
    colour: str | None = None,
    similar_to: str | None = None,
    customer: str | None = None,
    exclude: Annotated[list[str] | None, Query(description="Product ids to leave out")] = None,
    limit: int = 5,
) -> Any:
    known = {"q", "customer", "exclude", *SearchQuery.model_fields} - {"text", "exclude_ids"}
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"unknown filter(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}",
        )
    excluded = list(exclude or [])
    if customer:
        try:
            ref = parse_customer_ref(
                customer, default_region=container.settings.default_phone_region
            )
        except ValueError as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
        async with container.readers() as session:
            excluded += await purchased_product_ids(session, ref)
    try:
        query = SearchQuery(
            text=q,
            min_price=min_price,
            max_price=max_price,
            category=category,
            brand=brand,
            in_stock=in_stock,
            size=size,
            colour=colour,
            similar_to=similar_to,
            exclude_ids=excluded,
            limit=limit,
        )
    except ValidationError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, describe(exc)) from None
    try:
        return await search(await container.catalog(), query)
    except UnknownProductError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
