"""Typed records that callers consume: products, search filters and hits, the fast-path analysis."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

AttrValue = str | int | float | bool


class Product(BaseModel):
    """One catalog item. `id` and `title` are required; everything else is optional."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    id: str = Field(min_length=1, max_length=200)
    title: str = Field(min_length=1, max_length=2000)
    brand: str | None = None
    category: str | None = None
    price: float | None = Field(default=None, ge=0)
    currency: str | None = None
    color: str | None = None
    description: str | None = None
    attributes: dict[str, AttrValue] = Field(default_factory=dict)

    @field_validator("brand", "category", "currency", "color", "description", mode="before")
    @classmethod
    def _blank_to_none(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    def embedding_text(self) -> str:
        """Text embedded for dense retrieval: the short fields only (long descriptions slow indexing down)."""
        parts = [self.title[:300], self.brand, self.category, self.color]
        return " ".join(p for p in parts if p)

    def search_text(self) -> str:
        """Text indexed for retrieval: title, brand, category, colour and a short description."""
        parts = [self.title, self.brand, self.category, self.color]
        if self.description:
            parts.append(self.description[:300])
        return " ".join(p for p in parts if p)


class SearchFilters(BaseModel):
    """Constraints applied to catalog search. All are optional; strings match case-insensitively."""

    price_min: float | None = Field(default=None, ge=0)
    price_max: float | None = Field(default=None, ge=0)
    brands: list[str] = Field(default_factory=list)
    categories: list[str] = Field(default_factory=list)
    colors: list[str] = Field(default_factory=list)
    exclude_brands: list[str] = Field(default_factory=list)
    exclude_colors: list[str] = Field(default_factory=list)
    currency: str | None = Field(default=None, description="price bounds are in this currency (CNY, USD…)")

    def is_empty(self) -> bool:
        """True when no constraint is set."""
        return not any(v for k, v in self.model_dump().items() if k != "currency" and v not in (None, []))


class SearchHit(BaseModel):
    """A product returned by search with its fused score and the ranks that produced it."""

    product: Product
    score: float
    bm25_rank: int | None = None
    dense_rank: int | None = None
    kind: str | None = Field(default=None, description="the kind of product, as read at ingest")
    features: dict[str, float] | None = Field(default=None, exclude=True,
                                              description="the ranking features (not serialised)")


class StageTiming(BaseModel):
    """Wall time of one fast-path stage in milliseconds."""

    stage: str
    ms: float


class Rewrite(BaseModel):
    """A rewrite of a query and how retrieval judged it: relevance (do its results stay on the original's intent,
    0-1), increment (share of its top results that are new and on intent), hits (products it matches by words)."""

    text: str
    source: Literal["lexicon", "querylog", "llm"]
    relevance: float = 0.0
    increment: float = 0.0
    hits: int = 0
    score: float = 0.0
    accepted: bool = False
    reason: str = ""


class QueryAnalysis(BaseModel):
    """The fast path's result. Later stages (correction, attributes, intent, expansion) add fields here."""

    query: str
    normalized_query: str
    corrected_query: str | None = Field(default=None, description="the query searched, when spelling changed it")
    correction: dict[str, Any] | None = Field(default=None, description="the spell corrector's edits and confidence")
    intent: dict[str, Any] | None = Field(default=None, description="predicted intent, probability, top3")
    filters: SearchFilters = Field(default_factory=SearchFilters)
    attributes: dict[str, Any] | None = Field(default=None, description="slots parsed from the query")
    product_kind: str | None = Field(default=None, description="the kind of product the query names")
    relaxed: list[str] = Field(default_factory=list, description="filters dropped because nothing matched")
    products: list[SearchHit] = Field(default_factory=list)
    expansions: list[Rewrite] = Field(default_factory=list, description="verified rewrites searched with the query")
    timings: list[StageTiming] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)

    @property
    def total_ms(self) -> float:
        """Sum of the stage timings."""
        return sum(t.ms for t in self.timings)
