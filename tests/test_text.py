from tools.text import has_cjk, index_tokens, normalize, stem_en, tokenize


def test_normalize_folds_full_width_and_case():
    assert normalize("ＩＰｈｏｎｅ　15\x07 Case") == "iphone 15 case"


def test_tokenize_english_folds_plurals_and_keeps_model_numbers():
    tokens = tokenize("HP Pavilion dv7-1211ea Notebooks for the office")
    assert "notebook" in tokens and "dv71211ea" in tokens and "dv7" in tokens
    assert "the" not in tokens and "for" not in tokens


def test_tokenize_chinese_and_mixed():
    tokens = tokenize("我想买蓝色T恤 iphone手机壳")
    assert "蓝色" in tokens and "iphone" in tokens and "手机" in tokens
    assert "我" not in tokens


def test_index_tokens_split_chinese_into_characters_and_keep_words():
    tokens = index_tokens("我想买蓝牙耳机 iPhone-15 cables")
    assert tokens[:4] == ["蓝", "牙", "耳", "机"]
    assert "我" not in tokens and "买" not in tokens
    assert "iphone15" in tokens and "iphone" in tokens and "cable" in tokens
    assert index_tokens("HP Notebooks") == tokenize("HP Notebooks")


def test_stem_en():
    assert [stem_en(w) for w in ["cables", "batteries", "boxes", "glass", "bus", "mouse"]] == [
        "cable", "battery", "box", "glass", "bus", "mouse"]


def test_has_cjk():
    assert has_cjk("iphone 手机") and not has_cjk("iphone")


def test_traditional_chinese_is_simplified_and_other_text_kept():
    from tools.hanzi import is_traditional, to_simplified

    assert to_simplified("鼻頭 手機殼 iPhone 15") == "鼻头 手机壳 iPhone 15"
    assert to_simplified("蓝牙耳机 200以内") == "蓝牙耳机 200以内"
    assert to_simplified("wireless mouse") == "wireless mouse"
    assert is_traditional("休閒服") and not is_traditional("休闲服")
