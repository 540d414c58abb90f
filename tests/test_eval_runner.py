"""The eval matrix runner: the model-call cache (hits, misses, replayed streams), failure isolation, suite and
variant files, model specs and the `shopquery eval run` command line. Unit tests use the scripted chat model and
the hashing embedder; the last test runs the real embedded 0.5B model."""

import json
from pathlib import Path

import pytest
import yaml
from fakes import FixedIntent, ScriptedChatModel, tool_call_message

from assistant.settings import Settings
from eval.backends import ModelInfo, parse_model_list, parse_model_spec
from eval.cache import CachedChatModel, ModelCallCache
from eval.runner import RunOptions, run_matrix
from eval.specs import load_suite_file, resolve_suites
from eval.variants import load_variant, resolve_variants
from tools.catalog_store import CatalogStore
from tools.core.errors import ConfigError, InputError
from tools.core.types import Product

ROOT = Path(__file__).resolve().parent.parent
TERSE = ROOT / "prompts" / "variants" / "terse.yaml"
CATALOG = [
    Product(id="t1", title="夏季纯棉蓝色T恤 男 短袖", brand="优衣库", category="T恤", price=79.0, currency="CNY",
            color="blue"),
    Product(id="t2", title="白色纯棉T恤 圆领", brand="优衣库", category="T恤", price=49.0, currency="CNY",
            color="white"),
    Product(id="m1", title="Logitech M185 wireless mouse grey", brand="Logitech", category="Mice", price=19.99,
            currency="USD", color="grey"),
    Product(id="m2", title="Dell MS116 wired mouse black", brand="Dell", category="Mice", price=9.99,
            currency="USD", color="black"),
]
CASES = [
    {"id": "zh-tee", "messages": [{"role": "user", "content": "我想买件T恤"}],
     "expect": {"min_products": 1, "reply_language": "zh", "tools_not_called": ["recommend_products"]}},
    {"id": "broken", "messages": [{"role": "user", "content": ""}], "expect": {}},
    {"id": "en-mouse", "messages": [{"role": "user", "content": "wireless mouse"}],
     "expect": {"min_products": 1, "reply_not_contains": ["free of charge"]}},
]


def _write_yaml(path: Path, doc) -> Path:
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture
def suite_file(tmp_path):
    data = tmp_path / "cases.jsonl"
    data.write_text("".join(json.dumps(c, ensure_ascii=False) + "\n" for c in CASES), encoding="utf-8")
    return _write_yaml(tmp_path / "tiny_agent.yaml", {
        "name": "tiny_agent", "kind": "agent", "data": "cases.jsonl", "metrics": ["pass_rate", "fallback_rate"],
        "thresholds": {"pass_rate": {"min": 0.5}}, "directions": {"fallback_rate": "lower"}})


@pytest.fixture
def settings(tmp_path):
    return Settings(data_dir=tmp_path / "data", correct_spelling=False, expand_queries=False, suggest_rewrites=False)


@pytest.fixture
def resources(tmp_path, hash_embedder, settings):
    store = CatalogStore(tmp_path / "catalog", hash_embedder)
    store.upsert([p.model_copy() for p in CATALOG])
    return {"embedder": hash_embedder, "store": store, "intent_classifier": FixedIntent("product_search")}


def _scripted(replies: int = 20) -> ScriptedChatModel:
    return ScriptedChatModel(["1号 夏季纯棉蓝色T恤 男 短袖 很适合你。"] * replies)


def _run(settings, spec, resources, model, out, variants=(), cache=True):
    options = RunOptions(variants=list(variants), out=out, cache=cache, progress=False)
    info = ModelInfo(backend="embedded", name="scripted-test")
    return run_matrix(settings, spec, options, resources=resources, model_factory=lambda s: (model, info))


