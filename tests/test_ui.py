"""The chat widget: HTML rendering (escaping, prices, trace) and the real page driven by headless Chromium over the
real stack (e5 embeddings in chromadb, the intent classifier, the bundled Qwen model on llama.cpp)."""

from __future__ import annotations

import json
import re
import socket
import time
from pathlib import Path

import pytest

from assistant.agent import AgentTurn, ProductCard, TraceStep
from assistant.app import DEMO_CATALOG
from assistant.ui_render import cards_html, format_price, trace_html, traces_html

INJECTED = {"id": "inj-1", "title": '<script>window.__sqPwned=1</script><img src=x onerror="window.__sqPwned=2"> '
                                     "Acme hacker mug", "brand": "<b>Acme</b>", "category": "Mug", "price": 9.5,
            "currency": "USD", "color": "white", "attributes": {"note": "<i>ceramic</i>"}}


def _turn(**kwargs) -> AgentTurn:
    base = {"session_id": "s", "message": "m", "lang": "en", "action": "search", "reply": "r"}
    return AgentTurn(**base | kwargs)


# ------------------------------------------------------------------------------------------ rendering (fast)
def test_cards_escape_every_catalog_string():
    card = ProductCard(id='a"b', title=INJECTED["title"], brand="<b>Acme</b>", category="<u>Mug</u>", price=9.5,
                       currency="USD", attributes={"note": "<i>ceramic</i>"}, reason="<em>you like Acme</em>")
    page = cards_html([card], "en", 3)
    assert "<script" not in page and "<img" not in page and "<b>" not in page and "<i>" not in page
    assert "&lt;script&gt;window.__sqPwned=1&lt;/script&gt;" in page
    assert 'data-product-id="a&quot;b"' in page and 'data-turn="3"' in page
    assert "&lt;em&gt;you like Acme&lt;/em&gt;" in page and "$9.50" in page


def test_prices_and_empty_panel_follow_the_language():
    assert format_price(79, "CNY") == "¥79.00" and format_price(19.99, "USD") == "$19.99"
    assert format_price(12, "EUR") == "12.00 EUR" and format_price(None, "USD") == "-"
    assert "商品会显示在这里" in cards_html([], "zh", 0)
    assert "Products appear here" in cards_html([], "en", 0)


def test_trace_shows_arguments_timings_and_fallbacks_escaped():
    turn = _turn(message="<b>mouse</b>", fallback="the model is unavailable (<x>)", first_token_ms=12.0,
                 total_ms=40.0, trace=[TraceStep(kind="tool", name="search_catalog", args={"query": "<b>mouse</b>"},
                                                 result="5 products", ms=7.4),
                                       TraceStep(kind="fallback", name="templated_reply", error="<boom>")])
    block = trace_html(turn, 2, "en")
    assert '<details class="sq-turn" data-turn="2" open>' in block
    assert "&lt;b&gt;mouse&lt;/b&gt;" in block and "<b>mouse" not in block
    assert "first token 12 ms" in block and "total 40 ms" in block and "fallback: the model is unavailable" in block
    assert "&lt;boom&gt;" in block and 'data-name="search_catalog"' in block
    assert traces_html([block, "<details>older</details>"], "en").index("older") < \
        traces_html([block, "<details>older</details>"], "en").index("search_catalog")



# ------------------------------------------------------------------------------------------ the real page
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _catalog_rows() -> list[dict]:
    """A slice of the demo catalog: T-shirts, sports shoes, mice and phone cases plus every 10th product, and one
    product whose text is markup."""
    rows = [json.loads(line) for line in DEMO_CATALOG.read_text(encoding="utf-8").splitlines()]
    words = ("t恤", "mouse", "运动鞋", "手机壳", "卫衣")
    keep = [r for i, r in enumerate(rows) if i % 10 == 0 or any(w in r["title"].lower() for w in words)
            or (r.get("brand") or "").lower() in ("耐克", "nike")]
    return [*keep, INJECTED]


@pytest.fixture(scope="module")
def ui_assistant(tmp_path_factory, embedded_chat_model_05b):
    from assistant.agent import Agent
    from assistant.app import Assistant
    from assistant.settings import Settings

    data = tmp_path_factory.mktemp("ui-data")
    catalog = data / "catalog.jsonl"
    catalog.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in _catalog_rows()) + "\n",
                       encoding="utf-8")
    start = time.perf_counter()
    assistant = Assistant(Settings(data_dir=data))
    result = assistant.ingest(catalog, progress=False)
    assistant.use(chat_model=embedded_chat_model_05b, agent=Agent(assistant, reply_tokens=60))
    seeded = assistant.ensure_demo_users()
    warm = assistant.warm_up()
    print(f"\n[ui] catalog {result.loaded} products, {sum(seeded.values())} demo events, ready in "
          f"{time.perf_counter() - start:.1f} s (warm-up {warm:.1f} s)")
    return assistant


@pytest.fixture
def ui_url(ui_assistant):
    """The widget served on a free loopback port (started inside the test, under the network guard)."""
    from assistant.ui import launch

    port = _free_port()
    start = time.perf_counter()
    blocks = launch(ui_assistant, host="127.0.0.1", port=port, prevent_thread_lock=True, quiet=True)
    print(f"[ui] server up in {time.perf_counter() - start:.1f} s on 127.0.0.1:{port}")
    yield f"http://127.0.0.1:{port}/"
    blocks.close()


