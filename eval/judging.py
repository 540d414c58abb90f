"""The optional LLM-as-judge pass of an eval cell: every case with a reply gets a 1-5 score and a reason."""

from __future__ import annotations

import sys
from typing import Any

from eval.metrics import mean
from eval.records import CaseRecord
from eval.scorers import llm_judge
from tools.text import has_cjk


def judge_cases(chat_model: Any, prompts: Any, cases: list[CaseRecord], progress: bool = True) -> dict[str, Any]:
    """Score the replies of the cases in place (`scores["judge"]`, `output["judge_reason"]`); judge metrics."""
    scores: list[float] = []
    errors = 0
    for record in cases:
        output = record.output if isinstance(record.output, dict) else {}
        reply = output.get("reply")
        if not reply:
            continue
        question = record.input[-1] if isinstance(record.input, list) and record.input else str(record.input)
        try:
            verdict = llm_judge(chat_model, prompts, str(question), reply, "zh" if has_cjk(str(question)) else "en",
                                products=[str(p) for p in output.get("products", [])][:5])
        except Exception as exc:  # noqa: BLE001 - a judge failure loses the score, not the run
            errors += 1
            record.scores["judge"] = None
            output["judge_error"] = f"{type(exc).__name__}: {exc}"[:200]
            continue
        record.scores["judge"] = verdict.score
        output["judge_reason"] = verdict.reason
        scores.append(verdict.score)
    if progress:
        print(f"(judge: {len(scores)} replies scored, {errors} errors)", file=sys.stderr)
    return {"judge_mean": round(mean(scores), 3) if scores else None, "judge_scored": len(scores),
            "judge_errors": errors}