# ------------------------------------------------------------------ the cache wrapper
def test_cache_answers_a_repeated_call_and_keeps_tool_calls(tmp_path):
    cache = ModelCallCache(tmp_path / "c.sqlite")
    inner = ScriptedChatModel([tool_call_message("search_catalog", {"query": "t恤"}), "second"])
    model = CachedChatModel(inner=inner, call_cache=cache, identity="test:m")
    bound = model.bind_tools([{"type": "function", "function": {"name": "search_catalog", "parameters": {}}}],
                             tool_choice="search_catalog")
    first = bound.invoke([("user", "我想买件T恤")], max_tokens=10)
    again = bound.invoke([("user", "我想买件T恤")], max_tokens=10)
    assert first.tool_calls[0]["args"] == again.tool_calls[0]["args"] == {"query": "t恤"}
    assert len(inner.calls) == 1 and inner.calls[0]["tool_choice"] == "search_catalog"
    assert model.stats() == {"hits": 1, "misses": 1}
    other = model.invoke([("user", "我想买件T恤")], max_tokens=10)  # no tools bound: another key
    assert other.content == "second" and model.stats()["misses"] == 2
    assert cache.count() == 2


def test_cache_replays_a_stream_only_when_it_was_read_to_the_end(tmp_path):
    cache = ModelCallCache(tmp_path / "c.sqlite")
    inner = ScriptedChatModel(["a fairly long streamed reply", "the complete reply text here"])
    model = CachedChatModel(inner=inner, call_cache=cache, identity="test:m")
    stream = model.stream([("user", "hi")], max_tokens=5)
    next(stream)
    stream.close()  # abandoned (a deadline): nothing stored
    assert cache.count() == 0
    text = "".join(c.content for c in model.stream([("user", "hi")], max_tokens=5))
    replay = "".join(c.content for c in model.stream([("user", "hi")], max_tokens=5))
    assert text == replay == "the complete reply text here"
    assert len(inner.calls) == 2 and model.stats() == {"hits": 1, "misses": 2}


def test_cache_keys_differ_by_model_identity_and_survive_reopening(tmp_path):
    path = tmp_path / "c.sqlite"
    ModelCallCache(path).put("k", "m", "generate", {"x": 1})
    reopened = ModelCallCache(path)
    assert reopened.get("k") == {"x": 1} and reopened.get("other") is None
    one = CachedChatModel(inner=ScriptedChatModel(["a"]), call_cache=reopened, identity="embedded:a@1")
    two = CachedChatModel(inner=ScriptedChatModel(["b"]), call_cache=reopened, identity="embedded:a@2")
    assert one.invoke("q").content == "a" and two.invoke("q").content == "b"


def test_disabled_cache_always_calls_the_model(tmp_path):
    inner = ScriptedChatModel(["a", "b"])
    model = CachedChatModel(inner=inner, call_cache=ModelCallCache(tmp_path / "c.sqlite"), identity="m", enabled=False)
    assert [model.invoke("q").content for _ in range(2)] == ["a", "b"]


# ------------------------------------------------------------------ the runner
def test_second_run_is_all_cache_hits_with_identical_results(tmp_path, settings, resources, suite_file):
    spec = load_suite_file(suite_file)
    model = _scripted()
    run_dir, first = _run(settings, spec, resources, model, tmp_path / "run1")
    calls = len(model.calls)
    assert calls > 0 and first["cells"][0]["cache"]["misses"] == calls
    _, second = _run(settings, spec, resources, model, tmp_path / "run2")
    assert len(model.calls) == calls, "the second run called the model"
    assert second["cells"][0]["cache"] == {"hits": calls, "misses": 0}
    strip = [{k: v for k, v in c.items() if k != "latency_ms"} for c in first["cells"][0]["cases"]]
    assert strip == [{k: v for k, v in c.items() if k != "latency_ms"} for c in second["cells"][0]["cases"]]
    record = json.loads((run_dir / "result.json").read_text(encoding="utf-8"))
    assert record["schema"] == "shopquery.eval.run/1" and record["suite"]["cases"] == 3
    assert record["metric_directions"]["fallback_rate"] == "lower"
    assert record["cells"][0]["model"] == "embedded:scripted-test"


