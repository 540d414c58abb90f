"""Property-based tests of the spell corrector: any text gives a result whose edits sit where they say and rebuild
the corrected query; digits and protected terms are never changed; a corrected query is a fixed point."""

from __future__ import annotations

import pytest
from fuzz.checks import PROTECTED, build_corrector, check_correct, check_correct_stable
from fuzz.strategies import examples, queries
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

FUZZ = settings(max_examples=examples(200), deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
TYPOS = ["iphnoe", "hedphones", "wirelss", "mouse", "head phones", "headphone", "cordles", "drill", "casee", "手记",
         "手记壳", "T桖", "蓝色", "thinkpad", "nikee", "logitec", "sony", "dewalt", "DCD771", "xl", "42"]


@pytest.fixture(scope="module")
def corrector():
    return build_corrector()


@FUZZ
@given(text=queries())
@example(text="iphnoe 15 case")
@example(text="hedphones wirelss 2 pcs")
@example(text="\ufeff手记壳 \x00 logitec")
@example(text="A华为")  # a Latin letter before a protected brand: not a mixed word to fix (A级)
def test_edits_are_consistent_with_the_text(corrector, text):
    check_correct(corrector, text)


@FUZZ
@given(words=st.lists(st.sampled_from(TYPOS + PROTECTED), min_size=1, max_size=6),
       glue=st.sampled_from([" ", "", "  ", ","]))
def test_protected_terms_and_digits_survive_any_neighbours(corrector, words, glue):
    check_correct(corrector, glue.join(words))


@FUZZ
@given(words=st.lists(st.sampled_from(TYPOS), min_size=1, max_size=5))
@example(words=["iphnoe", "head phones", "手记", "手记"])  # 24 characters before the English edits, 23 after
def test_correcting_a_corrected_query_changes_nothing(corrector, words):
    check_correct_stable(corrector, " ".join(words))


def test_the_checks_catch_a_corrector_that_changes_a_model_number():
    from tools.spelling import CorrectedQuery, Edit

    class Breaking:
        def correct(self, query):
            edit = Edit(source="DCD771", target="DCD777", position=0, reason="spelling")
            return CorrectedQuery(original=query, corrected="DCD777 drill", edits=[edit], confidence=0.9)

    with pytest.raises(AssertionError, match="protected"):
        check_correct(Breaking(), "DCD771 drill")
