import pytest

from assistant.settings import load_settings
from tools.core.errors import ConfigError


def test_defaults_are_embedded_and_offline(monkeypatch, tmp_path):
    monkeypatch.setenv("SHOPQUERY_DATA_DIR", str(tmp_path))
    settings = load_settings()
    assert settings.llm_backend == "embedded"
    assert settings.catalog_dir == tmp_path / "catalog"
    assert settings.history_db_url == f"sqlite:///{tmp_path / 'history.db'}"


def test_openai_backend_without_url_names_the_variable(monkeypatch):
    monkeypatch.setenv("SHOPQUERY_LLM_BACKEND", "openai")
    with pytest.raises(ConfigError, match="SHOPQUERY_LLM_BASE_URL"):
        load_settings()


def test_invalid_value_names_the_variable(monkeypatch):
    monkeypatch.setenv("SHOPQUERY_LLM_THREADS", "many")
    with pytest.raises(ConfigError, match="SHOPQUERY_LLM_THREADS"):
        load_settings()


def test_unknown_backend_is_rejected(monkeypatch):
    monkeypatch.setenv("SHOPQUERY_EMBEDDING_BACKEND", "word2vec")
    with pytest.raises(ConfigError, match="SHOPQUERY_EMBEDDING_BACKEND"):
        load_settings()


def test_config_file_is_read_and_env_wins(monkeypatch, tmp_path):
    config = tmp_path / "shopquery.toml"
    config.write_text('llm_threads = 4\nmax_query_chars = 100\ncollection = "shop"\n')
    monkeypatch.setenv("SHOPQUERY_CONFIG", str(config))
    monkeypatch.setenv("SHOPQUERY_MAX_QUERY_CHARS", "200")
    settings = load_settings()
    assert settings.llm_threads == 4
    assert settings.collection == "shop"
    assert settings.max_query_chars == 200


def test_config_file_missing_or_broken(monkeypatch, tmp_path):
    monkeypatch.setenv("SHOPQUERY_CONFIG", str(tmp_path / "nope.toml"))
    with pytest.raises(ConfigError, match="not a file"):
        load_settings()
    bad = tmp_path / "bad.toml"
    bad.write_text("llm_threads = = 2")
    monkeypatch.setenv("SHOPQUERY_CONFIG", str(bad))
    with pytest.raises(ConfigError, match="cannot parse"):
        load_settings()


def test_unknown_key_in_config_file(monkeypatch, tmp_path):
    config = tmp_path / "c.json"
    config.write_text('{"llm_treads": 3}')
    monkeypatch.setenv("SHOPQUERY_CONFIG", str(config))
    with pytest.raises(ConfigError, match="SHOPQUERY_LLM_TREADS"):
        load_settings()


@pytest.mark.parametrize("name, text", [
    ("c.yaml", "llm_threads: 3\napi_cors_origins: [https://shop.example]\n"),
    ("c.json", '{"llm_threads": 3, "api_cors_origins": ["https://shop.example"]}'),
    ("c.toml", 'llm_threads = 3\napi_cors_origins = ["https://shop.example"]\n'),
])
def test_config_file_formats(monkeypatch, tmp_path, name, text):
    config = tmp_path / name
    config.write_text(text, encoding="utf-8")
    monkeypatch.setenv("SHOPQUERY_CONFIG", str(config))
    settings = load_settings()
    assert settings.llm_threads == 3 and settings.api_cors_origins == ["https://shop.example"]
    assert load_settings(llm_threads=5).llm_threads == 5  # explicit values win over the file


def test_a_config_file_that_is_not_a_table(monkeypatch, tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("- llm_threads\n- 3\n", encoding="utf-8")
    monkeypatch.setenv("SHOPQUERY_CONFIG", str(config))
    with pytest.raises(ConfigError):
        load_settings()


def test_the_model_api_key_is_a_secret(monkeypatch, tmp_path):
    from assistant.llm import build_chat_model

    monkeypatch.setenv("SHOPQUERY_LLM_API_KEY", "sk-live-0123456789abcdef")
    settings = load_settings(llm_backend="openai", llm_base_url="http://127.0.0.1:9/v1", llm_model_name="q",
                             data_dir=tmp_path)
    assert "sk-live" not in repr(settings) and "sk-live" not in str(settings.model_dump())
    assert settings.llm_api_key.get_secret_value() == "sk-live-0123456789abcdef"
    assert build_chat_model(settings).client.api_key == "sk-live-0123456789abcdef"
