"""The constraints of the current search as the conversation built them: each slot's value, the user turn it came
from, and whether the shopper said it or it was inferred (a price bound read from "cheaper", a weight bound from
"lighter" against what was shown)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

Origin = Literal["said", "inferred"]


class Constraint(BaseModel):
    """One constraint of the current search."""

    slot: str
    value: Any
    turn: int
    origin: Origin = "said"


def constraint_values(search: Any) -> dict[str, Any]:
    """The search's constraints as slot -> value (empty values left out)."""
    f = search.filters
    values: dict[str, Any] = {"kind": search.kind, "price_min": f.price_min, "price_max": f.price_max,
                              "colors": f.colors, "brands": f.brands, "exclude_colors": f.exclude_colors,
                              "exclude_brands": f.exclude_brands, "size": search.size, "screen_in": search.screen_in}
    for comp in search.comparatives:
        values[f"{comp.field}_{comp.direction}"] = comp.bound if comp.bound is not None else comp.words
    return {k: v for k, v in values.items() if v not in (None, [], "")}


def track(previous: list[Constraint], search: Any, turn: int, inferred: set[str]) -> list[Constraint]:
    """The constraints after a turn: unchanged ones keep their turn and origin; new or changed ones are from
    this turn, "inferred" when the rules computed them (`inferred` slots), else "said"."""
    kept = {c.slot: c for c in previous}
    out = []
    for slot, value in constraint_values(search).items():
        old = kept.get(slot)
        if old is not None and old.value == value:
            out.append(old)
        else:
            out.append(Constraint(slot=slot, value=value, turn=turn,
                                  origin="inferred" if slot in inferred else "said"))
    return out
