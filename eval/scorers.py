"""Scorers for eval cases: small typed functions over a system output and its expectation. All are pure except
`semantic_match` (uses the given embedder) and `llm_judge` (asks the given chat model)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, Field

from eval.metrics import mrr_at, ndcg_at, percentile, recall_at


class SemanticScore(BaseModel):
    """Cosine similarity of two texts' embeddings and whether it reaches the threshold."""

    similarity: float
    threshold: float
    passed: bool


class SlotScore(BaseModel):
    """Slot precision/recall/F1 of one predicted slot dict against the expected one."""

    precision: float
    recall: float
    f1: float
    true_positives: int
    false_positives: int
    false_negatives: int


class RetrievalScore(BaseModel):
    """Ranking metrics of one query."""

    k: int
    recall: float
    ndcg: float
    mrr: float


class CheckResult(BaseModel):
    """A pass/fail check with the reasons it failed."""

    passed: bool
    problems: list[str] = Field(default_factory=list)


class JudgeVerdict(BaseModel):
    """An LLM judge's score of one reply (1 = useless or harmful, 5 = excellent) and its reason."""

    score: int = Field(ge=1, le=5)
    reason: str = Field(max_length=400)


def normalize_text(text: str) -> str:
    """Whitespace squeezed, case folded."""
    return " ".join(str(text).split()).casefold()


def exact_match(predicted: Any, expected: Any, normalize: bool = True) -> bool:
    """Equality; strings compared after `normalize_text` unless `normalize=False`."""
    if normalize and isinstance(predicted, str) and isinstance(expected, str):
        return normalize_text(predicted) == normalize_text(expected)
    return predicted == expected


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    """Cosine similarity (0.0 when either vector is zero)."""
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    na, nb = math.sqrt(sum(x * x for x in a)), math.sqrt(sum(y * y for y in b))
    return dot / (na * nb) if na and nb else 0.0


def semantic_match(embedder: Any, predicted: str, expected: str, threshold: float = 0.85) -> SemanticScore:
    """Whether two texts mean the same, by the cosine of the app embedder's query embeddings."""
    vectors = embedder.embed_queries([predicted, expected])
    sim = round(float(cosine(list(map(float, vectors[0])), list(map(float, vectors[1])))), 4)
    return SemanticScore(similarity=sim, threshold=threshold, passed=sim >= threshold)


