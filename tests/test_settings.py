import pytest

from assistant.errors import ConfigError
from assistant.settings import load_settings


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
