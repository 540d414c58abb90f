"""Drive the chat widget in a real headless Chromium (Python Playwright on the system's /usr/bin/chromium)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from urllib.parse import urlparse

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


def open_browser(playwright, profile_dir: Path):
    """Chromium with an empty profile; every request leaving the machine is aborted and remembered."""
    context = playwright.chromium.launch_persistent_context(
        str(profile_dir), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
        viewport={"width": 1280, "height": 1100}, locale="en-US")
    blocked: list[str] = []
    requested: list[str] = []

    def guard(route):
        url = route.request.url
        requested.append(url)
        if urlparse(url).scheme in ("http", "https", "ws", "wss") and urlparse(url).hostname not in LOOPBACK:
            blocked.append(url)
            route.abort()
        else:
            route.continue_()

    context.route("**/*", guard)
    return context, requested, blocked


class ShopPage:
    """The widget's page, addressed by the element ids the widget sets (sq-*)."""

    def __init__(self, page, url: str):
        self.page = page
        self.url = url
        self._bot_count = 0  # replies on the page before the last action (older replies are not streaming)

    def open(self, timeout_s: float = 60) -> float:
        """Load the page; seconds until the input box is there."""
        start = time.perf_counter()
        self.page.goto(self.url)
        self.page.wait_for_selector("#sq-input textarea", timeout=timeout_s * 1000)
        return time.perf_counter() - start

    # ------------------------------------------------------------------ actions
    def type_and_send(self, text: str) -> None:
        """Type a message key by key into the emptied box and press the send button."""
        self._before_action()
        box = self.page.locator("#sq-input textarea")
        box.fill("")
        box.click()
        box.press_sequentially(text, delay=15)
        self.page.click("#sq-send")

    def paste_and_send(self, text: str) -> None:
        """Put a (long) message in the box at once and press send."""
        self._before_action()
        self.page.fill("#sq-input textarea", text)
        self.page.click("#sq-send")

    def wait_reply_containing(self, text: str, timeout_s: float = 60) -> str:
        """Wait until the newest reply contains `text`; returns it."""
        start = time.perf_counter()
        while time.perf_counter() - start < timeout_s:
            replies = self.bot_messages()
            if len(replies) > self._bot_count and text in replies[-1]:
                return replies[-1]
            self.page.wait_for_timeout(50)
        raise TimeoutError(f"no reply containing {text!r} within {timeout_s} s")

    def click_chip(self, label: str) -> None:
        """Press the suggestion chip with this label."""
        self._before_action()
        self.page.locator(".sq-chip", has_text=label).first.click()

    def search_instead(self) -> None:
        """Press 'search instead for …'."""
        self._before_action()
        self.page.click("#sq-instead")

    def _before_action(self) -> None:
        self._bot_count = len(self.bot_messages())

    def new_conversation(self) -> None:
        """Press 'new conversation' and wait until the chat is empty."""
        self.page.click("#sq-new")
        self.page.wait_for_selector('.sq-products[data-turn="0"]')

    def choose_user(self, user_id: str) -> None:
        """Pick a shopper in the selector (this starts a new conversation)."""
        self.page.click("#sq-user input")
        self.page.locator("#sq-user li[role=option]", has_text=user_id).first.click()
        self.page.wait_for_selector('.sq-products[data-turn="0"]')

    def wait_turn(self, number: int, timeout_s: float = 180) -> dict:
        """Wait until turn `number` is rendered; returns seconds to the first streamed text and to the end, and
        how many different partial replies were seen while it streamed."""
        start = time.perf_counter()
        first: float | None = None
        partials: set[str] = set()
        done = f'.sq-products[data-turn="{number}"]'
        while time.perf_counter() - start < timeout_s:
            if self.page.locator(done).count():
                return {"first_text_s": first, "total_s": time.perf_counter() - start, "partials": len(partials)}
            replies = self.bot_messages()
            text = replies[-1] if len(replies) > self._bot_count else ""
            if text and text != "…":
                first = first if first is not None else time.perf_counter() - start
                partials.add(text)
            self.page.wait_for_timeout(40)
        raise TimeoutError(f"turn {number} was not rendered within {timeout_s} s")

    # ------------------------------------------------------------------ reading
    def _texts(self, selector: str) -> list[str]:
        return self.page.eval_on_selector_all(selector, "els => els.map(e => e.innerText.trim())")

    def user_messages(self) -> list[str]:
        return self._texts('#sq-chat [data-testid="user"]')

    def bot_messages(self) -> list[str]:
        return self._texts('#sq-chat [data-testid="bot"]')

    def last_bot_message(self) -> str:
        messages = self.bot_messages()
        return messages[-1] if messages else ""

    def cards(self) -> list[dict]:
        """The product cards shown: id, price, title, brand and reason as the shopper reads them."""
        return self.page.eval_on_selector_all("#sq-products .sq-card", """els => els.map(e => ({
            id: e.dataset.productId, price: e.dataset.price === '' ? null : Number(e.dataset.price),
            title: e.querySelector('.sq-title').innerText, brand: e.querySelector('.sq-brand').innerText,
            reason: e.querySelector('.sq-reason') ? e.querySelector('.sq-reason').innerText : ''}))""")

    def elements_in_products(self, tag: str) -> int:
        """How many elements of this tag the product panel holds (injected markup would add some)."""
        return self.page.eval_on_selector("#sq-products", f"e => e.querySelectorAll('{tag}').length")

    def chips(self) -> list[str]:
        return [t for t in self._texts(".sq-chip") if t]

    def correction(self) -> str:
        return self.page.inner_text("#sq-correction").strip()

    def instead_label(self) -> str | None:
        button = self.page.locator("#sq-instead")
        return button.inner_text().strip() if button.is_visible() else None

    def send_label(self) -> str:
        return self.page.inner_text("#sq-send").strip()

    def placeholder(self) -> str:
        return self.page.get_attribute("#sq-input textarea", "placeholder") or ""

    def input_value(self) -> str:
        return self.page.input_value("#sq-input textarea")

    def open_trace(self) -> None:
        """Unfold the trace panel (its content is rendered only when open)."""
        if not self.page.locator("#sq-trace .sq-trace").count():
            self.page.click("#sq-trace-panel .label-wrap")
            self.page.wait_for_selector("#sq-trace .sq-trace")

    def trace(self, number: int) -> list[dict]:
        """The steps of turn `number` from the trace panel: kind, name, args (parsed) and result."""
        self.open_trace()
        rows = self.page.eval_on_selector_all(f'#sq-trace details.sq-turn[data-turn="{number}"] tr.sq-step',
                                              """els => els.map(e => ({kind: e.dataset.kind, name: e.dataset.name,
                                              args: e.cells[3].textContent, result: e.cells[4].textContent}))""")
        for row in rows:
            row["args"] = json.loads(row["args"]) if row["args"] else {}
        return rows

    def trace_message(self, number: int) -> str:
        self.open_trace()
        return self.page.eval_on_selector(f'#sq-trace details.sq-turn[data-turn="{number}"] .sq-turn-message',
                                          "e => e.textContent")

    def screenshot(self, path: Path) -> Path:
        self.page.screenshot(path=str(path), full_page=True)
        return path