def test_a_prompt_variant_misses_the_cache_and_records_its_hashes(tmp_path, settings, resources, suite_file):
    spec = load_suite_file(suite_file)
    model = _scripted(40)
    _, result = _run(settings, spec, resources, model, tmp_path / "run", variants=[TERSE])
    default, terse = result["cells"]
    assert (default["variant"], terse["variant"]) == ("default", "terse")
    assert terse["variant_file"].endswith("prompts/variants/terse.yaml")
    assert terse["cache"]["misses"] == default["cache"]["misses"] > 0 and terse["cache"]["hits"] == 0
    assert default["prompt_hashes"]["reply/user/zh"] != terse["prompt_hashes"]["reply/user/zh"]
    assert default["prompt_hashes"]["reply/templated/zh"] == terse["prompt_hashes"]["reply/templated/zh"]
    terse_prompt = model.calls[-1]["messages"][-1].content
    assert "不要提问" in terse_prompt or "Do not ask" in terse_prompt


def test_a_case_that_raises_is_recorded_and_the_others_are_scored(tmp_path, settings, resources, suite_file):
    spec = load_suite_file(suite_file)
    _, result = _run(settings, spec, resources, _scripted(), tmp_path / "run")
    cases = {c["id"]: c for c in result["cells"][0]["cases"]}
    assert not cases["broken"]["passed"] and cases["broken"]["error"].startswith("InputError:")
    for good in ("zh-tee", "en-mouse"):
        assert cases[good]["error"] is None and cases[good]["passed"], cases[good]["failures"]
        assert cases[good]["output"]["products"]
    assert cases["zh-tee"]["scores"]["tools_not_called"] is True
    metrics = result["cells"][0]["metrics"]
    assert metrics["pass_rate"] == pytest.approx(2 / 3, abs=1e-3) and metrics["failed"] == 1
    assert result["cells"][0]["threshold_failures"] == []


def test_new_agent_checks_fail_with_reasons(tmp_path, settings, resources):
    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"id": "x", "messages": [{"role": "user", "content": "我想买件T恤"}],
                                "expect": {"tools_not_called": ["search_catalog"],
                                           "reply_not_contains": ["蓝色T恤"]}}, ensure_ascii=False) + "\n",
                    encoding="utf-8")
    spec = load_suite_file(_write_yaml(tmp_path / "s.yaml", {"name": "s", "kind": "agent", "data": str(data),
                                                             "thresholds": {"pass_rate": {"min": 1}}}))
    _, result = _run(settings, spec, resources, _scripted(), tmp_path / "run")
    case = result["cells"][0]["cases"][0]
    assert case["scores"] == {"tools_not_called": False, "reply_not_contains": False}
    assert any(f.startswith("tools_not_called: called ['search_catalog']") for f in case["failures"])
    assert result["cells"][0]["threshold_failures"] == ["pass_rate 0 < 1"]


class InterruptingIntent(FixedIntent):
    def predict(self, text):
        if text == "wireless mouse":
            raise KeyboardInterrupt
        return super().predict(text)


def test_an_interrupted_run_keeps_the_finished_cases(tmp_path, settings, resources, suite_file, monkeypatch):
    monkeypatch.setattr("eval.runner.CHECKPOINT_S", 0.0)
    spec = load_suite_file(suite_file)
    with pytest.raises(KeyboardInterrupt):
        _run(settings, spec, {**resources, "intent_classifier": InterruptingIntent()}, _scripted(), tmp_path / "r")
    record = json.loads((tmp_path / "r" / "result.json").read_text(encoding="utf-8"))
    assert record["status"] == "interrupted"
    cell = record["cells"][0]
    assert cell["partial"] is True and [c["id"] for c in cell["cases"]] == ["zh-tee", "broken"]


