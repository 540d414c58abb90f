"""Grounding of model-written search calls: a colour, brand or price the conversation never mentioned is dropped,
and every constraint the dialogue rules read from the message wins over the model's."""

from __future__ import annotations

import re
from typing import Any

from assistant.agent_types import Turn
from assistant.dialogue import SearchState
from tools.catalog_search import SearchCatalogInput


def _mentioned(value: str, haystack: str) -> bool:
    return value.strip().lower() in haystack


def ground(args: SearchCatalogInput, turn: Turn, current: SearchState) -> tuple[SearchState, dict[str, Any]]:
    """Keep the model's filter values that the conversation supports; return the search and what was dropped.
    A colour, brand or price counts as supported when the shopper's words or the current search contain it."""
    said = " ".join([turn.message, *(t["content"] for t in turn.state.turns if t["role"] == "user")]).lower()
    known = current.filters
    dropped: dict[str, Any] = {}
    brands = [b for b in args.brands if b in known.brands or _mentioned(b, said)]
    if len(brands) != len(args.brands):
        dropped["brands"] = [b for b in args.brands if b not in brands]
    numbers = {float(n) for n in re.findall(r"\d+(?:\.\d+)?", said)}
    prices: dict[str, float | None] = {}
    for key in ("price_min", "price_max"):
        value = getattr(args, key)
        ok = value is None or value == getattr(known, key) or value in numbers
        # a bound the model leaves out is kept: the conversation set it and the model only restates the search
        prices[key] = value if ok and value is not None else getattr(known, key)
        if not ok:
            dropped[key] = value
    colors = _grounded_colors(args.colors, known.colors, said, dropped)
    filters = known.model_copy(update={"colors": colors or known.colors, "brands": brands or known.brands,
                                       **prices})
    text = args.query.strip() or current.text
    boost = args.categories or current.boost_categories
    return SearchState(text=text, filters=filters, boost_categories=boost, exclude_ids=current.exclude_ids,
                       kind=current.kind, size=current.size, screen_in=current.screen_in,
                       comparatives=current.comparatives), dropped


def _grounded_colors(values: list[str], known: list[str], said: str, dropped: dict[str, Any]) -> list[str]:
    """The colours the conversation supports (lowercased); the others are added to `dropped`."""
    from tools.colors import colors_in

    mentioned = colors_in(said)
    out = []
    for color in values:
        c = color.lower()
        if c in known or c in mentioned or c in said:
            out.append(c)
        else:
            dropped.setdefault("colors", []).append(color)
    return out


def merge(model: SearchState, rules: SearchState | None) -> SearchState:
    """The model's grounded search, with every constraint the rules read from the message winning over it."""
    if rules is None:
        return model
    update = {k: v for k, v in rules.filters.model_dump().items() if v not in (None, [])}
    filters = model.filters.model_copy(update=update)
    return SearchState(text=model.text or rules.text, filters=filters,
                       boost_categories=rules.boost_categories or model.boost_categories,
                       exclude_ids=sorted({*model.exclude_ids, *rules.exclude_ids}),
                       kind=rules.kind or model.kind, size=rules.size or model.size,
                       screen_in=rules.screen_in or model.screen_in,
                       comparatives=rules.comparatives or model.comparatives)
