"""Past eval runs (`shopquery eval history`), the default baseline of a new run, suite rows that switch settings,
and real-data suite files."""

import argparse
import json

import pytest
import yaml
from eval_records import cell, run, write

from assistant.settings import Settings
from eval.commands import choose_baseline, record_baseline
from eval.history import find_runs, history_table, latest_before
from eval.report import write_reports
from eval.runner import RunOptions, run_matrix
from eval.specs import MissingRealData, load_suite_file, resolve_suites
from tools.core.errors import ConfigError


def _run(folder, name, created, status="complete", pass_rate=0.9, suite="agent", baseline=None):
    record = run([cell(metrics={"pass_rate": pass_rate, "fallback_rate": 0.1, "turn_ms_p50": 900.0})],
                 suite=suite, run_id=name, created=created, status=status)
    record["suite"]["headline"] = ["pass_rate", "turn_ms_p50"]
    if baseline:
        record["baseline"] = {"run_id": baseline, "path": str(folder / baseline)}
    return write(folder / name, record)


@pytest.fixture
def runs(tmp_path):
    folder = tmp_path / "eval-runs"
    _run(folder, "r1-agent", "2026-12-01T10:00:00Z", pass_rate=0.8)
    _run(folder, "r2-agent", "2026-12-02T10:00:00Z", pass_rate=0.85, baseline="r1-agent")
    _run(folder, "r3-agent", "2026-12-03T10:00:00Z", status="interrupted")
    _run(folder, "r4-other", "2026-12-04T10:00:00Z", suite="other")
    (folder / "broken").mkdir()
    (folder / "broken" / "result.json").write_text("{not json", encoding="utf-8")
    return folder


def test_history_lists_the_runs_of_one_suite_newest_first(runs, capsys):
    found = find_runs(runs, "agent")
    assert [r.run_id for r in found] == ["r3-agent", "r2-agent", "r1-agent"]
    assert "skipped" in capsys.readouterr().err  # the unreadable record is named, not fatal
    table = history_table(found).splitlines()
    assert table[0].split() == ["run", "created", "status", "data", "cell", "model", "prompts", "pass_rate",
                                "turn_ms_p50", "compared", "with"]
    r2 = next(line for line in table if line.startswith("r2-agent")).split()
    assert r2[2:4] == ["complete", "a" * 12] and r2[4:6] == ["default", "embedded:qwen2.5-coder-0.5b"]
    assert len(r2[6]) == 12 and r2[7:] == ["0.85", "900", "r1-agent"]


def test_the_default_baseline_is_the_latest_earlier_complete_run(runs, tmp_path):
    assert latest_before(runs, "agent", "2026-12-05T00:00:00Z", exclude=tmp_path / "new") == runs / "r2-agent"
    assert latest_before(runs, "agent", "2026-12-02T10:00:00Z", exclude=tmp_path) == runs / "r1-agent"
    assert latest_before(runs, "agent", "2026-12-05T00:00:00Z", exclude=runs / "r2-agent") == runs / "r1-agent"
    assert latest_before(runs, "nosuch", "2026-12-05T00:00:00Z", exclude=tmp_path) is None


def test_eval_run_picks_and_records_its_baseline(runs, tmp_path):
    settings = Settings(data_dir=runs.parent)
    args = argparse.Namespace(no_baseline=False, baseline=None)
    new_dir = write(tmp_path / "new", run([cell()], created="2026-12-05T00:00:00Z"))
    chosen = choose_baseline(settings, args, "agent", new_dir, "2026-12-05T00:00:00Z", several=False)
    assert chosen == runs / "r2-agent"
    result = json.loads((new_dir / "result.json").read_text(encoding="utf-8"))
    record_baseline(new_dir, result, chosen)
    saved = json.loads((new_dir / "result.json").read_text(encoding="utf-8"))
    assert saved["baseline"]["run_id"] == "r2-agent"
    page = write_reports(new_dir)["html"].read_text(encoding="utf-8")  # the record names it: no argument needed
    assert 'id="baseline-link" href="../eval-runs/r2-agent/report.html"' in page
    assert choose_baseline(settings, argparse.Namespace(no_baseline=True, baseline=None), "agent", new_dir,
                           "2026-12-05T00:00:00Z", False) is None
    given = argparse.Namespace(no_baseline=False, baseline=runs)
    (runs / "agent").mkdir()
    (runs / "agent" / "result.json").write_text("{}", encoding="utf-8")
    assert choose_baseline(settings, given, "agent", new_dir, "", several=True) == runs / "agent"