def _same_value(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return normalize_text(a) == normalize_text(b)
    if isinstance(a, int | float) and isinstance(b, int | float):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(a, list | tuple | set) and isinstance(b, list | tuple | set):
        return {normalize_text(x) if isinstance(x, str) else x for x in a} == \
            {normalize_text(x) if isinstance(x, str) else x for x in b}
    return a == b


def slot_f1(predicted: Mapping[str, Any], expected: Mapping[str, Any]) -> SlotScore:
    """Slot F1: a non-empty predicted slot is right when it equals the expected value; a wrong value counts as a
    false positive and a false negative. Empty values (None, "", []) are absent slots."""
    def present(d: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in d.items() if v not in (None, "", [], {})}

    pred, gold = present(predicted), present(expected)
    tp = sum(1 for k, v in pred.items() if k in gold and _same_value(v, gold[k]))
    fp, fn = len(pred) - tp, len(gold) - tp
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * p * r / (p + r) if p + r else (1.0 if not pred and not gold else 0.0)
    if not pred and not gold:
        p = r = 1.0
    return SlotScore(precision=round(p, 4), recall=round(r, 4), f1=round(f1, 4), true_positives=tp,
                     false_positives=fp, false_negatives=fn)


def retrieval_scores(ranked: Sequence[str], relevant: Mapping[str, float], k: int = 10) -> RetrievalScore:
    """recall@k, nDCG@k and MRR@k of one ranking against graded judgements."""
    return RetrievalScore(k=k, recall=round(recall_at(ranked, relevant, k), 4),
                          ndcg=round(ndcg_at(ranked, relevant, k), 4), mrr=round(mrr_at(ranked, relevant, k), 4))


def _argument_problem(name: str, value: Any, rule: Any) -> str | None:
    """One argument against one constraint: a plain value (equal), or {min, max, one_of, contains, absent}."""
    if not isinstance(rule, dict):
        return None if _same_value(value, rule) else f"{name}={value!r}, expected {rule!r}"
    if rule.get("absent"):
        return None if value is None else f"{name} should be absent, got {value!r}"
    if value is None:
        return f"{name} missing"
    if "one_of" in rule and not any(_same_value(value, v) for v in rule["one_of"]):
        return f"{name}={value!r} not one of {rule['one_of']!r}"
    if "contains" in rule and normalize_text(rule["contains"]) not in normalize_text(str(value)):
        return f"{name}={value!r} lacks {rule['contains']!r}"
    for bound, bad in (("min", lambda v, b: v < b), ("max", lambda v, b: v > b)):
        if bound in rule:
            if not isinstance(value, int | float):
                return f"{name}={value!r} is not a number"
            if bad(value, rule[bound]):
                return f"{name}={value!r} {'<' if bound == 'min' else '>'} {rule[bound]!r}"
    return None


def tool_call_check(calls: Sequence[Mapping[str, Any]], name: str,
                    arguments: Mapping[str, Any] | None = None) -> CheckResult:
    """Whether some call of tool `name` meets every argument constraint (calls are {"name", "args"} dicts)."""
    named = [c for c in calls if c.get("name") == name]
    if not named:
        return CheckResult(passed=False, problems=[f"{name} not called (called {[c.get('name') for c in calls]})"])
    best: list[str] = []
    for call in named:
        args = call.get("args") or {}
        problems = [p for key, rule in (arguments or {}).items() if (p := _argument_problem(key, args.get(key), rule))]
        if not problems:
            return CheckResult(passed=True)
        best = problems if not best or len(problems) < len(best) else best
    return CheckResult(passed=False, problems=best)


def product_constraints_check(products: Sequence[Any], constraints: Mapping[str, Any]) -> CheckResult:
    """Every product (with id, title, brand, category, price, color) meets the agent suite's constraints."""
    from eval.suites.agent import ProductConstraints, product_problem

    rule = ProductConstraints.model_validate(dict(constraints))
    problems = [p for p in (product_problem(c, rule) for c in products) if p]
    return CheckResult(passed=not problems, problems=problems)


def json_schema_valid(value: Any, schema: Mapping[str, Any]) -> CheckResult:
    """Whether `value` (a JSON text or an already parsed value) is valid under a JSON schema (jsonschema)."""
    import jsonschema

    if isinstance(value, str | bytes):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            return CheckResult(passed=False, problems=[f"not JSON: {exc.msg} at {exc.pos}"])
    validator = jsonschema.Draft202012Validator(dict(schema))
    errors = sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
    problems = [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"[:200] for e in errors]
    return CheckResult(passed=not problems, problems=problems[:5])


def latency_percentiles(values_ms: Sequence[float], quantiles: Sequence[int] = (50, 90, 95, 99)) -> dict[str, Any]:
    """{"p50_ms": …, …, "n": count} of latencies in ms (None values skipped; None percentiles when empty)."""
    values = [float(v) for v in values_ms if v is not None]
    out: dict[str, Any] = {f"p{q}_ms": round(percentile(values, q), 1) if values else None for q in quantiles}
    out["n"] = len(values)
    return out


def llm_judge(chat_model: Any, prompts: Any, question: str, reply: str, lang: str = "en",
              products: Sequence[str] = (), max_tokens: int = 200) -> JudgeVerdict:
    """Ask a chat model to grade a reply with the rubric in prompts/judge.yaml; JSON-schema constrained output.
    The judged texts go inside data tags and are never followed as instructions."""
    from assistant.llm_base import generate_json

    lang = "zh" if lang == "zh" else "en"
    messages = [("system", prompts.render("judge", "system", lang)),
                ("user", prompts.render("judge", "user", lang, question=question, reply=reply,
                                        products=list(products)))]
    return JudgeVerdict.model_validate(generate_json(chat_model, messages, JudgeVerdict, retries=1,
                                                     max_tokens=max_tokens))
