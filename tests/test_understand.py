"""Understanding a query: one step, the same for the fast path and the agent; stages run in order through the
caller's runner, a part left out is a stage skipped, and the result is what analyze --json shows."""

from assistant.fast_path import analyze_query
from tools.attributes import AttributeParser
from tools.catalog_store import CatalogStore
from tools.intent import IntentPrediction
from tools.product_kind import default_lexicon
from tools.spelling import CorrectedQuery, Edit
from tools.understand import understand


class MooseCorrector:
    def correct(self, query):
        if "moose" not in query:
            return CorrectedQuery(original=query, corrected=query, confidence=1.0)
        edit = Edit(source="moose", target="mouse", position=query.index("moose"), reason="spelling")
        return CorrectedQuery(original=query, corrected=query.replace("moose", "mouse"), confidence=0.9, edits=[edit])


class SearchIntent:
    def predict(self, text):
        return IntentPrediction(label="product_search", probability=0.8, top3=[("product_search", 0.8)],
                                low_confidence=False)


def test_stages_run_in_order_through_the_runner_and_feed_each_other(small_catalog):
    calls = []

    def run(name, args, fn):
        calls.append((name, args))
        return fn()

    parser = AttributeParser.from_products(small_catalog)
    understood = understand("Black Wireless moose under $30", intent=SearchIntent(), corrector=MooseCorrector(),
                            parser=parser, kinds=default_lexicon(), run=run)
    assert [name for name, _ in calls] == ["classify_intent", "correct_spelling", "normalize", "parse_attributes"]
    assert calls[2][1] == {"query": "Black Wireless mouse under $30"}
    assert understood.corrected == "Black Wireless mouse under $30"
    assert calls[3][1] == {"query": understood.normalized} and understood.normalized.islower()
    assert understood.attributes.color == "black" and understood.attributes.price_max == 30
    assert understood.kind == default_lexicon().kind_of(understood.normalized) and understood.kind is not None
    assert understood.intent_label == "product_search"


def test_parts_left_out_are_stages_skipped_and_the_hook_chooses_the_parsed_text(small_catalog):
    parser = AttributeParser.from_products(small_catalog)
    bare = understand("Red T-shirt")
    assert (bare.intent, bare.correction, bare.attributes, bare.kind) == (None, None, None, None)
    assert bare.corrected == "Red T-shirt" and bare.analysis_fields()["corrected_query"] is None
    seen = []
    hooked = understand("Red T-shirt", parser=parser,
                        parse_text=lambda corrected, normalized: seen.append((corrected, normalized)) or "blue")
    assert seen == [("Red T-shirt", bare.normalized)] and hooked.attributes.color == "blue"


def test_the_fast_path_reports_exactly_the_understanding(tmp_path, hash_embedder, small_catalog):
    store = CatalogStore(tmp_path / "catalog", hash_embedder)
    store.upsert(small_catalog)
    parser = AttributeParser.from_products(small_catalog)
    query = "wireless moose 50元以内"
    analysis = analyze_query(store, query, max_chars=512, parser=parser, corrector=MooseCorrector(),
                             intent=SearchIntent())
    understood = understand(query, intent=SearchIntent(), corrector=MooseCorrector(), parser=parser,
                            kinds=default_lexicon())
    fields = understood.analysis_fields()
    assert analysis.model_dump(include=set(fields)) == fields
    assert [t.stage for t in analysis.timings][:5] == ["validate", "intent", "spelling", "normalize", "attributes"]