def test_the_judge_grades_every_reply(tmp_path, settings, resources, suite_file):
    spec = load_suite_file(suite_file)
    judge = ScriptedChatModel([json.dumps({"score": 3, "reason": "generic"})] * 5)
    models = iter([(judge, ModelInfo(backend="embedded", name="judge")),
                   (_scripted(), ModelInfo(backend="embedded", name="scripted-test"))])
    options = RunOptions(out=tmp_path / "j", progress=False, judge="embedded:qwen2.5-coder-0.5b")
    _, result = run_matrix(settings, spec, options, resources=resources, model_factory=lambda s: next(models))
    cell = result["cells"][0]
    graded = [c for c in cell["cases"] if c["error"] is None]
    assert [c["scores"]["judge"] for c in graded] == [3, 3]
    assert graded[0]["output"]["judge_reason"] == "generic"
    assert cell["metrics"]["judge_mean"] == 3.0 and cell["metrics"]["judge_scored"] == 2
    assert result["status"] == "complete"


def test_a_model_that_cannot_be_built_fails_its_cells_only(tmp_path, settings, resources, suite_file):
    from tools.core.errors import ModelUnavailable

    def factory(cell_settings):
        if cell_settings.llm_model == "qwen2.5-coder-1.5b":
            raise ModelUnavailable("model file not found: /nowhere.gguf")
        return _scripted(), ModelInfo(backend="embedded", name="scripted-test")

    options = RunOptions(out=tmp_path / "m", progress=False,
                         models="embedded:qwen2.5-coder-1.5b,embedded:qwen2.5-coder-0.5b")
    _, result = run_matrix(settings, load_suite_file(suite_file), options, resources=resources,
                           model_factory=factory)
    broken, good = result["cells"]
    assert broken["error"] == "ModelUnavailable: model file not found: /nowhere.gguf" and broken["cases"] == []
    assert broken["threshold_failures"] == [f"cell failed: {broken['error']}"]
    assert good["error"] is None and len(good["cases"]) == 3


# ------------------------------------------------------------------ suite, variant and model files
@pytest.mark.parametrize("doc, message", [
    ({"name": "x", "kind": "nope", "data": "d.jsonl"}, "kind"),
    ({"name": "x", "kind": "agent", "data": "d.jsonl", "options": {"temperature": 1}}, "unknown option(s)"),
    ({"name": "x", "kind": "agent", "data": "missing.jsonl"}, "data file not found"),
    ({"name": "x", "kind": "agent", "data": "d.jsonl", "thresholds": {"pass_rate": {}}}, "min and/or max"),
    ({"name": "x", "kind": "agent", "data": "d.jsonl", "directions": {"pass_rate": "up"}}, "directions.pass_rate"),
    ({"name": "x", "kind": "agent", "data": "d.jsonl", "colour": 1}, "colour"),
    (["not", "a", "mapping"], "a suite file is a mapping"),
])
def test_bad_suite_files_are_clear_errors(tmp_path, doc, message):
    (tmp_path / "d.jsonl").write_text("{}\n", encoding="utf-8")
    path = _write_yaml(tmp_path / "bad.yaml", doc)
    with pytest.raises(ConfigError, match="bad.yaml") as err:
        load_suite_file(path)
    assert message in str(err.value)


def test_every_shipped_suite_file_loads_and_names_resolve():
    specs = resolve_suites(str(ROOT / "eval" / "suites"))
    assert {s.name for s in specs} >= {"agent", "retrieval_test", "attributes_test", "spelling_en_test",
                                       "spelling_zh_query_test", "spelling_zh_sighan_test", "intent_test",
                                       "expansion"}
    assert [s.name for s in resolve_suites("agent")] == ["agent"]
    assert resolve_suites("agent")[0].model_matrix and not resolve_suites("retrieval_test")[0].model_matrix
    with pytest.raises(InputError, match="unknown suite 'nosuch'"):
        resolve_suites("nosuch")


