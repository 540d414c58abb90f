"""Attributes suite: data lines {"query": str, "expected": {slot: value}}; per-slot precision/recall/F1, micro
slot F1, exact match of the whole slot set, and parser latency (p50/p95 ms).

A slot counts as predicted when non-empty and as correct when equal to the expected value after normalisation
(the parser's own `canonical`: brand aliases such as 耐克/Nike, colour words such as 深蓝色/blue, category
synonyms such as laptop/Notebook; numbers rounded to cents; lists compared as sets). A wrong value is both a
false positive and a false negative. Scored slots are the ones the dataset annotates: every slot named in at
least one line's `expected` (a line that omits such a slot expects it empty); `slots=` overrides this."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from eval.datasets import Dataset
from eval.metrics import percentile
from eval.records import CaseCallback, CaseRecord, SuiteResult, case_id, error_text, notify

NAME = "attributes"
SLOTS = ("category", "brand", "color", "size", "gender", "price_min", "price_max", "currency", "exclude_colors",
         "exclude_brands", "rest")
_ALIASES = {"colour": "color", "min_price": "price_min", "max_price": "price_max", "exclude_colours": "exclude_colors",
            "excluded_colors": "exclude_colors", "excluded_brands": "exclude_brands"}


class Case(BaseModel):
    """One query and the slot values it should produce (omitted slots are expected empty)."""

    model_config = ConfigDict(extra="ignore")

    query: str = Field(min_length=1)
    expected: dict[str, Any]
    lang: str | None = None

    @field_validator("expected", mode="before")
    @classmethod
    def _known_slots(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        out: dict[str, Any] = {}
        for key, item in value.items():
            key = _ALIASES.get(key, key)
            if key == "price_range" and isinstance(item, list | tuple) and len(item) == 2:
                out["price_min"], out["price_max"] = item
                continue
            if key not in SLOTS:
                raise ValueError(f"unknown slot '{key}' (known: {', '.join(SLOTS)})")
            out[key] = [item] if key.startswith("exclude_") and isinstance(item, str) else item
        return out


def _plain(slot: str, value: Any) -> Any:
    """Normalisation used when the parser offers no `canonical`."""
    if value in (None, "", []):
        return None
    if isinstance(value, list | tuple | set):
        return frozenset(_plain(slot, v) for v in value)
    if slot in ("price_min", "price_max"):
        return round(float(value), 2)
    return " ".join(str(value).lower().split())


def _normaliser(parser: Any):
    canonical = getattr(parser, "canonical", None)

    def norm(slot: str, value: Any) -> Any:
        if slot == "rest":
            return _plain(slot, value)
        try:
            return canonical(slot, value) if canonical else _plain(slot, value)
        except (TypeError, ValueError):
            return _plain(slot, value)
    return norm


def _scored_slots(dataset: Dataset[Case], slots: Any) -> list[str]:
    if slots:
        wanted = slots.split(",") if isinstance(slots, str) else list(slots)
        return [s.strip() for s in wanted if s.strip() in SLOTS]
    seen = {key for case in dataset.cases for key in case.expected}
    return [s for s in SLOTS if s in seen]


def _predict(parser: Any, query: str) -> tuple[dict[str, Any], float, str | None]:
    start = time.perf_counter()
    try:
        parsed, error = parser.parse(query), None
    except Exception as exc:  # noqa: BLE001 - one bad case must not end the run
        parsed, error = None, error_text(exc)
    ms = (time.perf_counter() - start) * 1000
    if parsed is None:
        return {}, ms, error
    return (parsed.model_dump() if hasattr(parsed, "model_dump") else dict(parsed)), ms, error


def _prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


class _Tally:
    """True/false positive and negative counts per slot, overall and per language."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str, str]] = Counter()
        self.exact: Counter[str] = Counter()
        self.cases: Counter[str] = Counter()

    def add(self, lang: str, slot: str, expected: Any, predicted: Any) -> bool:
        """Count one slot of one case; True when it is right (both empty counts as right)."""
        for group in ("all", lang):
            if predicted is not None and predicted == expected:
                self.counts[(group, slot, "tp")] += 1
            else:
                self.counts[(group, slot, "fp")] += predicted is not None
                self.counts[(group, slot, "fn")] += expected is not None
        return predicted == expected

    def totals(self, group: str, slots: list[str]) -> tuple[int, int, int]:
        """Summed tp, fp, fn over slots."""
        return tuple(sum(self.counts[(group, s, k)] for s in slots) for k in ("tp", "fp", "fn"))  # type: ignore


