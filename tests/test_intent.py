"""Intent classifier: data building, label mapping, thresholds, the tool and the suite without the model; a tiny
real training run in the integration tier."""

from __future__ import annotations

import importlib.util
import json
import random
import time
from pathlib import Path

import pytest

from eval.datasets import Dataset
from tools.core.errors import ModelUnavailable
from tools.intent import (
    IntentClassifier,
    IntentPrediction,
    apply_threshold,
    choose_threshold,
    default_checkpoint_dir,
    macro_f1,
    make_intent_tool,
    per_label_f1,
)
from tools.intent_data import (
    LABELS,
    IntentExample,
    cap_per_label,
    dedupe,
    expand_templates,
    hash_split,
    map_bitext,
    map_clinc,
    template_split,
)

ROOT = Path(__file__).resolve().parents[1]
DATA = {"train": ROOT / "tools" / "resources", "dev": ROOT / "tools" / "resources", "test": ROOT / "eval" / "data"}


def _build_script():
    spec = importlib.util.spec_from_file_location("build_intent_data", ROOT / "scripts" / "build_intent_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _rows(split: str) -> list[dict]:
    return [json.loads(line) for line in (DATA[split] / f"intent_{split}.jsonl").read_text(encoding="utf-8").splitlines()]


def test_bitext_mapping():
    assert map_bitext("track_order") == "order_status"
    assert map_bitext("get_refund") == "return_refund"
    assert map_bitext("cancel_order") == "return_refund"
    assert map_bitext("recover_password") == "account"
    assert map_bitext("get_invoice") == "account"
    assert map_bitext("check_payment_methods") == "payment_promotion"
    assert map_bitext("place_order") == "purchase"
    assert map_bitext("complaint") is None
    assert map_bitext("no_such_intent") is None


def test_clinc_mapping():
    assert map_clinc("oos", None) == "out_of_scope"
    assert map_clinc("weather", "utility") == "out_of_scope"
    assert map_clinc("greeting", "small_talk") == "chitchat"
    assert map_clinc("order_status", "home") == "order_status"
    assert map_clinc("shopping_list", "home") is None
    assert map_clinc("change_volume", "meta") is None


def test_every_mapped_label_is_known():
    from tools.intent_data import BITEXT_MAP, CLINC_SPECIAL

    assert {v for v in BITEXT_MAP.values() if v} <= set(LABELS)
    assert {v for v in CLINC_SPECIAL.values() if v} <= set(LABELS)


def test_splits_are_deterministic():
    assert hash_split("蓝牙耳机") == hash_split("蓝牙耳机")
    shares = [hash_split(f"q{i}") for i in range(2000)]
    assert 0.05 < shares.count("test") / 2000 < 0.15
    assert [template_split(i) for i in range(6)] == ["test", "dev", "train", "train", "train", "test"]


def test_template_expansion_and_caps():
    rng = random.Random(0)
    texts = expand_templates(["compare {a} and {b}", "hello"], {"a": ["x", "y"], "b": ["x", "y"]}, 5, rng)
    assert "hello" in texts
    assert all(t == "hello" or t in ("compare x and y", "compare y and x") for t in texts)
    examples = [IntentExample(text=f"t{i}", label="chitchat", lang="en", source="s") for i in range(10)]
    assert len(cap_per_label(examples, 3, "seed")) == 3
    assert cap_per_label(examples, 3, "seed") == cap_per_label(examples, 3, "seed")
    twice = examples + [IntentExample(text="T1", label="account", lang="en", source="s")]
    assert len(dedupe(twice)) == 10


def test_templates_cover_every_label_in_both_languages():
    templates = _build_script().TEMPLATES
    for label in LABELS:
        for lang in ("en", "zh"):
            assert len(templates[(label, lang)]) >= 10, (label, lang)


def test_decorate_keeps_search_queries_bare():
    script = _build_script()
    rng = random.Random(1)
    assert script.decorate("蓝牙耳机", "product_search", "zh", 5, rng) == ["蓝牙耳机"]
    assert all("怎么退货" in v for v in script.decorate("怎么退货", "return_refund", "zh", 5, rng))


def test_dataset_files_are_valid_and_disjoint():
    splits = {s: _rows(s) for s in ("train", "dev", "test")}
    for split, rows in splits.items():
        assert {r["label"] for r in rows} == set(LABELS), split
        assert {r["lang"] for r in rows} == {"en", "zh"}
        assert all(r["text"] and r["source"] for r in rows)
    train_texts = {r["text"].casefold() for r in splits["train"]}
    assert not train_texts & {r["text"].casefold() for r in splits["test"]}
    written = {s: {r["source"] for r in rows if r["source"].startswith("written:")} for s, rows in splits.items()}
    assert not written["train"] & written["test"]  # test templates are never trained on
    assert sum((DATA[s] / f"intent_{s}.jsonl").stat().st_size for s in DATA) < 3_000_000


def test_threshold_logic():
    labels = ["a", "b", "out_of_scope"]
    sure = apply_threshold([0.8, 0.15, 0.05], labels, 0.5)
    assert (sure.label, sure.low_confidence, sure.top3[0]) == ("a", False, ("a", 0.8))
    unsure = apply_threshold([0.4, 0.35, 0.25], labels, 0.5)
    assert unsure.label == "out_of_scope" and unsure.low_confidence
    assert [name for name, _ in unsure.top3] == ["a", "b", "out_of_scope"]


def test_choose_threshold_prefers_rejecting_unsure_oos():
    labels = ["a", "b", "out_of_scope"]
    probs = [[0.9, 0.05, 0.05], [0.05, 0.9, 0.05], [0.45, 0.4, 0.15], [0.4, 0.45, 0.15]]
    gold = ["a", "b", "out_of_scope", "out_of_scope"]
    threshold = choose_threshold(probs, gold, labels)
    assert 0.45 < threshold <= 0.9
    assert choose_threshold([[0.9, 0.1, 0.0]], ["a"], labels) == 0.0


def test_f1_metrics():
    gold, predicted = ["a", "a", "b", "b"], ["a", "b", "b", "b"]
    scores = per_label_f1(gold, predicted, ["a", "b"])
    assert scores["a"] == pytest.approx(2 / 3) and scores["b"] == pytest.approx(0.8)
    assert macro_f1(gold, predicted, ["a", "b", "c"]) == pytest.approx((2 / 3 + 0.8) / 2)


def test_missing_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(ModelUnavailable, match="train-intent"):
        IntentClassifier.load(tmp_path / "nothing")


def test_default_checkpoint_dir(tmp_path, monkeypatch):
    import tools.intent as intent_module
    from assistant.settings import Settings

    setup_dir = tmp_path / "setup-checkpoint"
    monkeypatch.setattr(intent_module, "SETUP_CHECKPOINT", setup_dir)
    data = tmp_path / "data"
    assert default_checkpoint_dir(Settings(data_dir=data)) == data / "intent"
    setup_dir.mkdir()
    (setup_dir / intent_module.CONFIG_FILE).write_text("{}")
    assert default_checkpoint_dir(Settings(data_dir=data)) == setup_dir
    (data / "intent").mkdir(parents=True)
    (data / "intent" / intent_module.CONFIG_FILE).write_text("{}")
    assert default_checkpoint_dir(Settings(data_dir=data)) == data / "intent"
    assert default_checkpoint_dir(Settings(data_dir=data, intent_dir=tmp_path / "x")) == tmp_path / "x"


class _FixedClassifier(IntentClassifier):
    """A classifier whose probabilities come from a rule, no network."""

    def __init__(self) -> None:
        super().__init__(_NoNetwork(), None, list(LABELS), 0.5)

    def probabilities(self, texts):
        rows = []
        for text in texts:
            row = [0.01] * len(LABELS)
            row[LABELS.index("order_status" if "order" in text or "订单" in text else "chitchat")] = 0.9
            rows.append(row)
        return rows


class _NoNetwork:
    def eval(self):
        return self


def test_predict_batch_handles_blank_and_keeps_order():
    classifier = _FixedClassifier()
    out = classifier.predict_batch(["where is my order", "   ", "你好", "我的订单"])
    assert [p.label for p in out] == ["order_status", "out_of_scope", "chitchat", "order_status"]
    assert out[1].low_confidence and out[1].top3 == []
    assert isinstance(classifier.predict("x" * 100_000), IntentPrediction)


def test_intent_tool_schema_and_call():
    tool = make_intent_tool(_FixedClassifier())
    assert tool.name == "classify_intent"
    assert "query" in tool.args
    result = tool.invoke({"query": "我的订单到哪了"})
    assert result["label"] == "order_status" and len(result["top3"]) == 3


def test_suite_scores_a_classifier():
    from eval.suites import intent as suite

    class Holder:
        intent_classifier = _FixedClassifier()

    cases = [suite.Case(text=t, label=label) for t, label in
             [("order 1", "order_status"), ("hi", "chitchat"), ("weather?", "out_of_scope")]]
    result = suite.run(Holder(), Dataset(path=Path("x"), cases=cases))
    assert result["accuracy"] == pytest.approx(2 / 3, abs=1e-3)
    assert result["oos_recall"] == 0.0
    assert result["confusion"]["out_of_scope"]["chitchat"] == 1
    assert result["per_label_f1"]["order_status"] == 1.0
    assert result["p95_ms"] >= result["p50_ms"] >= 0


TINY = {
    "order_status": ["where is my order", "track my package", "has my order shipped", "我的订单到哪了",
                     "快递什么时候到", "查一下物流"],
    "chitchat": ["hello", "thank you", "good morning", "你好", "谢谢", "早上好"],
    "compare": ["compare iphone and pixel", "iphone vs galaxy", "which is better, a or b", "比较华为和小米",
                "华为和苹果哪个好", "a和b有什么区别"],
}


def _tiny_data(directory: Path) -> list[IntentExample]:
    train = [IntentExample(text=f"{prefix}{text}", label=label, lang="zh" if ord(text[0]) > 127 else "en",
                           source="test") for label, texts in TINY.items() for text in texts
             for prefix in ("", "please ", "请问", "hey ")]
    from tools.intent_data import write_jsonl

    write_jsonl(directory / "intent_train.jsonl", train)
    write_jsonl(directory / "intent_dev.jsonl", train[::4])
    return train


@pytest.mark.integration
@pytest.mark.slow
def test_tiny_training_run_learns_and_never_crashes(tmp_path):
    from tools.intent import train_intent

    train = _tiny_data(tmp_path)
    started = time.monotonic()
    metrics = train_intent(tmp_path, tmp_path / "ckpt", epochs=4, max_minutes=1.0, progress=False, limit=200)
    assert time.monotonic() - started < 90
    assert metrics["steps"] >= 1 and (tmp_path / "ckpt" / "intent.json").is_file()
    classifier = IntentClassifier.load(tmp_path / "ckpt")
    predictions = classifier.predict_batch([e.text for e in train])
    correct = [p.top3[0][0] == e.label for p, e in zip(predictions, train, strict=True)]
    assert sum(correct) / len(correct) >= 0.7
    for prediction in predictions:
        assert prediction.label in LABELS and 0.0 <= prediction.probability <= 1.0 and len(prediction.top3) == 3
    for text in ["", "   ", "😀🛒🎉", "买" * 5000, "where is my order " * 300, "\x00\n\t"]:
        assert classifier.predict(text).label in LABELS

    # one pass through the frozen lower layers for a query's intent and its int8 vector: the same probabilities
    from tools.embeddings import get_embedder

    embedder = get_embedder("e5-torch")
    texts = ["where is my order", "蓝牙耳机 200以内", "where is my order " * 300, "买" * 5000, "😀🛒🎉"]
    alone = classifier.probabilities(texts[:1]) + [classifier.probabilities([t])[0] for t in texts[1:]]
    assert classifier.share_trunk(embedder) and classifier.trunk is embedder
    assert [classifier.probabilities([t])[0] for t in texts] == alone
    embedder._trunks.clear()
    classifier.predict("wireless mouse")
    assert len(embedder._trunks) == 1  # kept for the vector of the same text
    via_trunk = embedder.embed_queries(["wireless mouse"], int8=True)[0]
    assert len(embedder._trunks) == 1
    whole = embedder._embed(["query: wireless mouse"], embedder._int8_model())[0]
    assert float(via_trunk @ whole) > 0.99999
    assert not IntentClassifier(classifier.network, classifier.tokenizer, list(LABELS), 0.5).share_trunk(embedder)