def _price_limit(chips: list[str]) -> tuple[str, float]:
    for label in chips:
        match = re.fullmatch(r"(\d+)元以内", label)
        if match:
            return label, float(match.group(1))
    raise AssertionError(f"no price chip among {chips}")


@pytest.mark.integration
@pytest.mark.slow
def test_the_widget_in_headless_chromium(ui_url, tmp_path):
    from playwright.sync_api import sync_playwright
    from ui_driver import CHROMIUM, ShopPage, open_browser

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (scripts/setup.sh installs it)")
    timings: dict[str, object] = {}
    with sync_playwright() as pw:
        context, requested, blocked = open_browser(pw, tmp_path / "chromium-profile")
        try:
            ui = ShopPage(context.pages[0] if context.pages else context.new_page(), ui_url)
            timings["page load s"] = round(ui.open(), 2)
            assert ui.send_label() == "Send"

            # a Chinese query: cards, Chinese labels, a streamed reply
            ui.type_and_send("蓝色T恤 100元以内")
            timings["turn 1 (zh)"] = ui.wait_turn(1)
            cards = ui.cards()
            assert cards, "no product cards for the Chinese query"
            assert ui.send_label() == "发送" and "例如" in ui.placeholder()
            assert ui.user_messages() == ["蓝色T恤 100元以内"] and ui.last_bot_message()
            assert {s["name"] for s in ui.trace(1)} >= {"classify_intent", "parse_attributes", "search_catalog"}

            # a price chip is the next turn's message, and the search used it
            label, limit = _price_limit(ui.chips())
            ui.click_chip(label)
            timings["turn 2 (chip)"] = ui.wait_turn(2)
            assert ui.user_messages()[-1] == label and ui.trace_message(2) == label
            search = next(s for s in ui.trace(2) if s["name"] == "search_catalog")
            assert search["args"].get("price_max") == limit, search
            assert ui.cards() and all(c["price"] is not None and c["price"] <= limit for c in ui.cards())

            # an English query with a typo: corrected, labels back in English; 'search instead' runs it as typed
            ui.new_conversation()
            ui.type_and_send("wireles mouse")
            timings["turn 3 (en, corrected)"] = ui.wait_turn(3)
            assert ui.send_label() == "Send"
            assert "wireless mouse" in ui.correction(), ui.correction()
            assert ui.instead_label() == "Search instead for “wireles mouse”"
            assert any("mouse" in c["title"].lower() for c in ui.cards())
            ui.search_instead()
            timings["turn 4 (search instead)"] = ui.wait_turn(4)
            assert ui.user_messages()[-1] == "wireles mouse" and ui.correction() == ""
            names = [s["name"] for s in ui.trace(4)]
            assert "search_catalog" in names and "correct_spelling" not in names
            assert "correct_spelling" in [s["name"] for s in ui.trace(3)]

            # product text that is markup is shown as text, never run
            ui.type_and_send("acme hacker mug")
            timings["turn 5 (markup product)"] = ui.wait_turn(5)
            shown = [c for c in ui.cards() if c["id"] == "inj-1"]
            assert shown, ui.cards()
            assert shown[0]["title"].startswith("<script>window.__sqPwned=1</script><img src=x")
            assert shown[0]["brand"] == "<b>Acme</b>"
            assert ui.elements_in_products("script") == 0 and ui.elements_in_products("img") == 0
            assert ui.elements_in_products("b") == 0
            assert ui.page.evaluate("typeof window.__sqPwned") == "undefined"

            # input the assistant refuses: a clear message, and the text stays in the box
            too_long = "mouse " * 120
            ui.paste_and_send(too_long)
            error = ui.wait_reply_containing("⚠")
            assert "512" in error, error
            assert ui.input_value() == too_long and ui.page.locator('.sq-products[data-turn="5"]').count() == 1

            # a demo shopper: switching starts a new conversation and the cards carry personal reasons
            ui.choose_user("demo-zh-nike")
            assert ui.user_messages() == [] and ui.cards() == []
            ui.type_and_send("运动鞋")
            timings["turn 6 (demo shopper)"] = ui.wait_turn(6)
            assert ui.cards() and any(c["reason"] for c in ui.cards()), ui.cards()
            assert ui.trace_message(6) == "运动鞋"
            assert "lookup_user_history" in [s["name"] for s in ui.trace(6)]

            shot = ui.screenshot(tmp_path / "shopquery-ui.png")
            print(f"[ui] screenshot: {shot}")
        finally:
            context.close()
    for name, value in timings.items():
        print(f"[ui] {name}: {value}")
    streamed = max(t["partials"] for t in timings.values() if isinstance(t, dict))
    # the facts are shown at once and the model's line of advice after it passes the reply checks (model text
    # is never shown before it is checked): a streaming turn shows at least those two steps
    assert streamed >= 2, f"no turn was seen streaming ({timings})"
    print(f"[ui] {len(requested)} browser requests, all to loopback: {not blocked}")
    assert not blocked, f"the page tried to reach the network: {blocked[:5]}"
    assert requested
