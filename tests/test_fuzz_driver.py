"""The fuzz driver (tests/fuzz/fuzz_targets.py): random buffers become structured inputs, failures are grouped into
findings with an example, and the command reports counts and exits non-zero when anything was found."""

from __future__ import annotations

import json
import random

from fuzz.fuzz_targets import Campaign, main
from hypothesis import strategies as st


def test_a_failing_invariant_becomes_a_finding_with_an_example():
    def check(text: str) -> None:
        if "7" in text:
            raise ValueError(f"cannot handle {text!r}")

    report = Campaign("demo", check, st.text(alphabet="0123456789", min_size=1, max_size=5)).run(
        300, random.Random(1))
    assert report["runs"] == 300 and 0 < report["executed"] <= 300
    assert report["findings"] >= 1
    finding = report["distinct"][0]
    assert finding["error"].startswith("ValueError: cannot handle") and "7" in finding["example"]
    assert finding["count"] >= 1 and finding["where"].endswith(".py:" + finding["where"].rsplit(":", 1)[1])


def test_the_command_runs_a_target_and_reports_counts(capsys):
    assert main(["requests", "--runs", "200", "--seed", "3", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    target = report["targets"][0]
    assert target["target"] == "requests" and target["runs"] == 200 and target["executed"] > 100
    assert target["findings"] == 0
