"""Answering a shopping question from search results with the chat model, falling back to the plain results
when the model is unavailable or fails."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from assistant.errors import ModelUnavailable
from assistant.types import QueryAnalysis, SearchHit
from tools.text import has_cjk

Lang = str


@dataclass
class ChatTurn:
    """One answered message: the reply text, the products it is based on, and whether the model was used."""

    question: str
    reply: str
    products: list[SearchHit]
    analysis: QueryAnalysis
    used_model: bool = True
    notes: list[str] = field(default_factory=list)


def language_of(text: str) -> Lang:
    """'zh' when the text contains Chinese, else 'en'."""
    return "zh" if has_cjk(text) else "en"


def fallback_reply(hits: list[SearchHit], lang: Lang) -> str:
    """A plain list of the products found, used when the model cannot answer."""
    if not hits:
        return "没有找到匹配的商品，换个说法试试？" if lang == "zh" else "No matching products; try other words?"
    head = "为你找到这些商品：" if lang == "zh" else "Here is what I found:"
    lines = [head]
    for i, hit in enumerate(hits, start=1):
        p = hit.product
        price = f" — {p.price:.2f} {p.currency or ''}".rstrip() if p.price is not None else ""
        lines.append(f"{i}. {p.title}{price}")
    return "\n".join(lines)


def answer_question(assistant, question: str, on_token: Callable[[str], None] | None = None,
                    k: int = 5, max_tokens: int = 200) -> ChatTurn:
    """Search for the question, then let the chat model write a reply that cites the products found."""
    analysis = assistant.analyze(question, k=k)
    hits = analysis.products
    lang = language_of(question)
    products = [h.product.model_dump() for h in hits]
    messages = [
        ("system", assistant.prompts.render("answer", "system", lang)),
        ("user", assistant.prompts.render("answer", "user", lang, question=analysis.query, products=products)),
    ]
    try:
        model = assistant.chat_model
        parts: list[str] = []
        for chunk in model.stream(messages, max_tokens=max_tokens, temperature=0.2):
            text = chunk.content if isinstance(chunk.content, str) else ""
            parts.append(text)
            if on_token and text:
                on_token(text)
        reply = "".join(parts).strip()
        if not reply:
            raise ModelUnavailable("the model returned an empty reply")
        return ChatTurn(question, reply, hits, analysis)
    except Exception as exc:  # noqa: BLE001 - any model failure (down, timeout, garbage) falls back
        note = f"model unavailable ({exc}); showing search results instead"
        return ChatTurn(question, fallback_reply(hits, lang), hits, analysis, used_model=False, notes=[note])
