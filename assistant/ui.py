"""The Gradio chat widget: a thin surface over `Agent.respond` (no prompt or tool logic here).

The reply streams as the agent emits it; the products, the corrected query ("showing results for …, search instead
for …"), one-click suggestion chips and the trace of every turn are rendered from the `AgentTurn`. Every catalog,
shopper and model string is HTML-escaped before it reaches the page. Labels follow the shopper's language."""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from assistant.ui_render import (
    CSS,
    GUEST,
    LABELS,
    cards_html,
    correction_html,
    escape,
    trace_html,
    traces_html,
    user_choices,
)
from tools.core.errors import ConfigError, ShopqueryError

if TYPE_CHECKING:
    import gradio as gr

MAX_CHIPS = 8
MAX_TRACE_TURNS = 20
STREAM_EVERY_S = 0.05
AGENT_QUEUE = "shopquery-agent"


def _import_gradio() -> Any:
    """Import gradio with analytics off and the model hub offline (both read at import time)."""
    from assistant.app import offline_environment

    offline_environment()
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        import gradio
    except ImportError as exc:
        raise ConfigError("the chat widget needs gradio: pip install gradio==6.31.0") from exc
    return gradio


def theme() -> Any:
    """The widget's theme: system fonts only, so the page fetches no web fonts."""
    gr = _import_gradio()
    return gr.themes.Default(font=["system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])


# ---------------------------------------------------------------------------------------------- the agent
def stream_turn(agent: Any, message: str, session_id: str | None, user_id: str | None,
                literal: bool = False) -> Iterator[Any]:
    """Run one turn in a worker thread; yield the reply text so far as tokens arrive, then the AgentTurn.
    An exception of the turn is raised here."""
    tokens: queue.Queue[str] = queue.Queue()
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["turn"] = agent.respond(message, session_id=session_id, user_id=user_id, on_token=tokens.put,
                                            correct_spelling=False if literal else None)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            outcome["error"] = exc

    worker = threading.Thread(target=work, name="shopquery-ui-turn", daemon=True)
    worker.start()
    text, last = "", 0.0
    while worker.is_alive() or not tokens.empty():
        try:
            text += tokens.get(timeout=STREAM_EVERY_S)
        except queue.Empty:
            continue
        if time.perf_counter() - last >= STREAM_EVERY_S:
            last = time.perf_counter()
            yield text
    worker.join()
    if "error" in outcome:
        raise outcome["error"]
    yield outcome["turn"]


# ---------------------------------------------------------------------------------------------- the page
def _user_lang(user_id: str | None) -> str | None:
    from tools.demo_users import load_demo_users

    return next((u.lang for u in load_demo_users() if u.id == user_id), None)


class ChatWidget:
    """The components of the page and the handlers that connect them to the agent."""

    def __init__(self, gr: Any, assistant: Any, user_id: str | None, lang: str, concurrency: int):
        self.gr = gr
        self.extra_user = user_id
        self.agent = assistant.agent
        self.concurrency = concurrency
        self._layout(user_id, lang)
        self._wire()

    # ------------------------------------------------------------------ layout
    def _layout(self, user_id: str | None, lang: str) -> None:
        gr, labels = self.gr, LABELS[lang]
        self.lang = gr.State(lang)
        self.session = gr.State(None)
        self.history = gr.State([])
        self.turns = gr.State([])
        self.chip_messages = gr.State([])
        self.original = gr.State(None)
        self.title = gr.Markdown(f"## {labels['title']}", elem_id="sq-title")
        with gr.Row(equal_height=True):
            self.user = gr.Dropdown(choices=user_choices(lang, user_id), value=user_id or GUEST,
                                    label=labels["user"], elem_id="sq-user", scale=4, interactive=True)
            self.new = gr.Button(labels["new"], elem_id="sq-new", scale=1)
        with gr.Row():
            with gr.Column(scale=3):
                self.chatbot = gr.Chatbot(label=labels["chat"], elem_id="sq-chat", height=440,
                                          feedback_options=None, buttons=["copy"])
                with gr.Row():
                    self.correction = gr.HTML("", elem_id="sq-correction")
                    self.instead = gr.Button(visible=False, size="sm", variant="secondary", elem_id="sq-instead")
                with gr.Row(elem_id="sq-chips"):
                    self.chips = [gr.Button(visible=False, size="sm", scale=0, min_width=60, elem_id=f"sq-chip-{i}",
                                            elem_classes=["sq-chip"]) for i in range(MAX_CHIPS)]
                with gr.Row():
                    self.box = gr.Textbox(placeholder=labels["placeholder"], show_label=False, scale=5,
                                          elem_id="sq-input", autofocus=True, max_lines=3)
                    self.send = gr.Button(labels["send"], variant="primary", scale=1, elem_id="sq-send")
            with gr.Column(scale=2):
                self.products = gr.HTML(cards_html([], lang, 0), label=labels["products"], show_label=True,
                                        container=True, elem_id="sq-products")
        with gr.Accordion(labels["trace"], open=False, elem_id="sq-trace-panel") as self.trace_panel:
            self.trace = gr.HTML(traces_html([], lang), elem_id="sq-trace")

    @property
    def _turn_outputs(self) -> list[Any]:
        return [self.box, self.chatbot, self.history, self.session, self.products, self.correction, self.instead,
                self.original, *self.chips, self.chip_messages, self.trace, self.turns, self.lang, self.title,
                self.user, self.new, self.send, self.trace_panel]

    def _wire(self) -> None:
        common = [self.lang, self.session, self.user, self.history, self.turns]
        options = {"outputs": self._turn_outputs, "concurrency_limit": self.concurrency,
                   "concurrency_id": AGENT_QUEUE, "show_progress": "hidden",
                   "api_visibility": "private"}  # the HTTP API is `shopquery serve`, not the page's events
        self.box.submit(self._typed, [self.box, *common], **options)
        self.send.click(self._typed, [self.box, *common], **options)
        self.instead.click(self._search_instead, [self.original, *common], **options)
        for i, chip in enumerate(self.chips):
            chip.click(self._chip_handler(i), [self.chip_messages, *common], **options)
        reset_outputs = [self.chatbot, self.history, self.session, self.products, self.correction, self.instead,
                         self.original, *self.chips, self.chip_messages]
        self.new.click(self._reset, [self.lang], reset_outputs, api_visibility="private")
        self.user.input(self._reset, [self.lang], reset_outputs, api_visibility="private")

    # ------------------------------------------------------------------ handlers
    def _typed(self, message: str, *state: Any) -> Iterator[dict[Any, Any]]:
        yield from self._run(message, *state, literal=False)

    def _search_instead(self, original: str | None, *state: Any) -> Iterator[dict[Any, Any]]:
        yield from self._run(original or "", *state, literal=True)

    def _chip_handler(self, index: int) -> Any:
        def on_chip(messages: list[str], *state: Any) -> Iterator[dict[Any, Any]]:
            if index < len(messages):
                yield from self._run(messages[index], *state, literal=False)

        return on_chip

    def _reset(self, lang: str) -> list[Any]:
        """A new conversation (also when the shopper changes): nothing of the old session is carried over; the
        trace panel keeps the earlier turns (numbered on) for debugging."""
        gr = self.gr
        hidden = [gr.Button(visible=False) for _ in self.chips]
        return [[], [], None, cards_html([], lang, 0), "", gr.Button(visible=False), None, *hidden, []]

    def _run(self, message: str, lang: str, session_id: str | None, user: str | None, history: list[dict],
             turns: list[Any], *, literal: bool) -> Iterator[dict[Any, Any]]:
        """One turn: show the message, stream the reply, then the products, correction, chips and trace."""
        if not (message or "").strip():
            return
        labels = LABELS[lang]
        history = [*history, {"role": "user", "content": escape(message)},
                   {"role": "assistant", "content": labels["working"]}]
        yield {self.box: "", self.chatbot: history}
        user_id = None if user in (None, "", GUEST) else user
        try:
            for item in stream_turn(self.agent, message, session_id, user_id, literal):
                if isinstance(item, str):
                    history[-1] = {"role": "assistant", "content": escape(item)}
                    yield {self.chatbot: history}
                else:
                    turn = item
        except Exception as exc:  # noqa: BLE001 - any failure is shown, and the typed text is given back
            detail = str(exc) if isinstance(exc, ShopqueryError) else f"{type(exc).__name__}: {exc}"
            history[-1] = {"role": "assistant", "content": f"⚠ {escape(labels['error'])}: {escape(detail)}"}
            yield {self.chatbot: history, self.history: history, self.box: message}
            return
        history[-1] = {"role": "assistant", "content": escape(turn.reply)}
        number = turns[-1][0] + 1 if turns else 1
        yield self._finish(turn, history, [*turns, (number, turn)][-MAX_TRACE_TURNS:], lang, literal)

    def _finish(self, turn: Any, history: list[dict], turns: list[tuple[int, Any]], lang: str,
                literal: bool) -> dict[Any, Any]:
        gr, new_lang = self.gr, turn.lang
        labels = LABELS[new_lang]
        blocks = [trace_html(t, no, t.lang, open_=no == turns[-1][0]) for no, t in turns]
        corrected = bool(turn.corrected_query) and not literal
        chips = turn.suggestions[:MAX_CHIPS]
        products = cards_html(turn.products, new_lang, turns[-1][0])
        out: dict[Any, Any] = {
            self.chatbot: history, self.history: history, self.session: turn.session_id, self.turns: turns,
            self.products: products, self.correction: correction_html(turn, new_lang) if corrected else "",
            self.instead: gr.Button(value=f"{labels['instead']} “{turn.message}”", visible=corrected),
            self.original: turn.message if corrected else None,
            self.chip_messages: [s.message for s in chips], self.trace: traces_html(blocks, new_lang),
        }
        for i, button in enumerate(self.chips):
            out[button] = gr.Button(value=chips[i].label, visible=True) if i < len(chips) else gr.Button(visible=False)
        if new_lang != lang:
            out.update(self._relabel(new_lang, history, products))
        return out

    def _relabel(self, lang: str, history: list[dict], products: str) -> dict[Any, Any]:
        """Every fixed label in the shopper's language (values that change in the same update go along)."""
        gr, labels = self.gr, LABELS[lang]
        return {self.lang: lang, self.title: f"## {labels['title']}",
                self.user: gr.Dropdown(choices=user_choices(lang, self.extra_user), label=labels["user"]),
                self.new: gr.Button(value=labels["new"]), self.send: gr.Button(value=labels["send"]),
                self.box: gr.Textbox(placeholder=labels["placeholder"]),
                self.chatbot: gr.Chatbot(value=history, label=labels["chat"]),
                self.trace_panel: gr.Accordion(label=labels["trace"]),
                self.products: gr.HTML(value=products, label=labels["products"])}


def build_ui(assistant: Any, user_id: str | None = None, lang: str | None = None,
             concurrency: int = 1) -> gr.Blocks:
    """The chat page over an Assistant (its agent answers every turn). `concurrency` bounds turns running at
    once across all visitors: 1 for an in-process model, more for a model server."""
    gr = _import_gradio()
    start_lang = lang or _user_lang(user_id) or "en"
    with gr.Blocks(title="shopquery", analytics_enabled=False) as blocks:
        ChatWidget(gr, assistant, user_id, start_lang, concurrency)
    return blocks


def launch(assistant: Any, host: str = "127.0.0.1", port: int = 7860, user_id: str | None = None, *,
           concurrency: int = 1, prevent_thread_lock: bool = False, quiet: bool = False) -> gr.Blocks:
    """Serve the chat page (loopback by default, never a share link); returns the running Blocks."""
    blocks = build_ui(assistant, user_id=user_id, concurrency=concurrency)
    blocks.queue(default_concurrency_limit=concurrency)
    blocks.launch(server_name=host, server_port=port, share=False, ssr_mode=False, theme=theme(), css=CSS,
                  footer_links=["settings"], prevent_thread_lock=prevent_thread_lock, quiet=quiet,
                  inbrowser=False)
    return blocks


def mount_ui(app: Any, assistant: Any, path: str = "/shop", user_id: str | None = None,
             concurrency: int = 1) -> Any:
    """Mount the chat page on an existing FastAPI app at `path`; returns the app (serve it with uvicorn)."""
    gr = _import_gradio()
    blocks = build_ui(assistant, user_id=user_id, concurrency=concurrency)
    return gr.mount_gradio_app(app, blocks, path=path, theme=theme(), css=CSS, ssr_mode=False,
                               footer_links=[])
