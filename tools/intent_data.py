"""Building the intent dataset: label set, mappings of the public intent sets onto it, readers, template
expansion, capped sampling and the deterministic train/dev/test split. No model code here."""

from __future__ import annotations

import csv
import hashlib
import json
import random
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

from pydantic import BaseModel

LABELS = ("product_search", "compare", "purchase", "product_qa", "recommend", "order_status", "return_refund",
          "payment_promotion", "account", "chitchat", "out_of_scope")
OOS_LABEL = "out_of_scope"
SPLITS = ("train", "dev", "test")

# Bitext customer-support intents -> labels (None: no fitting label, left out).
BITEXT_MAP: dict[str, str | None] = {
    "track_order": "order_status", "delivery_options": "order_status", "delivery_period": "order_status",
    "change_order": "order_status", "place_order": "purchase",
    "cancel_order": "return_refund", "get_refund": "return_refund", "track_refund": "return_refund",
    "check_refund_policy": "return_refund", "check_cancellation_fee": "return_refund",
    "payment_issue": "payment_promotion", "check_payment_methods": "payment_promotion",
    "get_invoice": "account", "check_invoice": "account", "check_invoices": "account",
    "create_account": "account", "delete_account": "account", "edit_account": "account",
    "switch_account": "account", "recover_password": "account", "registration_problems": "account",
    "newsletter_subscription": "account", "change_shipping_address": "account",
    "set_up_shipping_address": "account",
    "contact_customer_service": None, "contact_human_agent": None, "complaint": None, "review": None,
}

# CLINC150 intents that keep a shopping meaning or are ambiguous; every other in-scope intent outside
# small talk is unrelated to shopping and becomes out_of_scope.
CLINC_SPECIAL: dict[str, str | None] = {
    "order_status": "order_status", "order": "purchase",
    "shopping_list": None, "shopping_list_update": None, "card_declined": None, "redeem_rewards": None,
    "rewards_balance": None, "pay_bill": None, "transactions": None, "spending_history": None,
    "cancel": None, "yes": None, "no": None, "maybe": None, "repeat": None, "what_can_i_ask_you": None,
    "user_name": None, "change_user_name": None, "reset_settings": None, "sync_device": None,
}
CLINC_CHITCHAT_DOMAIN = "small_talk"
CLINC_DROPPED_DOMAINS = ("meta",)


class IntentExample(BaseModel):
    """One labelled query as stored in eval/data/intent_*.jsonl."""

    text: str
    label: str
    lang: str
    source: str


def stable_hash(text: str) -> int:
    """A process-independent integer hash of a string (SHA-256 prefix)."""
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


def hash_split(key: str, dev: float = 0.1, test: float = 0.1) -> str:
    """Assign a key to train/dev/test by its hash: stable across runs and machines."""
    bucket = (stable_hash(key) % 1000) / 1000
    if bucket < test:
        return "test"
    return "dev" if bucket < test + dev else "train"


def template_split(index: int) -> str:
    """Split written templates by position: every 5th is test-only, the one after it dev-only."""
    return {0: "test", 1: "dev"}.get(index % 5, "train")


def map_bitext(intent: str) -> str | None:
    """Label for a Bitext intent, None when it has no place in the label set."""
    return BITEXT_MAP.get(intent)


def map_clinc(intent: str, domain: str | None) -> str | None:
    """Label for a CLINC150 intent ('oos' included) given its domain."""
    if intent == "oos":
        return OOS_LABEL
    if intent in CLINC_SPECIAL:
        return CLINC_SPECIAL[intent]
    if domain in CLINC_DROPPED_DOMAINS:
        return None
    return "chitchat" if domain == CLINC_CHITCHAT_DOMAIN else OOS_LABEL


def read_bitext(path: Path, source: str) -> list[IntentExample]:
    """Mapped examples of one Bitext CSV file."""
    out = []
    with path.open(encoding="utf-8-sig", newline="") as fh:
        for row in csv.DictReader(fh):
            label = map_bitext(row["intent"].strip())
            text = " ".join(row["utterance"].split())
            if label and text:
                out.append(IntentExample(text=text, label=label, lang="en", source=f"{source}:{row['intent']}"))
    return out