def test_cli_eval_history(runs, monkeypatch, capsys):
    from assistant.cli import main

    monkeypatch.setenv("SHOPQUERY_DATA_DIR", str(runs.parent))
    assert main(["eval", "history", "agent"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"agent: 3 run(s) in {runs}, newest first") and "r1-agent" in out
    assert main(["eval", "history", "agent", "--json", "-n", "1"]) == 0
    assert [r["run_id"] for r in json.loads(capsys.readouterr().out)] == ["r3-agent"]
    assert main(["eval", "history", "nosuch"]) == 0
    assert "no runs of nosuch" in capsys.readouterr().out


class UpperCorrector:
    """A corrector that fixes one misspelling."""

    def correct(self, query):
        return type("Corrected", (), {"corrected": query.replace("wirless", "wireless")})()


def test_rows_switch_settings_and_options(tmp_path):
    data = tmp_path / "q.jsonl"
    data.write_text("".join(json.dumps(c) + "\n" for c in [{"query": "wirless mouse", "expected": "wireless mouse"},
                                                            {"query": "usb hub", "expected": "usb hub"}]))
    suite = tmp_path / "s.yaml"
    suite.write_text(yaml.safe_dump({
        "name": "rows", "kind": "spelling", "data": "q.jsonl", "headline": ["correction_f1", "accuracy"],
        "rows": [{"name": "corrector"}, {"name": "as_typed", "settings": {"correct_spelling": "false"},
                                         "thresholds": {"accuracy": {"min": 0.9}}}]}), encoding="utf-8")
    spec = load_suite_file(suite)
    assert spec.rows[1].settings == {"correct_spelling": False}
    _, result = run_matrix(Settings(data_dir=tmp_path / "d"), spec, RunOptions(out=tmp_path / "run", progress=False),
                           resources={"corrector": UpperCorrector()})
    fixed, typed = result["cells"]
    assert (fixed["variant"], typed["variant"]) == ("corrector", "as_typed")
    assert typed["row"]["settings"] == {"correct_spelling": False}
    assert fixed["metrics"]["accuracy"] == 1.0 and typed["metrics"]["accuracy"] == 0.5
    assert [c["output"] for c in typed["cases"]] == ["wirless mouse", "usb hub"]
    assert typed["threshold_failures"] == ["accuracy 0.5 < 0.9"] and fixed["threshold_failures"] == []
    assert result["suite"]["headline"] == ["correction_f1", "accuracy"]


@pytest.mark.parametrize("row, message", [
    ({"name": "x", "settings": {"spell": False}}, "unknown setting 'spell'"),
    ({"name": "x", "settings": {"correct_spelling": "maybe"}}, "setting correct_spelling"),
    ({"name": "x", "options": {"mode": "bm25"}}, "row x: unknown option(s) mode"),
])
def test_bad_rows_are_clear_errors(tmp_path, row, message):
    (tmp_path / "d.jsonl").write_text("{}\n", encoding="utf-8")
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"name": "b", "kind": "spelling", "data": "d.jsonl", "rows": [row]}))
    with pytest.raises(ConfigError, match="bad.yaml") as err:
        load_suite_file(path)
    assert message in str(err.value)


