"""Property-based tests of the HTTP API's request models: any JSON value (or any bytes as a JSON body) gives a
ValidationError naming its fields, or a valid model that round-trips through its own JSON — never another error."""

from __future__ import annotations

import pytest
from fuzz.checks import check_request, check_request_json
from fuzz.strategies import examples, request_bodies
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from assistant.api_models import AnalyzeRequest, ChatCompletionRequest, ChatRequest, OpenAIMessage

FUZZ = settings(max_examples=examples(250), deadline=None, suppress_health_check=[HealthCheck.too_slow])
MODELS = [AnalyzeRequest, ChatRequest, ChatCompletionRequest]


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
@FUZZ
@given(body=request_bodies())
@example(body={"query": "x", "k": 1e308})
@example(body={"messages": [{"role": "user", "content": [{"type": "image_url"}]}]})
@example(body={"messages": [{"role": "user", "content": None}], "n": True})
def test_any_json_gives_a_validation_error_or_a_valid_model(model, body):
    check_request(model, body)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
@FUZZ
@given(raw=st.one_of(st.binary(max_size=120), st.text(max_size=120).map(str.encode)))
@example(raw=b"[" * 10_000)
@example(raw=b'{"query": ' + b"1" * 5000 + b"}")
@example(raw=b'{"message": "\\ud800"}')
def test_any_bytes_as_a_json_body_give_a_validation_error_or_a_valid_model(model, raw):
    check_request_json(model, raw)


def test_request_models_refuse_unknown_fields_and_bad_ids():
    with pytest.raises(ValidationError) as info:
        ChatRequest.model_validate({"message": "hi", "session_id": "../../etc"})
    assert info.value.errors()[0]["loc"] == ("session_id",)
    with pytest.raises(ValidationError):
        AnalyzeRequest.model_validate({"query": "x", "tools": ["record_event"]})


def test_a_message_with_non_text_parts_says_so():
    message = OpenAIMessage.model_validate({"role": "user", "content": [{"type": "text", "text": "hi"},
                                                                          {"type": "image_url"}]})
    with pytest.raises(ValueError, match="only text content"):
        message.text()