def read_clinc(directory: Path) -> dict[str, list[IntentExample]]:
    """Mapped CLINC150 examples per upstream split: train+oos_train, val+oos_val, test+oos_test."""
    data = json.loads((directory / "data_full.json").read_text(encoding="utf-8"))
    domains = json.loads((directory / "domains.json").read_text(encoding="utf-8"))
    domain_of = {intent: domain for domain, intents in domains.items() for intent in intents}
    out: dict[str, list[IntentExample]] = {}
    for split, upstream in (("train", "train"), ("dev", "val"), ("test", "test")):
        rows = data[upstream] + data[f"oos_{upstream}"]
        out[split] = [IntentExample(text=text, label=label, lang="en", source=f"clinc150:{intent}")
                      for text, intent in rows if (label := map_clinc(intent, domain_of.get(intent)))]
    return out


def read_querylog(path: Path) -> list[IntentExample]:
    """Real Taobao search queries as product_search examples."""
    out = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            parts = line.rstrip("\n").split("\t")
            text = parts[-1].strip()
            if text:
                out.append(IntentExample(text=text, label="product_search", lang="zh", source="multicpr_querylog"))
    return out


def expand_templates(templates: list[str], slots: dict[str, list[str]], per_template: int,
                     rng: random.Random) -> list[str]:
    """Fill each template `per_template` times with random slot values (no slot: the template once)."""
    out = []
    for template in templates:
        names = [name for name in slots if "{" + name + "}" in template]
        if not names:
            out.append(template)
            continue
        for _ in range(per_template):
            values = {name: rng.choice(slots[name]) for name in names}
            if "b" in values and "a" in values and values["a"] == values["b"]:
                continue
            out.append(template.format(**values))
    return out


def cap_per_group(examples: Iterable[IntentExample], cap: int, seed: str) -> list[IntentExample]:
    """At most `cap` examples per (label, source) group, chosen by a seeded hash; order is stable."""
    groups: dict[tuple[str, str], list[IntentExample]] = defaultdict(list)
    for example in examples:
        groups[(example.label, example.source)].append(example)
    kept = []
    for group in groups.values():
        group.sort(key=lambda e: stable_hash(seed + e.text))
        kept.extend(group[:cap])
    return kept


def cap_per_label(examples: Iterable[IntentExample], cap: int, seed: str) -> list[IntentExample]:
    """At most `cap` examples per label, chosen by a seeded hash (keeps the label balance)."""
    by_label: dict[str, list[IntentExample]] = defaultdict(list)
    for example in examples:
        by_label[example.label].append(example)
    kept = []
    for label in sorted(by_label):
        group = sorted(by_label[label], key=lambda e: stable_hash(seed + e.text))
        kept.extend(group[:cap])
    return kept


def dedupe(examples: Iterable[IntentExample], seen: set[str] | None = None) -> list[IntentExample]:
    """Drop repeated texts (case-insensitive); `seen` carries texts already used by another split."""
    seen = set() if seen is None else seen
    out = []
    for example in examples:
        key = example.text.casefold().strip()
        if key not in seen:
            seen.add(key)
            out.append(example)
    return out


def write_jsonl(path: Path, examples: list[IntentExample]) -> None:
    """Write examples as JSONL (UTF-8, one object a line, non-ASCII kept)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for example in examples:
            fh.write(json.dumps(example.model_dump(), ensure_ascii=False) + "\n")


def read_jsonl(path: Path) -> list[IntentExample]:
    """Read a JSONL file written by `write_jsonl` (extra fields ignored, missing lang/source tolerated)."""
    out = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                row = json.loads(line)
                out.append(IntentExample(text=row["text"], label=row["label"], lang=row.get("lang", ""),
                                         source=row.get("source", "")))
    return out


def data_hash(paths: Iterable[Path]) -> str:
    """SHA-256 over the bytes of the given files, in order (identifies the training data of a checkpoint)."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()
