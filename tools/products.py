"""Product look-up tools: one product by id, and a side-by-side comparison of two to four products."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, ValidationError

from tools.core.types import Product

COMPARED_FIELDS = ("id", "title", "brand", "price", "currency", "color", "category", "attributes")


class GetProductInput(BaseModel):
    """Arguments of the get_product tool."""

    product_id: str = Field(min_length=1, max_length=200, description="the product's id, as search results give it")


class CompareProductsInput(BaseModel):
    """Arguments of the compare_products tool."""

    product_ids: list[str] = Field(min_length=2, max_length=4, description="2 to 4 product ids to compare")


def comparison(products: list[Product]) -> dict[str, Any]:
    """Side by side: each product's main fields, which fields differ, and the cheapest when prices share a currency."""
    rows = [{f: getattr(p, f) for f in COMPARED_FIELDS} for p in products]
    differ = [f for f in COMPARED_FIELDS if f != "id" and len({repr(r[f]) for r in rows}) > 1]
    priced = [p for p in products if p.price is not None]
    same_currency = len({(p.currency or "").upper() for p in priced}) == 1
    comparable = len(priced) == len(products) and same_currency
    cheapest = min(priced, key=lambda p: p.price or 0.0).id if comparable else None  # every price is set here
    return {"products": rows, "fields_that_differ": differ, "cheapest": cheapest}


def _validation_message(exc: ValidationError) -> str:
    parts = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
    return "invalid arguments: " + "; ".join(parts)


def make_product_tools(store) -> list:
    """The get_product and compare_products LangChain tools bound to a catalog store."""
    from langchain_core.tools import StructuredTool, ToolException

    def get_product(product_id: str) -> dict:
        found = store.products_by_id([product_id])
        if not found:
            raise ToolException(f"no product with id {product_id!r}; use an id from search results")
        return found[0].model_dump(exclude_none=True)

    def compare_products(product_ids: list[str]) -> dict:
        ids = list(dict.fromkeys(i.strip() for i in product_ids))
        found = {p.id: p for p in store.products_by_id(ids)}
        missing = [i for i in ids if i not in found]
        if missing:
            raise ToolException(f"unknown product id(s): {', '.join(missing)}; found: "
                                f"{', '.join(found) or 'none'}. Use ids from search results")
        if len(ids) < 2:
            raise ToolException("give at least two different product ids to compare")
        return comparison([found[i] for i in ids])

    common: dict[str, Any] = {"handle_tool_error": True, "handle_validation_error": _validation_message}
    return [
        StructuredTool.from_function(
            func=get_product, name="get_product", args_schema=GetProductInput, **common,
            description="Get one product's full record (title, brand, category, price, colour, attributes) by id."),
        StructuredTool.from_function(
            func=compare_products, name="compare_products", args_schema=CompareProductsInput, **common,
            description="Compare 2-4 products side by side by id: brand, price, currency, colour, category and "
                        "attributes, which of them differ, and the cheapest."),
    ]
