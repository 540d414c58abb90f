import pytest

from assistant.validation import clean_query
from tools.core.errors import InputError


@pytest.mark.parametrize("raw, message", [
    ("", "empty"),
    ("   \n\t ", "empty"),
    ("x" * 10_000, "10000 characters"),
    (b"\xff\xfe\x00\x01", "UTF-8"),
    ("abc\x00def", "binary"),
    ("\x01\x02\x03\x04abc", "binary"),
])
def test_unusable_queries_get_clear_errors(raw, message):
    with pytest.raises(InputError, match=message):
        clean_query(raw, max_chars=512)


def test_good_queries_are_cleaned():
    assert clean_query("  蓝色T恤\n 50元到100元 ", 512) == "蓝色T恤 50元到100元"
    assert clean_query(b"iphnoe 15 case", 512) == "iphnoe 15 case"