@pytest.mark.parametrize("overrides, message", [
    ({"replies": {"user": {"en": "x"}}}, "unknown prompt family 'replies'"),
    ({"reply": {"usr": {"en": "x"}}}, "unknown template reply.usr"),
    ({"reply": {"user": {"fr": "x"}}}, "unknown language 'fr'"),
    ({"reply": {"user": {"en": "   "}}}, "must be a non-empty text"),
    ({"reply": {"user": {"en": "{{ shopper_name }}"}}}, "does not render"),
    ({"reply": {"user": {"en": "{% for p in products %}"}}}, "does not render"),
])
def test_bad_variants_are_errors_before_the_run(tmp_path, overrides, message):
    path = _write_yaml(tmp_path / "v.yaml", {"name": "v", "overrides": overrides})
    with pytest.raises(ConfigError, match="v.yaml") as err:
        load_variant(path)
    assert message in str(err.value)


def test_variant_names_must_be_distinct_and_not_default(tmp_path):
    with pytest.raises(ConfigError, match="used twice: terse"):
        resolve_variants([TERSE, TERSE])
    path = _write_yaml(tmp_path / "d.yaml", {"name": "default", "overrides": {"reply": {"user": "x"}}})
    with pytest.raises(ConfigError, match="kept for the prompts as shipped"):
        load_variant(path)
    assert [v.name for v in resolve_variants([TERSE], include_default=False)] == ["terse"]
    assert [v.name for v in resolve_variants([ROOT / "prompts" / "variants" / "grounded.yaml"])] == \
        ["default", "grounded"]


def test_a_variant_may_override_one_language_only(tmp_path):
    from assistant.prompts import PromptLibrary

    path = _write_yaml(tmp_path / "en.yaml", {"name": "en-only", "overrides": {"reply": {"user": {
        "en": "<message>{{ message }}</message> Recommend product 1 in one sentence."}}}})
    variant = load_variant(path)
    shipped, changed = PromptLibrary().hashes(), variant.library().hashes()
    assert [k for k in shipped if shipped[k] != changed[k]] == ["reply/user/en"]
    assert variant.library().source("reply", "user", "zh") == PromptLibrary().source("reply", "user", "zh")


def test_model_specs(tmp_path, settings):
    assert parse_model_spec("embedded:qwen2.5-coder-1.5b").settings(settings).llm_model == "qwen2.5-coder-1.5b"
    remote = parse_model_spec("openai:http://127.0.0.1:8000/v1#qwen05").settings(settings)
    assert (remote.llm_backend, remote.llm_base_url, remote.llm_model_name) == \
        ("openai", "http://127.0.0.1:8000/v1", "qwen05")
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    assert parse_model_spec(f"embedded:{gguf}").settings(settings).llm_gguf_path == gguf.resolve()
    assert [m.spec for m in parse_model_list(None, settings)] == ["embedded:qwen2.5-coder-0.5b"]
    for bad, message in [("qwen", "expected embedded"), ("embedded:qwen9", "unknown bundled model"),
                         ("openai:http://h:1/v1", "#model-name"), ("vllm:x", "unknown backend"),
                         (f"embedded:{tmp_path}/none.gguf", "no GGUF file")]:
        with pytest.raises(InputError, match=message):
            parse_model_spec(bad)
    with pytest.raises(InputError, match="listed twice"):
        parse_model_list("embedded:qwen2.5-coder-0.5b,embedded:qwen2.5-coder-0.5b", settings)