def _metrics(tally: _Tally, slots: list[str]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for slot in slots:
        p, r, f = _prf(*tally.totals("all", [slot]))
        tp, _, fn = tally.totals("all", [slot])
        result.update({f"{slot}_precision": round(p, 4), f"{slot}_recall": round(r, 4), f"{slot}_f1": round(f, 4),
                       f"{slot}_support": tp + fn})
    for group in tally.cases:
        suffix = "" if group == "all" else f"_{group}"
        p, r, f = _prf(*tally.totals(group, slots))
        result.update({f"slot_precision{suffix}": round(p, 4), f"slot_recall{suffix}": round(r, 4),
                       f"slot_f1{suffix}": round(f, 4),
                       f"exact_match{suffix}": round(tally.exact[group] / tally.cases[group], 4)})
    supported = [s for s in slots if result[f"{s}_support"] or tally.totals("all", [s])[1]]
    result["macro_f1"] = round(sum(result[f"{s}_f1"] for s in supported) / len(supported), 4) if supported else 0.0
    return result


def slot_counts(pairs: list[tuple[Any, Any]]) -> dict[str, int]:
    """True positives, false positives and false negatives of one case's (expected, predicted) slot values."""
    tp = sum(p is not None and p == e for e, p in pairs)
    fp = sum(p is not None and p != e for e, p in pairs)
    fn = sum(e is not None and p != e for e, p in pairs)
    return {"slot_tp": tp, "slot_fp": fp, "slot_fn": fn}


def _case_record(case: Case, index: int, scored: list[str], right: list[bool], predicted: dict[str, Any],
                 ms: float, error: str | None, counts: dict[str, int]) -> CaseRecord:
    shown = {s: predicted.get(s) for s in scored if predicted.get(s) not in (None, [])}
    failures = [f"{s}: {predicted.get(s)!r} != {case.expected.get(s)!r}" for s, ok in zip(scored, right, strict=True)
                if not ok]
    return CaseRecord(id=case_id(case, index, NAME), passed=error is None and all(right), error=error,
                      scores={**dict(zip(scored, right, strict=True)), **counts}, latency_ms=round(ms, 3),
                      input=case.query,
                      expected=case.expected, output=shown, labels={"lang": case.lang} if case.lang else {},
                      failures=[] if error else failures)


def run_cases(assistant: Any, dataset: Dataset[Case], slots: Any = None, errors: int = 0,
              on_case: CaseCallback | None = None, **_: Any) -> SuiteResult:
    """Parse every query with `assistant.attribute_parser` and score the slots (see the module docstring)."""
    parser = assistant.attribute_parser
    norm = _normaliser(parser)
    scored = _scored_slots(dataset, slots)
    tally, records, wrong = _Tally(), [], []
    parser.parse("warm up 200元以内")
    for index, case in enumerate(dataset.cases):
        predicted, ms, error = _predict(parser, case.query)
        lang = case.lang or "all"
        pairs = [(norm(s, case.expected.get(s)), norm(s, predicted.get(s))) for s in scored]
        right = [tally.add(lang, s, e, p) for s, (e, p) in zip(scored, pairs, strict=True)]
        for group in {"all", lang}:
            tally.cases[group] += 1
            tally.exact[group] += all(right)
        record = notify(on_case, _case_record(case, index, scored, right, predicted, ms, error, slot_counts(pairs)))
        records.append(record)
        if not all(right) and len(wrong) < errors:
            wrong.append({"query": case.query, "expected": case.expected, "predicted": record.output})
    latencies = [r.latency_ms or 0.0 for r in records]
    result = _metrics(tally, scored)
    result.update({"queries": len(dataset.cases), "failed": sum(r.error is not None for r in records),
                   "slots": ",".join(scored),
                   "p50_ms": round(percentile(latencies, 50), 3), "p95_ms": round(percentile(latencies, 95), 3)})
    if errors:
        result["errors"] = wrong
    return SuiteResult(metrics=result, cases=records)


def run(assistant: Any, dataset: Dataset[Case], slots: Any = None, errors: int = 0, **options: Any) -> dict[str, Any]:
    """Parse every query with `assistant.attribute_parser` and score the slots (see the module docstring)."""
    return run_cases(assistant, dataset, slots=slots, errors=errors, **options).metrics