def test_real_data_suites_resolve_the_data_folder_or_say_where_it_is_missing(tmp_path, monkeypatch, capsys):
    suites = tmp_path / "suites"
    suites.mkdir()
    (suites / "a_local.yaml").write_text(yaml.safe_dump({"name": "a_local", "kind": "spelling", "data": "d.jsonl"}))
    (suites / "d.jsonl").write_text(json.dumps({"query": "x", "expected": "x"}) + "\n")
    real = {"name": "z_real", "kind": "spelling", "data": "{shared_data}/relevance_dev/s.jsonl"}
    (suites / "z_real.yaml").write_text(yaml.safe_dump(real))
    monkeypatch.setenv("SHOPQUERY_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(MissingRealData, match="set \\$SHOPQUERY_DATA"):
        load_suite_file(suites / "z_real.yaml")
    assert [s.name for s in resolve_suites(str(suites))] == ["a_local"]
    assert "skipped: " in capsys.readouterr().err
    (tmp_path / "data" / "relevance_dev").mkdir(parents=True)
    (tmp_path / "data" / "relevance_dev" / "s.jsonl").write_text(json.dumps({"query": "y", "expected": "y"}))
    monkeypatch.setenv("SHOPQUERY_DATA", str(tmp_path / "data"))
    specs = resolve_suites(str(suites))
    assert [s.name for s in specs] == ["z_real", "a_local"] and specs[0].real_data
    assert specs[0].data == (tmp_path / "data" / "relevance_dev" / "s.jsonl").resolve()


def test_shipped_real_data_suites_have_plain_baseline_rows():
    from eval.specs import SUITES_DIR

    for name in ("relevance_en_chorus_dev", "relevance_zh_multicpr_dev"):
        doc = yaml.safe_load((SUITES_DIR / f"{name}.yaml").read_text(encoding="utf-8"))
        rows = {r["name"]: r for r in doc["rows"]}
        assert {"fast_path", "plain_bm25", "plain_dense", "plain_hybrid"} <= set(rows)
        plain_rows = [n for n in rows if n.startswith("plain_")]
        assert {rows[n]["options"]["mode"] for n in plain_rows} == {"bm25", "dense", "hybrid"}
        for plain in plain_rows:  # every stage off: nothing of the fast path but the search mode
            assert rows[plain]["settings"] == {"correct_spelling": False, "parse_attributes": False,
                                               "expand_queries": False, "classify_intent": False,
                                               "fusion": "rrf", "rerank": False, "product_kinds": False}
        stage_rows = [r for n, r in rows.items() if n not in plain_rows and n != "fast_path"]
        assert stage_rows and all(len(r["settings"]) == 1 for r in stage_rows)  # one stage switched per row


def test_eval_sub_commands_have_complete_help(capsys):
    from assistant.cli import main

    expected = {"run": ["--baseline", "--no-baseline", "--variants", "--models", "--limit", "--out", "SUITE_OR_DIR"],
                "compare": ["run_a", "run_b", "--threshold", "--allow-data-change"],
                "history": ["SUITE", "--runs", "--json"], "retrieval": ["--data", "--catalog", "--mode"]}
    for command, words in expected.items():
        with pytest.raises(SystemExit) as done:
            main(["eval", command, "-h"])
        assert done.value.code == 0
        text = capsys.readouterr().out
        assert all(w in text for w in words), (command, text)
    with pytest.raises(SystemExit):
        main(["eval", "-h"])
    text = capsys.readouterr().out
    assert all(w in text for w in ("run", "compare", "history", "spelling", "agent"))


def test_an_interrupted_catalog_ingest_is_completed_on_the_next_run(tmp_path, hash_embedder):
    from assistant.app import Assistant
    from eval.harness import INGESTED, catalog_settings, fill_store
    from tools.core.types import Product

    products = [Product(id=f"p{i}", title=f"wireless mouse model {i}", brand="Logitech") for i in range(3)]
    catalog = tmp_path / "catalog.jsonl"
    catalog.write_text("".join(p.model_dump_json() + "\n" for p in products), encoding="utf-8")
    settings = catalog_settings(Settings(data_dir=tmp_path / "d", correct_spelling=False), catalog)

    def assistant() -> Assistant:
        return Assistant(settings, embedder=hash_embedder)

    assistant().store.upsert(products[:1])  # what an ingest stopped after its first batch leaves
    info = fill_store(assistant(), catalog, progress=False)
    assert info["catalog_products"] == 3 and "ingest_s" in info
    assert json.loads((settings.catalog_dir / INGESTED).read_text(encoding="utf-8"))["products"] == 3
    again = fill_store(assistant(), catalog, progress=False)
    assert again["catalog_products"] == 3 and "ingest_s" not in again  # a finished store is used as it is