# ------------------------------------------------------------------ the command line
def test_cli_eval_run_rejects_bad_input_with_exit_2(tmp_path, monkeypatch, capsys):
    from assistant.cli import main

    monkeypatch.setenv("SHOPQUERY_DATA_DIR", str(tmp_path))
    assert main(["eval", "run", "nosuch"]) == 2
    assert "unknown suite 'nosuch'" in capsys.readouterr().err
    assert main(["eval", "run", "agent", "--variants", str(tmp_path / "missing.yaml")]) == 2
    assert "prompt variant not found" in capsys.readouterr().err
    assert main(["eval", "run", "agent", "--models", "embedded:qwen9"]) == 2
    assert "unknown bundled model" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.integration
def test_cli_eval_run_end_to_end_on_a_tiny_suite(tmp_path, monkeypatch, capsys):
    """The real command on a two-query retrieval suite over a tiny catalog (real e5 encoder, real chromadb);
    a threshold that cannot hold makes the exit code 1, and the legacy form still answers."""
    from assistant.cli import main

    catalog = tmp_path / "catalog.jsonl"
    catalog.write_text("".join(p.model_dump_json() + "\n" for p in CATALOG), encoding="utf-8")
    data = tmp_path / "q.jsonl"
    data.write_text(json.dumps({"query": "wireless mouse", "relevant": {"m1": 2}}) + "\n"
                    + json.dumps({"query": "T恤", "relevant": ["t1", "t2"]}, ensure_ascii=False) + "\n",
                    encoding="utf-8")
    suite = _write_yaml(tmp_path / "tiny.yaml", {"name": "tiny", "kind": "retrieval", "data": "q.jsonl",
                                                 "catalog": "catalog.jsonl", "metrics": ["ndcg@10", "mrr@10"],
                                                 "thresholds": {"mrr@10": {"min": 0.5}}})
    monkeypatch.setenv("SHOPQUERY_DATA_DIR", str(tmp_path / "home"))
    assert main(["eval", "run", str(suite), "--out", str(tmp_path / "run"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "variant" in out and "ndcg@10" in out and str(tmp_path / "run" / "result.json") in out
    result = json.loads((tmp_path / "run" / "result.json").read_text(encoding="utf-8"))
    cell = result["cells"][0]
    assert (cell["variant"], cell["model"]) == ("default", "none")
    assert [c["passed"] for c in cell["cases"]] == [True, True] and cell["metrics"]["mrr@10"] == 1.0
    strict = _write_yaml(tmp_path / "strict.yaml", {**yaml.safe_load(suite.read_text(encoding="utf-8")),
                                                    "name": "strict", "thresholds": {"p50_ms": {"max": 0}}})
    assert main(["eval", "run", str(strict), "--out", str(tmp_path / "run2"), "--quiet"]) == 1
    assert "threshold failed: strict: default/none: p50_ms" in capsys.readouterr().err
    assert main(["eval", "retrieval", "--data", str(data), "--catalog", str(catalog), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["queries"] == 2


@pytest.mark.slow
@pytest.mark.integration
def test_real_model_rerun_is_served_from_the_cache(tmp_path, settings, resources, suite_file,
                                                   embedded_chat_model_05b):
    """The embedded 0.5B model writes the replies once; the second run replays them without the model."""
    spec = load_suite_file(suite_file)
    info = ModelInfo(backend="embedded", name="qwen2.5-coder-0.5b", sha256="test-session")
    options = RunOptions(out=tmp_path / "a", progress=False, limit=1)
    factory = lambda s: (embedded_chat_model_05b, info)  # noqa: E731
    _, first = run_matrix(settings, spec, options, resources=resources, model_factory=factory)
    _, second = run_matrix(settings, spec, options.model_copy(update={"out": tmp_path / "b"}),
                           resources=resources, model_factory=factory)
    a, b = first["cells"][0], second["cells"][0]
    assert a["cache"]["misses"] >= 1 and b["cache"] == {"hits": a["cache"]["misses"], "misses": 0}
    assert a["cases"][0]["output"]["reply"] == b["cases"][0]["output"]["reply"]
    assert a["cases"][0]["output"]["used_model"] == (a["cases"][0]["output"]["fallback"] is None)
