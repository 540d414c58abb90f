"""Understanding a query: intent, spelling, normalisation, attributes and the kind of product, in that order, as
one step with one typed result. The fast path and the conversational agent both run it; each says how a stage is
run (timed, or traced as a tool call) and, for the agent, which text the attributes are read from."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict

from tools.attributes import ParsedAttributes
from tools.intent import IntentPrediction
from tools.product_kind import KindLexicon
from tools.spelling import CorrectedQuery, Corrector
from tools.text import normalize

T = TypeVar("T")


class IntentModel(Protocol):
    """What understanding needs from an intent classifier."""

    def predict(self, text: str) -> IntentPrediction: ...


class AttributeReader(Protocol):
    """What understanding needs from an attribute parser."""

    def parse(self, query: str) -> ParsedAttributes: ...


class StageRunner(Protocol):
    """Runs one stage: its tool name, the arguments it is called with, and the call itself."""

    def __call__(self, name: str, args: dict[str, Any], fn: Callable[[], T]) -> T: ...


def run_directly(name: str, args: dict[str, Any], fn: Callable[[], T]) -> T:
    """The plain stage runner: call the stage."""
    return fn()


class Understanding(BaseModel):
    """What a query says, read once: the shape `analyze --json`, the API and the agent's trace show."""

    model_config = ConfigDict(frozen=True)

    query: str
    intent: IntentPrediction | None = None
    correction: CorrectedQuery | None = None
    corrected: str
    normalized: str
    attributes: ParsedAttributes | None = None
    kind: str | None = None

    @property
    def intent_label(self) -> str | None:
        """The predicted intent's label, or None when intent was not classified."""
        return self.intent.label if self.intent is not None else None

    def analysis_fields(self) -> dict[str, Any]:
        """The understanding as the fields of a QueryAnalysis (JSON-ready dicts)."""
        return {
            "query": self.query,
            "normalized_query": self.normalized,
            "corrected_query": self.corrected if self.corrected != self.query else None,
            "correction": self.correction.model_dump() if self.correction is not None else None,
            "intent": self.intent.model_dump() if self.intent is not None else None,
            "attributes": self.attributes.model_dump(exclude={"spans"}) if self.attributes is not None else None,
            "product_kind": self.kind,
        }


def understand(query: str, *, intent: IntentModel | None = None, corrector: Corrector | None = None,
               parser: AttributeReader | None = None, kinds: KindLexicon | None = None,
               parse_text: Callable[[str, str], str] | None = None,
               run: StageRunner = run_directly) -> Understanding:
    """Read `query` (already validated) with the parts given; a part left out is a stage skipped. The attributes
    are read from the normalised text, or from `parse_text(corrected, normalized)` when given; the kind of
    product from the normalised text."""
    predicted = run("classify_intent", {"query": query}, lambda: intent.predict(query)) if intent is not None else None
    fixed = run("correct_spelling", {"query": query}, lambda: corrector.correct(query)) if corrector is not None else None
    corrected = fixed.corrected if fixed is not None and fixed.changed else query
    normalized = run("normalize", {"query": corrected}, lambda: normalize(corrected))
    wanted = parse_text(corrected, normalized) if parse_text is not None else normalized
    parsed = run("parse_attributes", {"query": wanted}, lambda: parser.parse(wanted)) if parser is not None else None
    kind = kinds.kind_of(normalized) if kinds is not None else None
    return Understanding(query=query, intent=predicted, correction=fixed, corrected=corrected,
                         normalized=normalized, attributes=parsed, kind=kind)
