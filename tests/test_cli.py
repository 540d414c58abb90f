"""The command line's contract without models: help on every option with defaults, --version, the settings
listed from the Settings model, and the exit codes (0 ok, 1 failed check, 2 usage, 3 runtime error)."""

from __future__ import annotations

import argparse

import pytest

from assistant.cli import EXIT_FAILED_CHECK, EXIT_RUNTIME, EXIT_USAGE, _parser, main
from assistant.settings import ENV_PREFIX, Settings


def _parsers(parser: argparse.ArgumentParser, path: str = "shopquery"):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _parsers(child, f"{path} {name}")


def test_every_option_and_argument_has_help():
    missing = [f"{path}: {action.dest}" for path, parser in _parsers(_parser()) for action in parser._actions
               if not isinstance(action, argparse._SubParsersAction) and not (action.help or "").strip()]
    assert missing == []


def test_help_shows_defaults_every_setting_and_the_exit_codes(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    out = capsys.readouterr().out
    assert done.value.code == 0
    for name in Settings.model_fields:
        assert f"{ENV_PREFIX}{name.upper()}  [" in out, name
    assert "exit codes: 0 ok; 1 a check failed" in out
    with pytest.raises(SystemExit):
        main(["analyze", "--help"])
    assert "(default: 10)" in capsys.readouterr().out


def test_version(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.startswith("shopquery 0.")


def test_exit_codes(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SHOPQUERY_DATA_DIR", str(tmp_path / "data"))
    with pytest.raises(SystemExit) as done:
        main(["no-such-command"])
    assert done.value.code == EXIT_USAGE
    assert main(["ingest", str(tmp_path / "missing.csv")]) == EXIT_USAGE
    assert "catalog file not found" in capsys.readouterr().err
    monkeypatch.setenv("SHOPQUERY_LLM_THREADS", "many")
    assert main(["history", "show", "u1"]) == EXIT_USAGE
    assert "SHOPQUERY_LLM_THREADS" in capsys.readouterr().err
    monkeypatch.delenv("SHOPQUERY_LLM_THREADS")
    monkeypatch.setenv("SHOPQUERY_HISTORY_URL", "nosuchdb://x/y")
    assert main(["history", "show", "u1"]) == EXIT_RUNTIME
    assert "cannot use history database" in capsys.readouterr().err
    monkeypatch.delenv("SHOPQUERY_HISTORY_URL")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "1"}\n{"title": "no id"}\n', encoding="utf-8")
    assert main(["ingest", str(bad), "--quiet"]) == EXIT_FAILED_CHECK  # no row could be loaded
    assert "bad.jsonl:1: skipped" in capsys.readouterr().err
