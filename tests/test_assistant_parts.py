"""Supplying an Assistant's parts: constructor arguments, `use` and the `override` block; what is built over a
replaced part is dropped, and an override puts everything back."""

import pytest
from conftest import SMALL_CATALOG
from fakes import FixedIntent, HashEmbedder, ScriptedChatModel

from assistant.agent import Agent
from assistant.app import Assistant
from assistant.settings import Settings
from tools.attributes import AttributeParser
from tools.catalog_store import CatalogStore


@pytest.fixture
def settings(tmp_path):
    return Settings(data_dir=tmp_path, correct_spelling=False, expand_queries=False, suggest_rewrites=False)


def test_supplied_parts_are_used_and_nothing_else_is_built(settings):
    embedder, model = HashEmbedder(), ScriptedChatModel()
    app = Assistant(settings, embedder=embedder, chat_model=model, ranking=None)
    assert app.embedder is embedder and app.chat_model is model and app.ranking is None
    assert app.built_parts() == {"embedder": embedder, "chat_model": model, "ranking": None}
    assert Assistant(settings).built_parts() == {}


def test_a_replaced_part_drops_what_was_built_over_it_and_keeps_what_was_supplied(settings, tmp_path):
    first = HashEmbedder()
    app = Assistant(settings, embedder=first, intent_classifier=FixedIntent())
    built_store, built_parser = app.store, app.attribute_parser  # built over the first embedder
    assert built_store.embedder is first and set(app.built_parts()) == {
        "embedder", "intent_classifier", "store", "attribute_parser"}
    second = HashEmbedder()
    app.use(embedder=second)
    assert set(app.built_parts()) == {"embedder", "intent_classifier"}
    assert app.store is not built_store and app.store.embedder is second and app.attribute_parser is not built_parser

    store = CatalogStore(tmp_path / "own", first)
    supplied = Assistant(settings, embedder=first, store=store,
                         attribute_parser=AttributeParser.from_products(SMALL_CATALOG))
    supplied.use(embedder=second)
    assert supplied.store is store and set(supplied.built_parts()) == {"embedder", "store", "attribute_parser"}


def test_an_override_swaps_parts_inside_the_block_and_restores_them(settings):
    model = ScriptedChatModel()
    app = Assistant(settings, chat_model=model)
    agent = app.agent  # built over the model
    other = ScriptedChatModel()
    with app.override(chat_model=other) as same:
        assert same is app and app.chat_model is other
        assert "agent" not in app.built_parts()  # it kept state of the model it was built with
        assert isinstance(app.agent, Agent) and app.agent is not agent
    assert app.chat_model is model and app.agent is agent

    mine = Agent(app, use_model=False)
    app.use(agent=mine)
    with app.override(chat_model=other):
        assert app.agent is mine  # a supplied agent stays
    with pytest.raises(RuntimeError, match="inside"), app.override(agent=Agent(app, k=3)):
        raise RuntimeError("inside")
    assert app.agent is mine and app.chat_model is model


def test_an_unknown_part_is_a_clear_error_and_changes_nothing(settings):
    model = ScriptedChatModel()
    app = Assistant(settings, chat_model=model)
    with pytest.raises(TypeError, match="unknown Assistant part.*chat_mdl; the parts are embedder, store"):
        app.use(chat_mdl=ScriptedChatModel())
    with pytest.raises(TypeError, match="chat_mdl"):
        Assistant(settings, chat_mdl=model)
    assert app.built_parts() == {"chat_model": model}
