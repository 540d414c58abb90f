import pytest
from jinja2 import UndefinedError

from assistant.errors import ConfigError
from assistant.prompts import PromptLibrary

LIBRARY = PromptLibrary()


def _all_templates():
    for family, doc in LIBRARY.families.items():
        for name in doc["templates"]:
            for lang in ("zh", "en"):
                yield family, name, lang


@pytest.mark.parametrize("family, name, lang", list(_all_templates()))
def test_every_template_renders_with_its_sample_variables(family, name, lang):
    text = LIBRARY.render(family, name, lang, **LIBRARY.samples(family))
    assert text.strip()
    assert "{{" not in text and "{%" not in text


def test_answer_prompt_lists_products_and_marks_data():
    text = LIBRARY.render("answer", "user", "en", **LIBRARY.samples("answer"))
    assert "1. 夏季纯棉蓝色T恤 男 | brand: 优衣库 | price: 79.00 CNY | colour: blue" in text
    assert "3. 无品牌手机壳" in text and "price: None" not in text
    assert "<products>" in text and "</question>" in text


def test_missing_variable_is_an_error_not_an_empty_string():
    with pytest.raises(UndefinedError):
        LIBRARY.render("answer", "user", "en", question="x")


def test_unknown_template_and_override(tmp_path):
    with pytest.raises(ConfigError):
        LIBRARY.render("answer", "nope", "en")
    custom = PromptLibrary(overrides={"answer": {"system": {"en": "Be brief, {{ name }}."}}})
    assert custom.render("answer", "system", "en", name="bot") == "Be brief, bot."
    assert custom.text_hash("answer", "system", "en") != LIBRARY.text_hash("answer", "system", "en")
