"""Training arguments a console log states about itself.

Issue pastes and job logs often carry the launch command (`--lr_scheduler_type cosine --learning_rate 1e-5`)
or the Trainer's own dump of its arguments (`TrainingArguments(... learning_rate=1e-05, lr_scheduler_type=
SchedulerType.COSINE, ...)`, printed by many scripts and by transformers at INFO level). What they say is
configuration like a config file's, only weaker: the run merges it below every config file.

Only training keys the configuration vocabulary knows are taken, and only values that are a number, a
boolean or a plain name; a key stated twice with different values (two commands in one paste) is dropped,
since nothing says which one ran.
"""
from __future__ import annotations

import re

from . import lazyre
from .. import config as cfgmod

# `--key value`, `--key=value`, and `key=value` inside a `...Arguments(` / `...Config(` dump.
_FLAG = lazyre.compile(rb"(?<![\w-])--([a-z][a-z0-9_]{1,40})(?:=|[ \t]+)([^\s\\'\",;)]{1,64})")
_DUMP_START = lazyre.compile(rb"\b[A-Z]\w{0,40}(?:Arguments|Config)\(")
_DUMP_ITEM = lazyre.compile(rb"(?:^|[\s,(])([a-z_][a-z0-9_]{1,40})=([^\s,)]{1,64})")
_VALUE = lazyre.compile(r"^[-+]?\w[\w.+-]*$")  # a number (1e-05) or a plain name (cosine)
DUMP_SPAN = 16384  # a Trainer dump is ~5 KB; a few more for the TRL configs' fields
HEAD = 1 << 20  # both are printed before training starts: the rest of a long log is metric lines, not searched


def stated_arguments(chunk: bytes) -> dict:
    """{canonical key: typed value} from the launch flags and argument dumps in the first MB of `chunk`."""
    chunk = chunk[:HEAD]
    seen: dict[str, set] = {}

    def note(raw_key: bytes, raw_value: bytes) -> None:
        key = cfgmod.ALIASES.get(raw_key.decode(), raw_key.decode())
        if key not in cfgmod.TRAINING_KEYS or key in cfgmod.ALIASES:
            return
        text = raw_value.decode("utf-8", "replace").strip()
        if text.startswith("SchedulerType.") or text.startswith("IntervalStrategy."):
            text = text.split(".", 1)[1].lower()
        if not _VALUE.match(text):
            return
        value = cfgmod.coerce(key, text)
        if value is not None:
            seen.setdefault(key, set()).add(value)

    if b"--" in chunk:
        for m in _FLAG.finditer(chunk):
            note(m.group(1), m.group(2))
    for start in _DUMP_START.finditer(chunk):
        span = chunk[start.end():start.end() + DUMP_SPAN]
        end = span.find(b"\n)")
        for m in _DUMP_ITEM.finditer(span if end < 0 else span[:end]):
            note(m.group(1), m.group(2))
    return {k: next(iter(v)) for k, v in seen.items() if len(v) == 1}
