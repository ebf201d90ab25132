"""Console logs (stdout/stderr captures, `running_log.txt`, pasted excerpts): one streaming pass.

What a console holds: HF `ProgressCallback` dict lines (`{'loss': 0.58, 'grad_norm': nan, ...}`, string
valued in newer transformers), LLaMA-Factory trainer_log records and ms-swift dicts printed as JSON,
mlx-lm `Iter N: Train loss ...` lines, all among tqdm `\\r` redraws, ANSI colours and `[defaultN]:` rank
prefixes; plus lines that state facts about the run (trainable params, the "Running training" block,
DeepSpeed loss-scale overflows, framework banners).

Speed is the design constraint (1 GB logs exist, mostly tqdm redraws): the file is read in 4 MB binary
chunks (16 MB for the first) into one reused buffer, and only the dict spans, found by one compiled bytes
regex, are looked at.
A chunk's dicts are grouped by *shape* (key sequence and quoting; a copy of the text without digits, signs,
dots and exponents is the grouping key). The first dict of a shape builds a regex that checks every dict of
the group (one pass over them joined), and the group's values come from ONE `json.loads` of its dicts
rewritten as arrays, after the same byte-level fix-ups (quotes, nan/inf, None/True/False) as before, so
values are exactly what JSON reads, never `eval`. Dicts that fit no shape (summaries, config dumps, lists,
escapes, damage) go the old way: one `json.loads` of a joined array, and a tolerant pair extractor for
what defeats JSON. Record bookkeeping (kind, step, store, record number) is whole-array numpy per chunk;
Python work per dict is left to the progress bar before it. Rare fact lines are only regex-searched in
chunks where a fast `bytes.find` says they occur. Values are kept in compact arrays, so memory follows the
number of logged values, not the file size.
"""
from __future__ import annotations

import gc
import json
import re
from array import array
from contextlib import contextmanager
from pathlib import Path
from itertools import repeat
from operator import itemgetter
from typing import NamedTuple

import numpy as np

from . import decimals, lazyre
from .. import heap
from ..ontology import canonical, is_eval_record, is_summary_record
from .base import (MAX_STEP, MEASURED_KEYS, SETTING_KEYS, TRAINING_KEYS, Columns, MetricNames, SourceData,
                   SourceError, note_collisions, open_stream, regular_file, sane_fact, short_int, to_float, usable_step)
from .registry import CONSOLE_SUFFIXES, TEXT_SUFFIXES, Source, score
from .launch_args import stated_arguments
from .textlog import (APEX_OVERFLOW_WORD, RECORD, apex_overflows, deepspeed_facts, deepspeed_first_progress,
                      deepspeed_progress, find_rare)
from .trainer_warnings import TrainerWarnings

START = 16 << 20  # the first chunk: start-up facts (the "Running training" block, banners) are searched in it
CHUNK = 4 << 20  # every later chunk (smaller: the chunk buffers are most of the reader's memory besides the values)
NAN = float("nan")
WRAPPED_MAX = 64 << 20  # files small enough to search again for dicts wrapped over several lines
TAIL = 4 << 20  # the end of a log searched for end-of-run blocks (`***** train metrics *****`, W&B's summary)
LARGE = 64 << 20  # a file this large gives the C heap's freed pages back at the end of each stage (heap.py)
_DICT = lazyre.compile(rb"\{['\"][^{}\r\n]*\}")
_WRAPPED = lazyre.compile(rb"\{\s*['\"][^{}]*\}")
# matched against the bytes just before " [": `| 5/74` of a drawn bar, or (_TQDM_BARE, tried where that fails) `7%
# 5/74` of a bar drawn without its bar (tqdm that cannot measure the terminal: a `!python train.py` cell in Colab).
# Two patterns, not one with two lookbehinds: a search that starts with the literal `|` is 1.3 us, the lookbehinds'
# 3.7 us, once per dict (+1 s of CPU on a 1 GB log). At most one of them matches a window, with the same numbers.
_TQDM_END = lazyre.compile(rb"\| *(\d{1,18})/(\d{1,18})\Z")
_TQDM_BARE = lazyre.compile(rb"(?<=\d%) *(\d{1,18})/(\d{1,18})\Z")
_WHOLE = itemgetter(0)  # a match's text
_BAR_SEPARATORS = bytes.maketrans(b"|/", b"  ")  # `| 14/1000| 15/1000` -> numbers for one numpy parse
_ANSI = lazyre.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")
_PAIR = lazyre.compile(rb"""(['"])([^'"]+)\1\s*:\s*('[^']*'|"[^"]*"|(?:tensor|array)\([^()]*\)|[^,}]+)""")
_TENSOR = lazyre.compile(rb"(?:tensor|array)\(\s*([^,()\s]+)")
_PY_FIXES = ((b"'", b'"'), (b": nan", b": NaN"), (b": -inf", b": -Infinity"), (b": inf", b": Infinity"),
             (b": None", b": null"), (b": True", b": true"), (b": False", b": false"))
_LITERALS = {b"nan": float("nan"), b"NaN": float("nan"), b"inf": float("inf"), b"Infinity": float("inf"),
             b"-inf": float("-inf"), b"-Infinity": float("-inf"), b"None": None, b"null": None,
             b"True": True, b"False": False, b"true": True, b"false": False}

# Fact lines: (literal that must occur in the chunk, regex run only then, handler name)
_MLX = lazyre.compile(rb"Iter (\d+): ((?:Train|Val) loss [^\r\n]*)")
_MLX_NAMES = {"train loss": "loss", "val loss": "eval_loss", "learning rate": "learning_rate",
              "chosen reward": "rewards/chosen", "rejected reward": "rewards/rejected", "grad norm": "grad_norm",
              "kl": "kl", "total rewards mean": "reward", "total rewards std": "reward_std"}
# mlx-lm GRPO's per-function statistics (`r1_accuracy_reward_func mean 0.000, ... std 0.000`), named as TRL names
# them (`rewards/<function>/mean`); `Grouped rewards` repeats the totals.
_MLX_REWARD_FN = lazyre.compile(r"([A-Za-z_]\w*) (mean|std)")
_TRAINABLE = lazyre.compile(rb"trainable params: ([\d,]{1,24})(?![\d,])")
_RUNNING = lazyre.compile(rb"  (Num examples|Num Epochs|Instantaneous batch size per device|Total train batch size"
                      rb"|Gradient Accumulation steps|Total optimization steps|Number of trainable parameters)"
                      rb"[^=\r\n]*= ([\d,.]+)")
_RUNNING_KEYS = {b"Num examples": ("facts", "num_examples"), b"Num Epochs": ("facts", "num_train_epochs"),
                 b"Instantaneous batch size per device": ("config", "per_device_train_batch_size"),
                 b"Total train batch size": ("facts", "total_train_batch_size"),
                 b"Gradient Accumulation steps": ("config", "gradient_accumulation_steps"),
                 b"Total optimization steps": ("facts", "total_steps"),
                 b"Number of trainable parameters": ("facts", "trainable_params")}
_WORLD = lazyre.compile(rb"Process rank: \d+, world size: (\d{1,9})\b")
_REF_MODEL = lazyre.compile(rb"Created reference model from ([^\r\n]*)")
_OVERFLOW = lazyre.compile(rb"(?:OVERFLOW! (?:Rank \d+ )?Skipping step|Overflow detected\. Skipping step)\. "
                       rb"Attempted loss scale: (\d+(?:\.\d*)?), reducing to (\d+(?:\.\d*)?)")
# DeepSpeed before 0.4 (2021) said `[Rank 0] Overflow detected. Skipping step. Attempted loss scale: 1, reducing to 1`
_OLD_OVERFLOW = b"Overflow detected. Skipping step. "
_TRL_VERSION = lazyre.compile(rb"\btrl(?:==|-| version:? | v)(\d+\.\d+[\w.]*)", re.IGNORECASE)
_TRAINER = lazyre.compile(rb"\b(?:Custom)?(KTO|DPO|ORPO|CPO|SimPO|GRPO|PPO|RLOO|SFT|Reward)Trainer\b")
_TRAINER_METHOD = {b"KTO": "kto", b"DPO": "dpo", b"ORPO": "orpo", b"CPO": "dpo", b"SimPO": "simpo",
                   b"GRPO": "grpo", b"PPO": "ppo", b"RLOO": "grpo", b"SFT": "sft", b"Reward": "rm"}
# mlx-lm's trainers announce themselves: `Starting ORPO training..., iters: 500`
_STARTING = lazyre.compile(rb"Starting (KTO|DPO|ORPO|CPO|SimPO|GRPO|PPO|RLOO|SFT) training\b")
_FLAGS = ((b"Upcasting trainable params to float32", "upcast_trainable_params"),
          (b"DeepSpeed ZeRO3 detected", "deepspeed_zero3"),
          (b"Your dataset only has one preference type", "one_preference_type"),
          (b"Current loss scale already at minimum", "loss_scale_at_minimum"),
          # the weights of an earlier run loaded as the start of this one (LLaMA-Factory's adapter_name_or_path, its
          # predecessor's checkpoint_dir): not a resume, whose trainer state (step, schedule, optimizer) comes along
          (b"Loaded fine-tuned model from checkpoint(s)", "weights_reloaded"),
          (b"Loaded adapter(s): ", "weights_reloaded"))


# Dicts of one shape (key sequence and quoting) are read together: their keys checked by one regex, their
# values by ONE json.loads of the dicts rewritten as arrays. A digit-free copy of a dict's text is the key
# that groups it (values differ in digits, signs, dots and exponents; keys rarely do, and the regex checks).
_VALUE_CHARS = b"0123456789.-+eE"
_STR = rb"[^'\"\\\x00-\x1f]*"  # a string JSON reads as is: no quotes, escapes or control characters
_SCALAR = rb"[-+.\w]+"  # an unquoted value: a number, nan, inf, None, True... (JSON decides), never a list
_FIELD = lazyre.compile(rb"(\{|, )(['\"])([^'\"\\\x00-\x1f:]+)\2: (?:(['\"])" + _STR + rb"\4|" + _SCALAR + rb")"
                    rb"(?=, ['\"]|\}\Z)")
_ROWS = bytes.maketrans(b"}\n", b"],")  # after the keys are gone: one dict per line -> one JSON array each
_STEP_KEYS = frozenset({"step", "current_steps", "total_steps", "global_step/max_steps", "counters/updates",
                        "global_step"})
# The DPO reference implementation (eric-mitchell/direct-preference-optimization): `train stats after N examples:
# {'rewards_train/chosen': '0.1', 'loss/train': '0.69', ..., 'counters/updates': 5024}` and `eval after N: {...}`.
_DPO_REF = lazyre.compile(r"^(?:loss/(train|eval)$|(?:rewards|logps)_(train|eval)/)")
_WRAPPED_KEY = lazyre.compile(r"\s{2,}[-\d]?")  # a terminal wrap inside a key: 'l    -ogps_train/rejected'


# A paste run through machine translation (GitHub's, a browser's) turns `{"loss": 0.5, "step": 10}` into
# `{“loss”：0.5，“step”：10}`: full-width colon and comma, curly quotes (sometimes mismatched). Newlines are
# untouched, so line numbers stay right.
_FULLWIDTH_COLON = "：".encode()
_FULLWIDTH_QUOTES = ("“".encode(), "”".encode())
# A dict whose quotes a word processor or a web page made typographic (`{‘loss’: 1.453, ‘epoch’: 0.19}`): found by
# memchr on the quote's last byte (0x98, 0x9C), not its lead byte 0xE2, which every tqdm bar's blocks begin with
_CURLY_DICTS = ("{‘".encode(), "{“".encode())
_PUNCTUATION_READ = {
    "fullwidth_punctuation": "metric dicts written with full-width punctuation (“loss”：0.5，…, as machine translation "
                             "of a paste leaves them) were read as ASCII",
    "typographic_quotes": "metric dicts written with typographic quotes ({‘loss’: …}, as a word processor or a web "
                          "page leaves them) were read with plain ones",
}
_FULLWIDTH = (("“".encode(), b'"'), ("”".encode(), b'"'), ("‘".encode(), b"'"), ("’".encode(), b"'"),
              ("：".encode(), b": "), ("，".encode(), b", "), ("｛".encode(), b"{"), ("｝".encode(), b"}"))


# A metric dict copied from a terminal without its opening brace, or both (the selection started after `{`):
# `'loss': -0.0, 'grad_norm': 0.0, ..., 'global_step/max_steps': '5/3766'`. Looked for only in a small file in
# which no dict was found (`_Reader.bare`), so a log of ordinary dicts pays nothing for it.
_HEAD_KEYS = rb"(?:loss|eval_loss|train_loss|learning_rate|grad_norm|reward|kl|epoch|rewards/\w+|logps/\w+)"
_BARE_DICT = lazyre.compile(rb"^([ \t]*)((['\"])" + _HEAD_KEYS + rb"\3: [^\n{}]*?)\}?,?[ \t]*(\r?)$", re.M)


def _braced(chunk: bytes) -> tuple[bytes, int]:
    return _BARE_DICT.subn(rb"\1{\2}\4", chunk)


def _ascii_punctuation(chunk: bytes) -> bytes:
    for wide, ascii_ in _FULLWIDTH:
        chunk = chunk.replace(wide, ascii_)
    return chunk


class _Names(MetricNames):
    """MetricNames that first undo a terminal wrap inside a key (blanks and a `-` or digit left mid-word)."""

    def __missing__(self, item):
        key, eval_row = item
        fixed = _WRAPPED_KEY.sub("", key) if "  " in key else key
        name = super().__missing__((fixed, eval_row))
        self[item] = name
        return name
_KINDS = ("", "hf", "eval", "stepped", "stepped_eval")  # record kinds (see _kind); odd: train, even: eval
_STEPPED = _KINDS.index("stepped")
_UNSEEN = object()


class _Shape:
    """One dict shape: its keys and record kind, the regex its dicts match (one per line), and the key
    tokens whose removal turns them into JSON arrays (after the same fix-ups as the old way).

    Dicts whose every value is only digits, signs, dots and exponents (the group's skeleton is the shape's
    `pure` one) are read without JSON: `capture` (the same regex with a group per value) splits them
    into columns of value texts, and each column is ONE `float()` pass. That reads what JSON reads: a quoted
    value goes through `float()` either way; an unquoted one that JSON would refuse (`01`, `+1`, `1.`) is read
    by the old way's last resort with `float()` too; `-0` (JSON's integer zero) and values longer than the
    last resort reads (400 characters) go the old way."""

    __slots__ = ("keys", "kind", "regex", "python_repr", "tokens", "metric", "steps", "pure", "fixed", "quoted",
                 "parse", "_capture", "own", "fast", "own_index")

    def __init__(self, keys: tuple, quoted: list, q: bytes, kind: str, names: MetricNames) -> None:
        self.keys, self.kind, self.python_repr = keys, kind, q == b"'"
        is_eval = kind.endswith("eval")
        parts, tokens, capture, literal = [rb"^"], [], [rb"^"], []
        for j, (key, is_str) in enumerate(zip(keys, quoted)):
            head = (b", " if j else b"{") + q + key.encode() + q + b": "
            parts.append(re.escape(head))
            parts.append(re.escape(q) + _STR + re.escape(q) if is_str else _SCALAR)
            capture.append(re.escape(head))
            capture.append(re.escape(q) + b"(" + _STR + b")" + re.escape(q) if is_str else b"(" + _SCALAR + b")")
            literal.append(head + (q + q if is_str else b""))
            tokens.append((head.replace(b"'", b'"'), b"," if j else b"["))
        parts.append(rb"\}$")
        capture.append(rb"\}$")
        literal.append(b"}")
        self.regex = re.compile(b"".join(parts), re.MULTILINE)
        self._capture = b"".join(capture)
        self.tokens = tokens
        self.metric = [(j, key) for j, key in enumerate(keys) if names[key, is_eval] is not None]
        names.note_record(keys, is_eval)
        self.steps = [(j, key) for j, key in enumerate(keys) if key in _STEP_KEYS]
        # the key `own_step` reads the step from; the fast way reads `step` and `counters/updates` only (a
        # LLaMA-Factory `current_steps` record also states facts, with their JSON types)
        stated = [key for _, key in self.steps]
        self.own = next((key for key in ("step", "counters/updates", "current_steps", "global_step") if key in stated),
                        "global_step/max_steps" if stated else None)
        self.fast = self.own in (None, "step", "counters/updates")
        self.own_index = keys.index(self.own) if self.own in keys else None
        self.pure = b"".join(literal).translate(None, _VALUE_CHARS)
        self.fixed = sum(map(len, literal))
        self.quoted = tuple(quoted)
        # the columns read on the fast way: the metrics, and every unquoted value (JSON would refuse the
        # dict over a bad one); a quoted value that is not a metric is never read
        wanted = {j for j, _ in self.metric} | ({self.own_index} if self.fast and self.own else set())
        self.parse = [j for j in range(len(keys)) if j in wanted or not quoted[j]]

    def numbers(self, joined: bytes, n: int) -> list | None:
        """Columns (float arrays by key position; None where not read) of `n` newline-joined dicts whose
        values are all numeric texts; None when any dict or value needs the old way."""
        capture = self._capture
        if isinstance(capture, bytes):
            capture = self._capture = re.compile(capture, re.MULTILINE)
        parts = capture.split(joined)
        w = len(self.keys) + 1
        if len(parts) != n * w + 1:
            return None
        cols: list = [None] * len(self.keys)
        for j in self.parse:
            texts = parts[1 + j::w]
            if not self.quoted[j] and b"-0" in texts:
                return None
            col = decimals.read(texts)  # one printed layout (`%.4f`): all digits at once, what float() gives
            if col is None:
                try:
                    col = np.fromiter(map(float, texts), dtype=np.float64, count=n)
                except ValueError:
                    return None
            cols[j] = col
        return cols

    def rows(self, joined: bytes, skeleton: bytes) -> list | None:
        """The values of newline-joined dicts of this shape, one list per dict; None if JSON says no.

        Only the fix-ups whose text the group's skeleton shows can apply (the skeleton keeps every
        character of `: nan`, `: None`...), so a plain numeric group pays for the quotes only.
        """
        if self.python_repr:
            for old, new in _PY_FIXES:
                if old == b"'" or old.translate(None, _VALUE_CHARS) in skeleton:
                    joined = joined.replace(old, new)
        for token, new in self.tokens:
            joined = joined.replace(token, new)
        try:
            return json.loads(b"[" + joined.translate(_ROWS) + b"]")
        except ValueError:
            return None


class _Group:
    """The dicts of one shape in one chunk (`members`: their numbers in the chunk) and their values (`rows`
    read by JSON, or `columns` read the fast way)."""

    def __init__(self, shape: _Shape, idx: list, texts: list, skeleton: bytes) -> None:
        self.shape = shape
        self.kind_code = _KINDS.index(shape.kind)
        joined = b"\n".join(texts)
        self.rest = []  # the dicts that do not fit this shape (they may only share its skeleton)
        self.columns = None
        if (shape.fast and skeleton == shape.pure and texts
                and max(map(len, texts)) <= shape.fixed + 400):
            columns = shape.numbers(joined, len(texts))
            if columns is not None:
                self.members, self.rows, self.columns = idx, [], columns
                return
        if shape.regex.subn(b"", joined)[1] != len(texts):
            fit = [bool(shape.regex.fullmatch(text)) for text in texts]
            self.rest = [i for i, ok in zip(idx, fit) if not ok]
            idx = [i for i, ok in zip(idx, fit) if ok]
            joined = b"\n".join([text for text, ok in zip(texts, fit) if ok])
        rows = shape.rows(joined, skeleton) if idx else None
        self.members, self.rows = (idx, rows) if rows is not None else ([], [])

    def store(self, main: "_Store", logger: "_Store", index: np.ndarray, via_logger: np.ndarray) -> None:
        """One numpy conversion per metric key for all dicts of the group; `index`: their record numbers."""
        shape = self.shape
        is_eval = shape.kind.endswith("eval")
        columns = self.columns if self.columns is not None else list(zip(*self.rows))
        split = via_logger.any()
        index = index.astype(RECORD)  # one block of record numbers, shared by the group's metrics
        for j, key in shape.metric:
            values, ok = (columns[j], None) if self.columns is not None else _column(columns[j])
            for store, mask in ((main, ~via_logger), (logger, via_logger)) if split else ((main, None),):
                keep = ok if mask is None else (mask if ok is None else ok & mask)
                name = store.names_for(shape.keys)[key, is_eval]
                if keep is None:
                    store.add(name, index, values)
                elif keep.any():
                    store.add(name, index[keep], values[keep])


def _fields(text: bytes) -> tuple | None:
    """(keys, which values are quoted, the quote) of one dict text; None when it needs the old way."""
    q = text[1:2]
    if (b"'" if q == b'"' else b'"') in text:
        return None
    keys, quoted, pos = [], [], 0
    for m in _FIELD.finditer(text):
        if m.start() != pos or (m.group(1) == b"{") != (pos == 0) or m.group(2) != q or m.group(4) not in (None, q):
            return None
        try:
            keys.append(m.group(3).decode("utf-8"))
        except UnicodeDecodeError:
            return None
        quoted.append(m.group(4) is not None)
        pos = m.end()
    if not keys or text[pos:] != b"}" or len(set(keys)) != len(keys):
        return None
    return tuple(keys), tuple(quoted), q


def _shape(fields: tuple, names: MetricNames) -> _Shape | None:
    """The shape of dicts with these fields, or None when they go the old way (summaries, no metrics)."""
    keys, quoted, q = fields
    kind = _kind(keys)
    if kind in ("summary", "other"):
        return None  # rare; read the old way
    return _Shape(keys, quoted, q, kind, names)


def _number(x) -> float | None:
    """A logged value as a float (to_float), and for a string "mean|std" ('123.4|56.7', a value printed with
    its spread) its first number, the mean."""
    num = to_float(x)
    if num is None and isinstance(x, str) and "|" in x:
        num = to_float(x.partition("|")[0])
    return num


def _column(raw) -> tuple[np.ndarray, np.ndarray | None]:
    """One key's logged values as floats, and the mask of those that are numbers (None: all are).

    One numpy conversion when every value is a number or numeric string (None becomes NaN and is masked);
    per value otherwise, so that text such as "0:01:03" is dropped, "74.98%" read and "123.4|56.7" read as 123.4.
    """
    try:
        values = np.asarray(raw, dtype=np.float64)
        ok = None
        if values.ndim != 1:  # lists of equal length (`'kl': [1, 2]` every time) are not values either
            raise ValueError
    except (ValueError, TypeError, OverflowError):  # OverflowError: an integer past a float's range
        conv = [_number(x) if x is not None else None for x in raw]
        ok = np.array([x is not None for x in conv], dtype=bool)
        values = np.array([x if x is not None else 0.0 for x in conv], dtype=np.float64)
    if ok is None and None in raw:
        ok = np.array([x is not None for x in raw], dtype=bool)
    return values, ok


class _Column:
    """One metric's values, appended to a growable array (`heap.Grow`, 8 bytes a value: the values become the
    `Series` as a view, without a copy), and their record numbers as the blocks they came in: one block per shape
    group and chunk, shared by every metric of the group (4 bytes a record, not 4 bytes a value)."""

    __slots__ = ("blocks", "values")

    def __init__(self) -> None:
        self.blocks: list[np.ndarray] = []
        self.values = heap.Grow("d")

    def add(self, idx: np.ndarray, values: np.ndarray) -> None:
        self.blocks.append(idx)
        self.values.frombytes(memoryview(np.ascontiguousarray(values, dtype=np.float64)).cast("B"))

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(record numbers, values), in the order added."""
        if not self.blocks:
            return np.zeros(0, dtype=RECORD), np.zeros(0)
        idx = self.blocks[0] if len(self.blocks) == 1 else np.concatenate(self.blocks)
        return idx, self.values.view(np.float64)


class _Store:
    """Records (step, line, kind) in compact arrays; per metric, its values and their record numbers."""

    def __init__(self) -> None:
        self.step = heap.Grow("d")  # NaN where the record has no step of its own
        self.line = heap.Grow("q")
        self.eval = heap.Grow("b")
        self.metrics: dict[str, _Column] = {}  # per metric: its values and the blocks of their record numbers
        self.pending: dict[str, list] = {}  # per metric: (record numbers, values) added since the last flush
        self._names = _Names()
        self._lf_names = _Names("llamafactory")
        self._loop_names = _Names("generic")

    def names_for(self, keys: tuple) -> MetricNames:
        """LLaMA-Factory's trainer_log records (they state `current_steps`) use its spellings: `accuracy` is
        the reward accuracy there. A hand-written loop's row that states its step and logs `train_loss` and no
        `loss` (and is no HF summary: no `train_runtime`) means its loss by `train_loss`."""
        if "current_steps" in keys:
            return self._lf_names
        if "train_loss" in keys and "loss" not in keys and "train_runtime" not in keys and \
                ("global_step" in keys or "step" in keys):
            return self._loop_names
        return self._names

    def new_record(self, step: float, line: int, is_eval: bool) -> int:
        self.step.append(step)
        self.line.append(line)
        self.eval.append(is_eval)
        return len(self.step) - 1

    def extend(self, steps: np.ndarray, lines: np.ndarray, is_eval: np.ndarray) -> np.ndarray:
        """Many records at once; their record numbers."""
        first = len(self.step)
        self.step.frombytes(steps.astype(np.float64))
        self.line.frombytes(lines.astype(np.int64))
        self.eval.frombytes(is_eval.astype(np.int8))
        return np.arange(first, len(self.step), dtype=np.int64)

    def add_group(self, records: list[dict], keys: tuple, idx: list[int], is_eval: bool) -> None:
        """Records sharing one key set: one numpy conversion per key."""
        rec_idx = np.asarray(idx, dtype=RECORD)
        names = self.names_for(keys)
        names.note_record(keys, is_eval)
        for key in keys:
            name = names[key, is_eval]
            if name is None:
                continue
            values, ok = _column([r[key] for r in records])
            self.add(name, rec_idx if ok is None else rec_idx[ok], values if ok is None else values[ok])

    def add(self, name: str, idx: np.ndarray, values: np.ndarray) -> None:
        """Values of a metric and their record numbers; kept until `flush` puts a chunk's in file order."""
        self.pending.setdefault(name, []).append((np.asarray(idx, dtype=RECORD), values))

    def flush(self) -> None:
        """The values added since the last flush (a chunk's), in record order: a chunk adds them per shape. Where
        one record gave a metric two values (two keys that mean it) the later one added comes later (a stable
        sort), so that it wins. Metrics added in the same blocks (the keys of one shape) share the merged block
        of record numbers."""
        merged: dict[tuple, tuple] = {}  # ids of the blocks -> (their record numbers in order, the order)
        for name, parts in self.pending.items():
            col = self.metrics.get(name)
            if col is None:
                col = self.metrics[name] = _Column()
            if len(parts) == 1:
                col.add(*parts[0])
                continue
            key = tuple(id(idx) for idx, _ in parts)
            got = merged.get(key)
            if got is None:
                idx = np.concatenate([idx for idx, _ in parts])
                order = None if (idx[1:] > idx[:-1]).all() else np.argsort(idx, kind="stable")
                got = merged[key] = (idx if order is None else idx[order], order, parts)  # (parts: ids stay valid)
            values = np.concatenate([np.asarray(v, dtype=np.float64) for _, v in parts])
            col.add(got[0], values if got[1] is None else values[got[1]])
        self.pending = {}

    def arrays(self, name: str, keep: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """A metric's record numbers and values in file order, handed over once (the store shrinks as the
        series grow) unless `keep`. Each chunk's are in order (`flush`); sorted again only if some were not."""
        self.flush()
        col = self.metrics[name] if keep else self.metrics.pop(name)
        idx, values = col.arrays()  # views: the values become the Series without a copy
        if len(idx) > 1 and not (idx[1:] > idx[:-1]).all():
            order = np.argsort(idx, kind="stable")
            idx, values = idx[order], values[order]
        return idx, values


class _Reader:
    def __init__(self, path: Path, from_line: int = 0) -> None:
        self.path = path
        self.from_line = from_line  # read from this line on (the last of several runs one after another: `read`)
        self.launches: list[int] = []  # lines of the Trainer's "Running training" banners ...
        self.resumes: list[int] = []  # ... those followed by "Continuing training from checkpoint"
        self.ends: list[int] = []  # ... and of the end-of-training summaries (`train_runtime`)
        self.src = SourceData(path=path, format="console")
        self.main = _Store()
        self.logger = _Store()  # dicts echoed by a logger (`... >> {...}`): used only when nothing else is found
        self.summary = _Store()  # W&B's `Run summary:` block (the last value of each metric): the same
        self.total = None  # M of the training progress bar
        self.pending_bar = None  # (N, M) of the last progress bar after the last dict of the previous chunk
        self.bad = 0
        self.first_bad: int | None = None  # its line
        self.train_records = 0
        self.kinds: dict[tuple, str] = {}  # key set -> record kind (see _kind), for dicts read the old way
        self.shapes: dict = {}  # skeleton, and (keys, quoted, quote) -> shape (see _shape)
        self.mlx_mode = False
        self.ds_progress = None  # DeepSpeed's last `step=N, skipped=M` progress line
        self.ds_first = None  # ... and the first one
        self.overflows: list[int] = []  # ordinal of the next train record at each OVERFLOW line
        self.old_overflows = False  # the first chunk holds DeepSpeed's older overflow line: look for it in every one
        self.warned = TrainerWarnings()  # trainer warnings stated as facts (TRL PPO negative KL, skipped batches)
        self.loss_scales: list[float] = []
        self.tail_parts: list[bytes] = []  # see keep_tail
        self.tail_lines = 0

    # ------------------------------------------------------------ chunks

    def run(self) -> SourceData:
        """Whole lines a chunk at a time. One read buffer is reused and each chunk is the only other copy,
        dropped before the next read, so that memory stays at about two chunks besides the values kept. The
        first chunk is START bytes, the start-up facts' search; the later ones CHUNK."""
        st = regular_file(self.path)
        f = open_stream(self.path, keep_colours=True)
        line_base = 0
        carry = b""
        size = 0
        small = max(st.st_size + 1, 1 << 16)  # small file, small buffer
        buf = bytearray(min(START, small))
        view = memoryview(buf)
        with f, _collector_paused(st.st_size >= LARGE):
            while True:
                n = f.readinto(buf)
                size += n
                if not n:
                    if carry and self.from_line > line_base:
                        carry, skipped = _from_line(carry, self.from_line - line_base)
                        line_base += skipped
                    if carry:
                        self.chunk(carry, line_base)
                    break
                cut = buf.rfind(b"\n", 0, n)
                if cut >= 0:  # what was left of the last block, and this one up to its last line
                    piece = b"".join((carry, view[: cut + 1]))
                    carry = bytes(view[cut + 1:n])
                else:  # a whole buffer without a newline (`\r` redraws only): cut after the last `\r`
                    chunk = carry + view[:n]
                    cut = chunk.rfind(b"\r")
                    if cut < 0:
                        carry = chunk
                        continue
                    piece, carry = chunk[: cut + 1], chunk[cut + 1:]
                    del chunk
                if self.from_line > line_base:  # before the run to read: counted, not read
                    piece, skipped = _from_line(piece, self.from_line - line_base)
                    line_base += skipped
                    if not piece:
                        continue
                line_base += self.chunk(piece, line_base)
                del piece
                if len(buf) != min(CHUNK, small):
                    view.release()
                    buf = bytearray(min(CHUNK, small))
                    view = memoryview(buf)
        view.release()
        del view, buf  # before the series are built
        if size == 0:
            raise SourceError(f"{self.path}: empty file")
        return self.finish(size)

    def chunk(self, chunk: bytes, line_base: int) -> int:
        """Everything a chunk of whole lines says; returns its number of newlines."""
        # (by memchr on the colon's lead byte 0xEF, rare in logs: a plain `in` looks at every byte, 20 ms a chunk)
        if find_rare(chunk, _FULLWIDTH_COLON, 0) >= 0 and (_FULLWIDTH_QUOTES[0] in chunk or _FULLWIDTH_QUOTES[1] in chunk):
            punctuation = "fullwidth_punctuation"
        elif any(find_rare(chunk, curly, 3) >= 0 for curly in _CURLY_DICTS):
            punctuation = "typographic_quotes"
        else:
            punctuation = None
        if punctuation is not None:
            chunk = _ascii_punctuation(chunk)
            if not self.src.hints.get(punctuation):
                self.src.hints[punctuation] = True
                self.src.warnings.append(f"{self.path.name}: {_PUNCTUATION_READ[punctuation]}")
        self.keep_tail(chunk)  # (first: the previous chunk, kept until now, is let go before this one is read)
        self.note_launches(chunk, line_base)
        if line_base == self.from_line:
            self.startup_facts(chunk)
            # wordings with no rare byte to look for are searched only where the first chunk holds one: the
            # scaler's calibration skips come at the start
            self.old_overflows = chunk.find(_OLD_OVERFLOW) >= 0 or chunk.find(APEX_OVERFLOW_WORD) >= 0
        elif find_rare(chunk, b"Current loss scale already at minimum", 0) >= 0:
            self.src.facts["loss_scale_at_minimum"] = True
        self.warned.scan(chunk)
        # DeepSpeed's `step=N, skipped=M` lines: their `=` found by memchr first (its rfind looks at every byte)
        progress = deepspeed_progress(chunk) if find_rare(chunk, b", skipped=", 9) >= 0 else None
        if progress is not None:
            self.ds_progress = progress
            if self.ds_first is None:
                self.ds_first = deepspeed_first_progress(chunk)
        if self.mlx_mode:
            self.mlx(chunk, line_base)
        spans = _spans(chunk, line_base)
        pending = self.pending_bar
        last = spans.los[-1] if spans.starts else 0  # end of the last dict a progress bar can belong to
        if spans.starts and not spans.loggers[-1]:
            last = spans.ends[-1]
        self.pending_bar = self.bar_before(chunk, last, len(chunk)) or (None if spans.starts else pending)
        overflows = _overflows(chunk, self.old_overflows)
        if spans.starts:
            self.convert(chunk, spans, overflows, pending)
        self.note_overflows(overflows, len(chunk))
        self.tail_lines = line_base + spans.newlines
        return spans.newlines

    def note_launches(self, chunk: bytes, line_base: int) -> None:
        """Where the Trainer's "Running training" banners and end-of-training summaries are: a file that holds
        several runs one after another (a nohup.out appended to by each launch) is told by them (`read`)."""
        for needle, where in ((_BANNER, self.launches), (b"train_runtime", self.ends)):
            p = chunk.find(needle)
            while p >= 0:
                line = line_base + chunk.count(b"\n", 0, p)
                if not where or where[-1] != line:
                    where.append(line)
                    if needle is _BANNER and chunk.find(_RESUMED, p, p + 4096) >= 0:
                        self.resumes.append(line)
                p = chunk.find(needle, p + len(needle))

    def last_run(self) -> int | None:
        """The first line of the last run, where the file holds several one after another: a banner that comes after
        an earlier run's end-of-training summary and is no resume of it. None for one run (or a run resumed)."""
        if not self.launches:
            return None
        first = self.launches[0]
        starts = [b for b in self.launches if b not in self.resumes and any(first < e < b for e in self.ends)]
        return starts[-1] if starts else None

    def keep_tail(self, chunk: bytes) -> None:
        """The chunks that hold the file's last TAIL bytes so far (the last ones themselves, not a copy; `chunk`
        sets `tail_lines`, the number of lines up to their end): the end-of-run blocks (the Trainer's metrics,
        W&B's run summary) are read from them once, in `finish`, not searched in every chunk."""
        parts = self.tail_parts
        parts.append(chunk)  # (itself, not its last TAIL bytes: a chunk is often a little longer, and lives anyway)
        while len(parts) > 1 and sum(map(len, parts[1:])) >= TAIL:
            del parts[0]
        rest = TAIL - sum(map(len, parts[1:]))
        if len(parts) > 1 and len(parts[0]) > rest:  # of an older chunk only what the TAIL bytes need
            parts[0] = parts[0][-rest:]

    def bar_before(self, chunk: bytes, lo: int, hi: int, tries: int = 24):
        """(N, M) of the last tqdm redraw `| N/M [` in chunk[lo:hi] (among its last `tries` ` [`), or None."""
        search, bare = _TQDM_END.search, _TQDM_BARE.search
        p = chunk.rfind(b" [", lo, hi)
        for _ in range(tries):
            if p < 0:
                return None
            m = search(chunk, p - 40 if p - 40 > lo else lo, p) or bare(chunk, p - 40 if p - 40 > lo else lo, p)
            if m is not None:
                return int(m[1]), int(m[2])
            p = chunk.rfind(b" [", lo, p)
        return None

    def bar_steps(self, chunk: bytes, spans: "_Spans", need: np.ndarray, pending, step: np.ndarray,
                  is_eval: np.ndarray | None = None) -> None:
        """In place: the step of each train dict in `need` from the last progress bar before it (as
        `bar_before`), for all of them at once: the last ` [` before each dict and the regex ending there, by
        C-level maps, the counts read by one numpy parse; only where that first try fails is `bar_before`
        asked to look further back."""
        if len(need) == len(spans.starts):
            los, his = spans.los, spans.starts
        else:
            idx = need.tolist()
            los = [spans.los[i] for i in idx]
            his = [spans.starts[i] for i in idx]
        count = len(los)
        ps = list(map(chunk.rfind, repeat(b" [", count), los, his))
        found = list(map(_TQDM_END.search, repeat(chunk, count),
                         [p - 40 if p - 40 > lo else lo for p, lo in zip(ps, los)], ps))
        where = need
        if None in found:
            for k in [k for k, m in enumerate(found) if m is None]:
                p, lo = ps[k], los[k]
                found[k] = _TQDM_BARE.search(chunk, p - 40 if p - 40 > lo else lo, p)
                if found[k] is not None:
                    continue
                bar = self.bar_before(chunk, lo, p, 23) if p >= 0 else None  # the other 23 tries
                i = int(where[k])
                if bar is None and is_eval is not None and i > 0 and is_eval[i - 1]:
                    # an evaluation's dict right before it, no bar between: the bar before that dict (stdout
                    # flushed a burst of dicts after the bar: the evaluation's, then the next logs')
                    bar = self.bar_before(chunk, spans.los[i - 1], spans.starts[i - 1], 23)
                if bar is None and k == 0 and need[0] == 0:
                    bar = pending
                found[k] = None if bar is None else _TQDM_END.search(b"|%d/%d" % bar)
            have = [k for k, m in enumerate(found) if m is not None]
            if not have:
                return
            if len(have) < count:
                found = [found[k] for k in have]
                where = need[have]
        text = b" ".join(map(_WHOLE, found))  # (a match of _TQDM_BARE starts at its count)
        nm = np.fromstring(text.translate(_BAR_SEPARATORS), dtype=np.int64, sep=" ").reshape(-1, 2)
        if self.total is None:
            self.total = int(nm[0, 1])
        ok = nm[:, 1] == self.total
        step[where[ok]] = nm[ok, 0]

    def convert(self, chunk: bytes, spans: "_Spans", overflows: list, pending=None) -> None:
        """Read a chunk's dicts: grouped by skeleton, a shape at a time where they fit it, else the old way."""
        texts = spans.texts
        if texts is None:
            texts = [chunk[start:end] for start, end in zip(spans.starts, spans.ends)]
        by_skeleton = _by_skeleton(b"\n".join(texts).translate(None, _VALUE_CHARS).split(b"\n"))
        groups = []
        covered = np.zeros(len(texts), dtype=bool)
        for skeleton, idx in by_skeleton.items():
            shape = self.shape(skeleton, texts[idx[0]])
            for _ in range(4):  # dicts that only share the skeleton (keys differing in digits): their own shape
                if shape is None:
                    break
                group = _Group(shape, idx, [texts[i] for i in idx], skeleton)
                if group.members:
                    groups.append(group)
                    covered[group.members] = True
                idx = group.rest
                shape = self.shape(None, texts[idx[0]]) if idx else None
        slow = np.flatnonzero(~covered).tolist()
        records = dict(zip(slow, self.parse(texts, slow))) if slow else {}
        if self.bad and self.first_bad is None:  # the first dict that could not be read, for the warning
            self.first_bad = next((spans.lines[i] for i in slow if not records[i]), None)
        self.records(chunk, spans, groups, records, overflows, pending)

    def shape(self, skeleton: bytes | None, text: bytes):
        """The shape of the dicts with this skeleton, from the first one seen (cached per skeleton and per
        key sequence; skeleton None: derive it from this text)."""
        shape = self.shapes.get(skeleton, _UNSEEN) if skeleton is not None else _UNSEEN
        if shape is _UNSEEN:
            fields = _fields(text)
            shape = self.shapes.get(fields, _UNSEEN) if fields is not None else None
            if shape is _UNSEEN:
                shape = self.shapes[fields] = _shape(fields, self.main.names_for(fields[0]))
            if skeleton is not None and len(self.shapes) < 10_000:  # free text in values makes new skeletons
                self.shapes[skeleton] = shape
        return shape

    def parse(self, texts: list, which: list) -> list:
        """Dicts outside the fast grammar: one json.loads per kind (Python repr / JSON), the odd one alone."""
        py, js = [], []  # Python reprs without double quotes inside; everything else as JSON
        for i in which:
            text = texts[i]
            (py if text[1] == 39 and b'"' not in text else js).append(i)
        records = {}
        for part, fix in ((py, True), (js, False)):
            if not part:
                continue
            joined = b",".join([texts[i] for i in part])
            if fix:
                for old, new in _PY_FIXES:
                    joined = joined.replace(old, new)
            try:
                parsed = json.loads(b"[" + joined + b"]")
            except ValueError:
                parsed = [self.one(texts[i], fix) for i in part]
            records.update(zip(part, parsed))
        return [records[i] for i in which]

    def records(self, chunk: bytes, spans: "_Spans", groups: list, records: dict, overflows: list, pending) -> None:
        """Number a chunk's dicts in file order with whole-array operations: kind, step, store, record.

        Python work per dict is left only where the answer depends on the dict: the progress bar before a
        train dict without a step of its own, and dicts that state their step or are read the old way.
        """
        n = len(spans.starts)
        code = np.zeros(n, dtype=np.int8)  # _KINDS index; 0: no record
        step = np.full(n, NAN)
        for group in groups:
            code[group.members] = group.kind_code
        slow_groups: dict[tuple, tuple[list, list]] = {}  # dicts read the old way, per (key set, via_logger)
        stepped = [g for g in groups if g.kind_code >= _STEPPED]
        if (stepped and not records and all(g.columns is not None for g in stepped)
                and len({g.shape.own for g in stepped}) == 1):  # no other dict of the chunk states facts
            for g in stepped:  # `own_step` for all of them at once
                values = g.columns[g.shape.own_index]
                step[g.members] = np.where(values == 0, NAN, values) if g.shape.own == "step" else values
            if stepped[0].shape.own == "counters/updates":
                self.dpo_reference()
            stepped = []
        stated = {i: (g, row) for g in stepped for row, i in enumerate(g.members)}
        for i in sorted([*records, *stated]):  # in file order: own steps and summaries state facts, the last wins
            if i in records:
                rec = records[i]
                if not isinstance(rec, dict) or not rec:
                    continue
                keys = tuple(rec)
                kind = self.kinds.get(keys)
                if kind is None:
                    kind = self.kinds[keys] = _kind(keys)
                if kind == "summary":
                    self.src.facts.update({k: to_float(v) for k, v in rec.items() if to_float(v) is not None})
                if kind in ("other", "summary"):
                    continue
                code[i] = _KINDS.index(kind)
                entry = slow_groups.setdefault((keys, spans.loggers[i]), ([], []))
                entry[0].append(rec)
                entry[1].append(i)
            else:
                group, row = stated[i]
                shape = group.shape
                rec = ({key: group.rows[row][j] for j, key in shape.steps} if group.columns is None
                       else {shape.own: group.columns[shape.own_index][row]})
            if code[i] >= _STEPPED:
                step[i] = self.own_step(rec)
        kept = code > 0
        is_eval = (code % 2 == 0) & kept
        need = np.flatnonzero(kept & ~is_eval & np.isnan(step))
        if len(need) and _prefix_steps(chunk, spans, need, step):
            need = np.flatnonzero(kept & ~is_eval & np.isnan(step))
        if len(need):
            self.bar_steps(chunk, spans, need, pending, step, is_eval)
        logger = np.array(spans.loggers, dtype=bool)
        train = kept & ~is_eval & ~logger
        if overflows:  # each skipped step belongs to the train record after it
            at = np.searchsorted(spans.starts, [start for start, _ in overflows])
            before = np.concatenate([[0], np.cumsum(train)])[at]
            for (_, scale), k in zip(overflows, before.tolist()):
                self.overflows.append(self.train_records + k + 1)
                self.loss_scales.append(scale)
            overflows.clear()
        self.train_records += int(train.sum())
        index = np.zeros(n, dtype=np.int64)
        lines = np.array(spans.lines, dtype=np.int64)
        for store, mask in ((self.main, kept & ~logger), (self.logger, kept & logger)):
            if mask.any():
                index[mask] = store.extend(step[mask], lines[mask], is_eval[mask])
        for group in groups:
            group.store(self.main, self.logger, index[group.members], logger[group.members])
        for (keys, via_logger), (recs, idx) in slow_groups.items():
            store = self.logger if via_logger else self.main
            store.add_group(recs, keys, index[idx].tolist(), _KINDS[code[idx[0]]].endswith("eval"))
        self.main.flush()
        self.logger.flush()

    def own_step(self, rec: dict) -> float:
        """The step a record states itself: trainer_state `step`, LLaMA-Factory `current_steps`, ms-swift."""
        src = self.src
        if "step" in rec:
            return to_float(rec["step"]) or NAN
        if "counters/updates" in rec:  # the DPO reference implementation's optimizer steps
            self.dpo_reference()
            updates = to_float(rec["counters/updates"])
            return updates if updates is not None else NAN
        if "current_steps" in rec:
            if rec.get("total_steps") is not None:
                src.facts["total_steps"] = rec["total_steps"]
            src.hints["framework"] = "llamafactory"
            return to_float(rec["current_steps"]) or NAN
        if "global_step" in rec:  # a hand-written loop's event log: {"global_step": 10, "train_loss": ...}
            return to_float(rec["global_step"]) or NAN
        done, _, total = str(rec.get("global_step/max_steps", "")).partition("/")
        total = to_float(total)
        if total and usable_step(total) and sane_fact(int(total)) is not None:
            src.facts["total_steps"] = int(total)
        return to_float(done) if to_float(done) is not None else NAN

    def dpo_reference(self) -> None:
        src = self.src
        if src.hints.get("framework") != "dpo-reference":
            src.hints["framework"] = "dpo-reference"
            src.warnings.append(f"{self.path.name}: DPO reference implementation: the step is `counters/updates` "
                                "(optimizer updates; `after N examples` counts examples), and an `eval after N` "
                                "dict takes the step of the train stats before it")

    def one(self, raw: bytes, python_repr: bool):
        """One dict that failed in its batch: JSON after fix-ups, else a tolerant key/value extractor."""
        fixed = raw
        if python_repr:
            for old, new in _PY_FIXES:
                fixed = fixed.replace(old, new)
        for parse_int in (None, short_int):  # the second time, a 5000-digit number reads as a float
            try:
                return json.loads(fixed, parse_int=parse_int)
            except ValueError:
                continue
            except RecursionError:
                break
        # Pair by pair (terminal damage between the pairs of real logs is tolerated), only when every value
        # is a literal (a number, a string, nan/inf/None/True/False, a `tensor(x)` or numpy `array(x, dtype=...)`
        # repr, as TRL's PPO stats print) and no call sits
        # between them: a dict holding an expression is not a record. Nothing is ever evaluated.
        text = _ANSI.sub(b"", raw)
        out = {}
        pos = 0
        for m in _PAIR.finditer(text):
            if b"(" in text[pos:m.start()]:
                break
            value = m.group(3).strip()
            if value.startswith((b"tensor(", b"array(")):
                inner = _TENSOR.match(value)
                if inner is None:
                    break
                value = inner.group(1)
                if value.startswith(b"["):  # a vector (TRL PPO's `objective/kl_dist`): no scalar to log
                    pos = m.end()
                    continue
            key = m.group(2).decode("utf-8", "replace")
            if value[:1] in (b"'", b'"'):
                out[key] = value[1:-1].decode("utf-8", "replace")
            elif value in _LITERALS:
                out[key] = _LITERALS[value]
            else:
                num = to_float(value.decode("ascii", "replace"))
                if num is None:
                    break
                out[key] = num
            pos = m.end()
        else:
            if out and b"(" not in text[pos:]:
                return out
            # no `key: value` at all: a set literal (vLLM's `{'generate', 'embed', ...}`), not a damaged dict
            if pos == 0 and b":" not in text:
                return {}
        self.bad += 1
        return {}

    # ------------------------------------------------------------ records

    def note_overflows(self, overflows: list, before: int) -> None:
        """DeepSpeed skipped a step before byte `before`: it belongs to the next train record."""
        while overflows and overflows[0][0] < before:
            _, scale = overflows.pop(0)
            self.overflows.append(self.train_records + 1)
            self.loss_scales.append(scale)

    # ------------------------------------------------------------ facts

    def startup_facts(self, chunk: bytes) -> None:
        """Facts stated once at start-up, searched in the first chunk only (short needles are slow)."""
        src = self.src
        facts = src.facts
        m = _TRAINABLE.search(chunk) if b"trainable params: " in chunk else None
        if m:
            facts["trainable_params"] = int(m.group(1).replace(b",", b""))
        p = chunk.find(_BANNER)
        if p >= 0:
            for m in _RUNNING.finditer(chunk, p, p + 4096):
                where, key = _RUNNING_KEYS[m.group(1)]
                value = to_float(m.group(2).replace(b",", b"").decode())
                target = facts if where == "facts" else src.config
                if value is not None and key not in target and sane_fact(value) is not None:
                    target[key] = int(value) if value.is_integer() and abs(value) < 2 ** 63 else value
        for key, value in stated_arguments(chunk).items():
            src.config.setdefault(key, value)
        if b"llamafactory" in chunk:
            src.hints["framework"] = "llamafactory"
        m = _WORLD.search(chunk) if b"world size: " in chunk else None
        if m:
            facts["world_size"] = int(m.group(1))
        m = _REF_MODEL.search(chunk) if b"Created reference model from" in chunk else None
        if m:
            facts["reference_model"] = m.group(1).decode("utf-8", "replace").strip().rstrip(".")
        for literal, key in _FLAGS:
            if literal in chunk:
                facts[key] = True
        for m in _windows(chunk, (b"trl", b"TRL"), _TRL_VERSION, 16, 32):
            facts["trl_version"] = m.group(1).decode()
            src.hints.setdefault("framework", "trl")
            break
        for m in _windows(chunk, (b"Trainer",), _TRAINER, 16, 8):
            src.hints.setdefault("method", _TRAINER_METHOD[m.group(1)])
            if not m.group(0).startswith(b"Custom"):
                src.hints.setdefault("framework", "trl")
            break
        m = _STARTING.search(chunk) if b"Starting " in chunk else None
        if m:
            src.hints.setdefault("method", _TRAINER_METHOD[m.group(1)])
        self.mlx_mode = b"Iter " in chunk and b" loss " in chunk

    def metrics_blocks(self, chunk: bytes) -> None:
        """The Trainer's `log_metrics` print at the end of a run: `***** train metrics *****` then
        `  train_loss               =     0.0` lines (and the same for eval). The same summary as the
        `{'train_runtime': ...}` dict, stated as facts; `0:02:59.80`, `3778867GF` are not numbers and are skipped."""
        for block in _METRICS_BLOCK.finditer(chunk):
            split = block.group(1).decode()
            for m in _BLOCK_LINE.finditer(block.group(2)):
                key, value = m.group(1).decode(), to_float(m.group(2).decode())
                if value is None:
                    continue
                if split == "train" or key.startswith(split + "_"):
                    self.src.facts[key] = value

    def wandb_summary(self, chunk: bytes, line_base: int) -> None:
        """`wandb: Run summary:` then `wandb:   actor/pg_loss 0` lines, printed when a W&B run finishes: the
        last value of every metric, one record at the step it states (`_step`, `train/global_step`...) or,
        stating none, after every other record. Used only when the log holds no metric dict."""
        for block in _WANDB_SUMMARY.finditer(chunk):
            rec = {}
            for m in _WANDB_LINE.finditer(block.group(1)):
                value = to_float(m.group(2).decode())
                if value is not None:
                    rec[m.group(1).decode()] = value
            step = next((rec.pop(k) for k in _WANDB_STEP_KEYS if k in rec), NAN)
            for k in _WANDB_STEP_KEYS:
                rec.pop(k, None)
            if rec:
                line = line_base + 1 + chunk.count(b"\n", 0, block.start())
                idx = self.summary.new_record(step, line, False)
                self.summary.add_group([rec], tuple(rec), [idx], False)
        self.summary.flush()

    def mlx(self, chunk: bytes, line_base: int) -> None:
        """mlx-lm `Iter 31: Train loss 0.002, Chosen reward -5.426, Learning Rate 1.000e-05, ...`."""
        pos, line = 0, line_base + 1
        for m in _MLX.finditer(chunk):
            line += chunk.count(b"\n", pos, m.start())
            pos = m.start()
            rec = {}
            for part in m.group(2).decode("utf-8", "replace").split(", "):
                name, _, value = part.rpartition(" ")
                name = name.strip()
                key = _MLX_NAMES.get(name.lower())
                if key is None and (fn := _MLX_REWARD_FN.fullmatch(name)) is not None:
                    key = f"rewards/{fn.group(1)}/{fn.group(2)}"
                if key and to_float(value) is not None:
                    rec[key] = to_float(value)
            if rec:
                self.src.hints.setdefault("framework", "mlx")
                is_eval = "eval_loss" in rec
                self.train_records += not is_eval
                idx = self.main.new_record(float(m.group(1)), line, is_eval)
                self.main.add_group([rec], tuple(rec), [idx], is_eval)
        self.main.flush()

    # ------------------------------------------------------------ result

    def wrapped(self) -> None:
        """Dicts broken over several lines (pasted into an issue, or pretty-printed JSON): joined again."""
        with open_stream(self.path, keep_colours=True) as f:
            data = f.read(WRAPPED_MAX + 1)
        spans = []
        for m in _WRAPPED.finditer(data):
            start, end = m.span()
            text = re.sub(rb"[\r\n]+", b"", data[start:end])
            spans.append((text, data.count(b"\n", 0, start) + 1))
        if spans:
            chunk = b"\n".join(text for text, _ in spans)
            offsets = np.cumsum([0] + [len(text) + 1 for text, _ in spans[:-1]]).tolist()
            ends = [o + len(text) for o, (text, _) in zip(offsets, spans)]
            self.convert(chunk, _Spans(offsets, ends, [line for _, line in spans], [0] + ends[:-1],
                                       [False] * len(spans), 0), [])
            if len(self.main.step):
                self.src.warnings.append(f"{self.path.name}: metric dicts were wrapped over several lines; joined")

    def bare(self) -> None:
        """A small file without a dict: metric dicts pasted without their braces, read again with them."""
        with open_stream(self.path, keep_colours=True) as f:
            data = f.read(WRAPPED_MAX + 1)
        if not (data[:1] in (b"'", b'"') or b"\n'" in data or b'\n"' in data):  # no line starts with a quote
            return
        data, n = _braced(data)
        spans = _spans(data, 0) if n else None
        if spans is not None and spans.starts:
            self.convert(data, spans, [], None)
            if len(self.main.step):
                self.src.warnings.append(f"{self.path.name}: metric dicts without their braces ('loss': 0.5, "
                                         "'grad_norm': ... as a terminal selection leaves them) were read as dicts")

    def end_of_run(self) -> None:
        tail = b"".join(self.tail_parts)
        tail = tail[-TAIL:] if len(tail) > TAIL else tail
        self.tail_parts = []  # (the last chunk: gone before the series are built)
        lines_at_end = self.tail_lines
        if b" metrics *****" in tail:
            self.metrics_blocks(tail)
        if b"Run summary:" in tail:
            self.wandb_summary(tail, lines_at_end - tail.count(b"\n"))

    def finish(self, size: int) -> SourceData:
        src = self.src
        large = size >= LARGE
        if large:  # the chunks' freed buffers go back before the series are built (heap.py)
            heap.release()
        self.end_of_run()
        store = self.main if len(self.main.step) else self.logger
        if not len(store.step) and size <= WRAPPED_MAX:
            self.bare()
            store = self.main
        if not len(store.step) and size <= WRAPPED_MAX:
            self.wrapped()
            store = self.main
        if not len(store.step) and len(self.summary.step):
            store = self.summary
            src.warnings.append(f"{self.path.name}: only W&B's run summary was read (the last value of each "
                                "metric, one row)")
        self.warned.state(src)
        if not len(store.step):
            if self.warned:  # a paste of a trainer's warnings alone still says what went wrong
                src.warnings.append(f"{self.path.name}: no metric lines, only {self.warned.describe()}")
                return src
            if "total_steps" in src.facts or "num_examples" in src.facts:  # the "Running training" block
                bar = self.pending_bar
                at = f", the progress bar at {bar[0]}/{bar[1]}" if bar else ""
                src.warnings.append(f"{self.path.name}: no metric lines: training started (the \"Running "
                                    f"training\" block{at}) but no step was logged")
                return src
            if "train_loss" in src.facts or "train_runtime" in src.facts:
                src.warnings.append(f"{self.path.name}: only the end-of-training summary, no per-step metrics")
                return src
            if self.overflows:  # a paste of the DeepSpeed overflow lines alone still says how fp16 went
                src.warnings.append(f"{self.path.name}: no metric lines, only {len(self.overflows)} DeepSpeed "
                                    "loss-scale overflow line(s)")
                self.overflow_facts(None, None)
                return src
            raise SourceError(f"{self.path}: no training metrics found")
        if store is self.logger:
            src.warnings.append(f"{self.path.name}: metrics read from logger lines (rounded copies)")
        if self.bad:
            where = f", first at line {self.first_bad}" if self.first_bad else ""
            src.warnings.append(f"{self.path.name}: {self.bad} unreadable dict line(s) skipped{where}")
        if self.total and "total_steps" not in src.facts:
            src.facts["total_steps"] = self.total
        steps, ordinals = _steps(store, src)
        records = len(store.step)
        if self.overflows:
            self.overflow_facts(ordinals, steps)
        del ordinals
        store.step = store.eval = None  # (read by _steps; gone before the series are built: peak memory)
        cols = Columns()
        lines = store.line.view(np.int64)
        if len(lines) and int(lines.max()) < 2 ** 31:  # each metric's lines 4 bytes a value, not 8 (10.7 -> 5.3 MB
            lines = lines.astype(np.int32)  # of a 1 GB log's, held through the rules for the findings' places)
        store.line = None
        cols.set_steps(steps, lines)

        def metrics():
            for name in store.metrics:
                i, values = store.arrays(name, keep=True)
                yield steps[i], values, lines[i]

        cols.forget_copies(src, metrics)
        cols.finish_segments(src, "the step counter")
        gathered: list = []  # metrics logged in the same records share one steps and one lines array
        rising = not cols._restarts and (len(lines) < 2 or bool((lines[1:] >= lines[:-1]).all()))
        for name in list(store.metrics):
            i, values = store.arrays(name)
            last = _last_per_step(i, steps, gathered) if rising else None
            if last is not None:  # logged twice at some steps (an eval record's epoch): the later value only
                i, values = i[last], values[last]
            del last
            at_steps, at_lines = _gather(i, steps, lines, gathered)
            series = cols.finish(at_steps, values, at_lines)
            if series is not None:
                src.series[name] = series
                if series.steps is not at_steps:  # a step logged twice (an eval's record): its own arrays
                    gathered = [g for g in gathered if g[1] is not at_steps]
            del i, values, at_steps, at_lines, series
        note_collisions(src, store._names, store._lf_names)
        src.records = records
        deepspeed_facts(src.facts, self.ds_progress, self.ds_first)
        if large:  # and what building them freed, before the Run is built from them
            heap.release()
        return src

    def overflow_facts(self, ordinals, steps) -> None:
        """How many optimizer steps DeepSpeed skipped, the lowest loss scale it tried, and where."""
        facts = self.src.facts
        facts["overflow_count"] = len(self.overflows)
        facts["loss_scale_min"] = min(self.loss_scales)
        facts["loss_scale_max"] = 2 * max(self.loss_scales)  # the largest scale a skipped step attempted (halved)
        if ordinals is None or self.src.step_kind == "ordinal":
            facts["overflow_steps"] = self.overflows
        else:
            facts["overflow_steps"] = _steps_of(self.overflows, ordinals, steps)



def _overflows(chunk: bytes, old: bool = False) -> list[tuple[int, float]]:
    """(offset, the scale it falls to) of the fp16 overflow lines of a chunk, in order. DeepSpeed's is found by
    `find` on its literal and the regex only tried there (a regex scan of a 16 MB chunk for a literal costs 9
    instructions a byte; memchr on its `!` a fraction of one). The older DeepSpeed wording and apex's
    (`textlog.APEX_OVERFLOW`) have no rare byte to look for: they are searched only where the log's first chunk
    held one (`old`), since the scaler's calibration skips come at the start."""
    out = []
    p = find_rare(chunk, b"OVERFLOW! ", 8)
    while p >= 0:
        m = _OVERFLOW.match(chunk, p)
        if m is not None:
            out.append((m.start(), float(m.group(2))))
            p = m.end()
        else:
            p += 1
        p = find_rare(chunk, b"OVERFLOW! ", 8, p)
    if old:
        p = chunk.find(_OLD_OVERFLOW)
        while p >= 0:
            m = _OVERFLOW.match(chunk, p)
            if m is not None:
                out.append((m.start(), float(m.group(2))))
            p = chunk.find(_OLD_OVERFLOW, p + 1)
        out += apex_overflows(chunk)
        out.sort()
    return out


def _by_skeleton(skeletons: list) -> dict:
    """skeleton -> the numbers of the dicts that have it, in first-seen order. A chunk holds a few shapes
    (train, eval, the odd NaN): one C-level pass per shape instead of a Python step per dict."""
    first = dict.fromkeys(skeletons)
    if len(first) == 1:
        return {skeletons[0]: list(range(len(skeletons)))}
    if len(first) > 16:
        out: dict = {}
        for i, skeleton in enumerate(skeletons):
            group = out.get(skeleton)
            if group is None:
                out[skeleton] = [i]
            else:
                group.append(i)
        return out
    code = {skeleton: k for k, skeleton in enumerate(first)}
    codes = np.fromiter(map(code.__getitem__, skeletons), dtype=np.int32, count=len(skeletons))
    return {skeleton: np.flatnonzero(codes == k).tolist() for skeleton, k in code.items()}


class _Spans(NamedTuple):
    """The dicts of one chunk, as parallel lists in file order."""

    starts: list
    ends: list
    lines: list  # 1-based line of each dict
    los: list  # where the search for its progress bar starts: the end of the dict before it (0 for the first)
    loggers: list  # echoed by a logger (`... >> {...}`)
    newlines: int  # in the whole chunk
    texts: list | None = None  # chunk[start:end] of each dict


_QUOTES = frozenset(b"'\"")
_ECHO_CALLBACKS = b".callbacks - "
_ECHO_CALLBACKS_ARRAY = np.frombuffer(_ECHO_CALLBACKS, dtype=np.uint8)
_FEEDS = 1 << 20  # bytes of a chunk compared at once when its line feeds are found
_IS_QUOTE = np.zeros(256, dtype=bool)
_IS_QUOTE[[39, 34]] = True


def _spans(chunk: bytes, line_base: int) -> _Spans:
    """Find a chunk's dict spans (exactly what `_DICT.finditer` finds) and their lines.

    Most of a console is progress-bar redraws: a regex scan looks at every byte in Python's regex engine
    (about 1 GB/s), while `find` of one byte is a memchr. So every `{` is found by `find`, its closing `}` by
    `find`, and the candidates are checked all at once (a quote after the brace; no `{`, line end or `\\r`
    inside); only a chunk holding some other `{` checks them one by one. A dict holds no `{`, so candidates
    never overlap and the dicts found are the regex's. Lines: the line feeds before each dict, from the positions
    of all of them (one numpy comparison of the chunk)."""
    data = np.frombuffer(chunk, dtype=np.uint8)
    find = chunk.find
    cands = []
    p = find(b"{")
    while p >= 0:
        cands.append(p)
        p = find(b"{", p + 1)
    if not cands:
        return _Spans([], [], [], [], [], chunk.count(b"\n"), [])
    ends = [e + 1 for e in map(find, repeat(b"}", len(cands)), cands)]  # 0 where no `}` follows
    texts = list(map(chunk.__getitem__, map(slice, cands, ends)))
    starts = np.array(cands, dtype=np.int64)
    length = np.array(ends, dtype=np.int64) - starts
    quoted = _IS_QUOTE[data[np.minimum(starts + 1, len(data) - 1)]] & (length > 2)
    joined = b"\x00".join(texts)
    if not quoted.all() or joined.count(b"{") != len(cands) or b"\n" in joined or b"\r" in joined:
        keep = [i for i in np.flatnonzero(quoted).tolist()
                if texts[i].count(b"{") == 1 and b"\n" not in texts[i] and b"\r" not in texts[i]]
        cands = [cands[i] for i in keep]
        ends = [ends[i] for i in keep]
        texts = [texts[i] for i in keep]
        starts = starts[keep]
        if not cands:
            return _Spans([], [], [], [], [], chunk.count(b"\n"), [])
    # the chunk's line feeds (a numpy pass; bytes.count per gap: twice the time), a MB at a time: a mask of the
    # whole chunk would be as large as the chunk
    feeds = (np.concatenate([np.flatnonzero(data[a:a + _FEEDS] == 10) + a for a in range(0, len(data), _FEEDS)])
             if len(data) > _FEEDS else np.flatnonzero(data == 10))
    lines = np.searchsorted(feeds, starts) + (line_base + 1)
    newlines = len(feeds)
    after = starts >= 3  # echoed by a logger: `>> ` just before the brace
    after[after] = (data[starts[after] - 1] == 32) & (data[starts[after] - 2] == 62) & (data[starts[after] - 3] == 62)
    # LLaMA-Factory's LogCallback repeats the Trainer's dict, rounded (`... llamafactory.train.callbacks - {...}`,
    # `llmtuner.extras.callbacks - {...}`): an echo too, or every logging step would count twice
    far = starts >= len(_ECHO_CALLBACKS)
    if far.any():
        at = starts[far][:, None] - len(_ECHO_CALLBACKS) + np.arange(len(_ECHO_CALLBACKS))
        after[far] |= (data[at] == _ECHO_CALLBACKS_ARRAY).all(axis=1)
    if len(texts) > 1 and find(b": {") >= 0:
        _host_echoes(chunk, cands, texts, after)
    loggers = after.tolist()
    if after.any():
        los, prev_end = [], 0
        for end, via_logger in zip(ends, loggers):
            los.append(prev_end)
            if not via_logger:  # a logger's echo must not use up the progress bar of the dict it echoes
                prev_end = end
    else:
        los = [0, *ends[:-1]]
    return _Spans(cands, ends, lines.tolist(), los, loggers, newlines, texts)


# A multi-node launch (pdsh, DeepSpeed's launcher) prints each node's copy of a dict behind the node's name:
# `10.96.202.43: {...}`, `worker-1: {...}`. A name is an IPv4 address, `localhost`, or a word with a digit in it
# (so that `INFO: {...}` is no node).
_HOST_HEAD = lazyre.compile(rb"[ \t]*(?:\d{1,3}(?:\.\d{1,3}){3}|localhost|[A-Za-z][\w.-]*\d[\w.-]*):[ \t]*")
_HOST_ECHO_WINDOW = 256  # the copies of one dict lie within this many dicts of the first (up to 256 nodes)


def _host_echoes(chunk: bytes, starts: list, texts: list, after: np.ndarray) -> None:
    """In place: mark as echoes (like a logger's) the node-prefixed copies of a dict that a node-prefixed line
    printed just before, when at least two node names print dicts (LlamaFactory#813: four nodes, each step's dict
    four times). The first copy stays the record; without this a 4-node run reads as 4x its steps."""
    rfind, head = chunk.rfind, _HOST_HEAD.fullmatch
    prefixed = []
    for i, s in enumerate(starts):
        m = head(chunk, rfind(b"\n", 0, s) + 1, s)
        if m is not None:
            prefixed.append((i, chunk[m.start():s].strip(b" \t:")))
    if len({host for _, host in prefixed}) < 2:
        return
    first: dict = {}
    for i, _host in prefixed:
        j = first.get(texts[i])
        if j is not None and i - j <= _HOST_ECHO_WINDOW:
            after[i] = True
        else:
            first[texts[i]] = i


# A loop that prints its step before the dict on the same line: `step 12: {...}`, `Step 12 | {...}` (SkyRL), also with
# other words between them after a separator: `Step 10: rl_loss: 0.0123, reward_data: {...}` (CS336-style GRPO loops)
_STEP_HEAD = lazyre.compile(rb"(?i)[ \t]*(?:global[ _])?step[ \t]*[:=]?[ \t]*(\d{1,15})[ \t]*(?:[:|,\-][^{\r\n]*)?")


def _prefix_steps(chunk: bytes, spans: "_Spans", need: np.ndarray, step: np.ndarray) -> bool:
    """In place: the step of each dict in `need` whose line begins with a step head (`step N`, then up to the
    brace nothing, or a separator and words without a brace, as `_STEP_HEAD` reads). Tried on the first dict only
    when it fails there: a log prints its lines one way, and most dicts have no such head (a regex per dict would
    cost a large log its speed)."""
    rfind, head = chunk.rfind, _STEP_HEAD.fullmatch
    starts = spans.starts
    first = int(need[0])
    if head(chunk, rfind(b"\n", 0, starts[first]) + 1, starts[first]) is None:
        return False
    found = False
    for i in need.tolist():
        m = head(chunk, rfind(b"\n", 0, starts[i]) + 1, starts[i])
        if m is not None:
            step[i] = float(m[1])
            found = True
    return found


def _steps(store: _Store, src: SourceData) -> tuple[np.ndarray, np.ndarray]:
    """Global step per record, and the train ordinal (1, 2, 3...) per record.

    Eval records take the step of the train record before them. When no train record has a step, the
    ordinals are the steps (`step_kind="ordinal"`) and the assembler places them; when only some lack
    one, they are filled from their neighbours at the logging interval.
    """
    # The store's own array, written in place: the caller drops the store's records after this (no copies of
    # a long log's steps beside it).
    own = store.step.view(np.float64)
    absurd = np.abs(own) > MAX_STEP  # damage (a 2**400 step reads as 2.6e120), not a restart of the counter
    if absurd.any():
        own[absurd] = np.nan
        src.warnings.append(f"{src.path.name}: {int(absurd.sum())} step value(s) beyond 2**53 taken as missing")
    del absurd
    is_eval = store.eval.view(np.int8).astype(bool)
    ordinals = np.cumsum(~is_eval, dtype=np.float64)
    train_known = ~is_eval & ~np.isnan(own)
    if not train_known.any() and np.isnan(own[is_eval]).all():
        src.step_kind = "ordinal"
        return ordinals, ordinals
    steps = own  # (filled below: rows of other kinds than those read before each fill)
    missing = ~is_eval & np.isnan(own)
    ev = is_eval & np.isnan(own)
    if missing.any() and not _burst_steps(store, src, own, is_eval, train_known, missing):
        k, s = ordinals[train_known], own[train_known]
        interval = float(np.median(np.diff(s) / np.diff(k))) if len(k) > 1 else 1.0
        interval = max(round(interval), 1)
        # a step is a whole number: between two anchors logged 37 steps apart over 6 dicts, each is rounded (a
        # fractional step would be dropped as damage further on, with its values)
        steps[missing] = np.round(np.interp(ordinals[missing], k, s, left=np.nan, right=np.nan))
        left = missing & (ordinals < k[0])
        right = missing & (ordinals > k[-1])
        steps[left] = s[0] - (k[0] - ordinals[left]) * interval
        steps[right] = s[-1] + (ordinals[right] - k[-1]) * interval
        src.warnings.append(f"{src.path.name}: {int(missing.sum())} dict line(s) without a progress-bar step; "
                            f"placed from their neighbours at {interval} steps per log")
        if int(missing.sum()) > int(train_known.sum()):  # most steps guessed: a source with its own steps is the record
            src.hints["steps"] = "inferred"
    if ev.any():
        train_idx = np.flatnonzero(~is_eval)
        prev = np.searchsorted(train_idx, np.flatnonzero(ev)) - 1
        steps[ev] = np.where(prev >= 0, steps[train_idx[np.maximum(prev, 0)]], 0.0)
    return steps, ordinals


def _burst_steps(store: _Store, src: SourceData, own: np.ndarray, is_eval: np.ndarray, train_known: np.ndarray,
                 missing: np.ndarray) -> bool:
    """In place: the steps of dicts printed in bursts after a progress bar, from their epochs. Run under nohup or
    into a file, a script's stdout is buffered while tqdm's stderr is not: five dicts logged at steps 10 ... 50
    reach the file at once after the bar's `50/160`, so the bar is the step of a burst's last dict, not its first
    (read as the first, every step of the run moved on by 40). A dict's `epoch` says which: where the steps of
    the anchors over the epochs of their bursts' last dicts agree (a steps-per-epoch that varies under 10%) and
    over the first dicts' they do not (30% or more), every train dict's step is its epoch x that ratio. True when
    the dicts were placed so."""
    col = store.metrics.get("epoch")
    if col is None:
        return False
    idx, vals = col.arrays()
    ep = np.full(len(own), np.nan)
    ep[idx] = vals
    train = np.flatnonzero(~is_eval)
    if len(train) < 4 or np.isnan(ep[train]).mean() > 0.1:
        return False
    known = np.flatnonzero(train_known[train])  # positions in the train sequence
    if not len(known):
        return False
    ends = np.append(known[1:] - 1, len(train) - 1)  # the last train dict of each anchor's burst
    burst = ends > known
    if len(known) < 2 or burst.sum() < 2:
        return _one_burst(own, ep, train, known, ends, burst, src, missing)
    first, last = train[known[burst]], train[ends[burst]]  # (the anchor is its burst's first dict)
    with np.errstate(divide="ignore", invalid="ignore"):
        r_first, r_last = own[first] / ep[first], own[first] / ep[last]
    if not (np.isfinite(r_first).all() and np.isfinite(r_last).all() and (r_last > 0).all()):
        return False

    def spread(r):
        return float((r.max() - r.min()) / np.median(r))

    if not (spread(r_last) < 0.1 and spread(r_first) >= 0.3):
        return False
    per_epoch = float(r_last[np.argmax(ep[last])])  # the latest anchor: its epoch rounded least, relatively
    placed = ep[train] * per_epoch
    # epochs are printed to 2 decimals (0.12 for 0.125): a step is snapped to the logging interval (the dicts' median
    # spacing, 9.95 -> 10) where every anchor is a multiple of it (50, 100, 150), within a third of an interval
    gap = float(np.median(np.diff(placed))) if len(placed) > 1 else 0.0
    every = int(round(gap))
    if every > 1 and not (own[train[known]] % every).any():
        snapped = np.round(placed / every) * every
        close = np.abs(snapped - placed) <= every / 3
        placed = np.where(close, snapped, placed)
    own[train] = np.round(placed)
    n = int(missing.sum())
    src.warnings.append(f"{src.path.name}: {n + int(train_known.sum())} dict line(s) printed in bursts after a "
                        f"progress bar (stdout buffered, tqdm not: a nohup log); placed by their epoch at "
                        f"{per_epoch:.4g} steps per epoch")
    return True


def _one_burst(own, ep, train, known, ends, burst, src: SourceData, missing: np.ndarray) -> bool:
    """A short run's dicts all flushed at its end (stdout buffered under nohup, never full before the exit): one
    burst after the last bar, `100/100`, then every dict of the run. Where that bar is the run's last step (the
    "Running training" block's total) and the burst holds most of the train dicts, each dict's step is its epoch x
    (total / the last dict's epoch): Salieri2077/DPO_RLHF_oceanDemo's 20 DPO dicts at epochs 0.1 ... 2.0 after
    `100/100` are steps 5 ... 100, not 81 ... 100."""
    total = src.facts.get("total_steps")
    if burst.sum() != 1 or not total:
        return False
    b = int(np.flatnonzero(burst)[0])
    first, last = int(known[b]), int(ends[b])
    n = last - first + 1
    if n < 4 or n < 0.8 * len(train) or abs(own[train[first]] - total) > 0.01 * total:
        return False
    # more train dicts than the bar has steps: the bar is not this training's (Time-MoE#71: a `7/7 [00:00<00:00,
    # 1809.34it/s]` data bar above nine dicts of a run 0.35 epochs in); a step logs one dict at most
    if len(train) > total:
        return False
    eps = ep[train[first:last + 1]]
    if np.isnan(eps).any() or eps[-1] <= 0 or (np.diff(eps) < 0).any():
        return False
    per_epoch = total / float(eps[-1])
    own[train[first:last + 1]] = np.round(eps * per_epoch)
    src.warnings.append(f"{src.path.name}: {n} dict line(s) printed at once after the last progress bar (stdout "
                        f"buffered, tqdm not: a nohup log); placed by their epoch at {per_epoch:.4g} steps per epoch")
    return True


def _windows(chunk: bytes, needles: tuple, regex, before: int, after: int, limit: int = 50):
    """Matches of `regex` around the first `limit` occurrences of each needle (a regex over the whole
    chunk would cost a full scan without a literal prefix)."""
    for needle in needles:
        p = chunk.find(needle)
        n = 0
        while p >= 0 and n < limit:
            m = regex.search(chunk, max(0, p - before), p + len(needle) + after)
            if m:
                yield m
            p = chunk.find(needle, p + 1)
            n += 1


_WANDB_SUMMARY = lazyre.compile(rb"wandb: Run summary:[ \t]*\r?\n((?:wandb: +\S+ +[^\n]*\n?)+)")
_WANDB_LINE = lazyre.compile(rb"^wandb: +(\S+) +(\S+)[ \t]*\r?$", re.M)
_WANDB_STEP_KEYS = ("_step", "train/global_step", "training/global_step", "global_step", "trainer/global_step")
_METRICS_BLOCK = lazyre.compile(rb"\*\*\*\*\* (train|eval|test|predict) metrics \*\*\*\*\*[ \t]*\r?\n((?:[ \t]+\w+ +=[^\n]*\n?)+)")
_BLOCK_LINE = lazyre.compile(rb"^[ \t]+(\w+) += +(\S+)[ \t]*\r?$", re.M)


def _kind(keys: tuple) -> str:
    """What a dict with these keys is: hf | eval | stepped | stepped_eval (stating their own step) | summary
    | other."""
    stepped = "step" in keys or "current_steps" in keys or "global_step/max_steps" in keys or \
        "counters/updates" in keys or "global_step" in keys
    # HF's end-of-run summary; a record that states its step and holds `train_loss` without the summary's
    # `train_runtime` is a hand-written loop's logged row (`{"global_step": 10, "train_loss": 2.1, ...}`)
    if is_summary_record(keys) and not (stepped and "train_runtime" not in keys):
        return "summary"
    dpo_ref = {r for k in keys for r in (_DPO_REF.match(k) or _NO_ROLE).groups() if r}
    # a script's settings printed as a dict (`{'learning_rate': 0.0003, 'batch_size': 8, 'warmup_steps': 10, ...}`,
    # litgpt's `{"type": "config", "args": {...}}`): no logged row, though it names a rate (read as one, it put the
    # peak rate at step 1 and shifted every row; with `eval_steps` it became an evaluation)
    if not stepped and len(SETTING_KEYS.intersection(keys)) >= 2 and not any(
            k == "epoch" or canonical(k) in MEASURED_KEYS for k in keys):
        return "other"
    if is_eval_record(keys) or dpo_ref == {"eval"} or (  # DPO reference eval dicts: the step of the train dict before
            "loss" not in keys and any(canonical(k) == "eval_loss" for k in keys)):  # a loop's `val_loss`
        return "stepped_eval" if stepped else "eval"
    if not ("loss" in keys or "learning_rate" in keys or "grad_norm" in keys or "lr" in keys or dpo_ref
            or any(canonical(k) in TRAINING_KEYS for k in keys)):
        return "other"  # a config dump, a batch printout
    return "stepped" if stepped else "hf"


_NO_ROLE = re.match("()()", "")


def _gather(i: np.ndarray, steps: np.ndarray, lines: np.ndarray, seen: list) -> tuple:
    """(steps[i], lines[i]), the same two arrays for every metric whose record numbers `i` are equal (most of a
    log's metrics are logged in every train record: one 24-byte triple per value becomes 8 bytes per value plus
    16 per record). `seen` holds the (i, steps, lines) gathered so far."""
    for j, s, ln in seen:
        if len(j) == len(i) and np.array_equal(j, i):
            return s, ln
    s = steps[i]
    # other records at the same steps (an eval record's epoch at the train record's step): the steps array too
    s = next((other for _, other, _ in seen if len(other) == len(s) and np.array_equal(other, s)), s)
    ln = lines[i]
    seen.append((i, s, ln))
    return s, ln


def _last_per_step(i: np.ndarray, steps: np.ndarray, seen: list) -> np.ndarray | None:
    """Which of a metric's values `Columns.finish` keeps when its records' steps repeat but never fall (a step
    logged by a train and an eval record), given lines that rise with the records: the last of each step.
    Taken on the record numbers, so that the steps and lines of the rows dropped are never gathered. None when
    no step repeats, when the steps fall somewhere (finish sorts those), or when these records were gathered
    already."""
    if len(i) < 2 or any(len(j) == len(i) and np.array_equal(j, i) for j, _, _ in seen):
        return None
    if not (i[1:] > i[:-1]).all():
        return None
    at = steps[i]
    if (at[1:] > at[:-1]).all() or not (at[1:] >= at[:-1]).all():
        return None
    return np.append(at[1:] != at[:-1], True)


def _steps_of(ks: list, ordinals: np.ndarray, steps: np.ndarray) -> list:
    """The step of the train record with each ordinal in `ks` (ordinals never decrease: one binary search
    each); an ordinal past the last record stays as it is."""
    pos = np.searchsorted(ordinals, ks).tolist()
    n = len(ordinals)
    return [int(steps[p]) if p < n and ordinals[p] == k else k for k, p in zip(ks, pos)]


_BANNER = b"***** Running training *****"
_RESUMED = b"Continuing training from checkpoint"


def _from_line(piece: bytes, n: int) -> tuple[bytes, int]:
    """`piece` from its `n`-th line on (0-based), and the number of lines cut off before it."""
    p, cut = 0, 0
    while cut < n:
        q = piece.find(b"\n", p)
        if q < 0:
            return b"", cut
        p, cut = q + 1, cut + 1
    return piece[p:], cut


def read(path: Path) -> SourceData:
    reader = _Reader(path)
    src = reader.run()
    start = reader.last_run()
    if start is None:
        return src
    # Several runs one after another in one file (each launch appends its banner, its steps and its summary): their
    # steps would be spliced into one series. The last run is read, from its banner on, and the report says so.
    try:
        last = _Reader(path, from_line=start).run()
    except SourceError:
        return src  # the last launch logged nothing: the whole file, as before
    if not last.series:
        return src
    runs = 1 + sum(1 for b in reader.launches if b not in reader.resumes and b < start)
    last.warnings.insert(0, f"{path.name}: holds {runs} training runs one after another (a \"Running training\" "
                            f"block each, the earlier ended by their summary); the last one, from line {start + 1}, "
                            f"is read")
    return last


@contextmanager
def _collector_paused(pause: bool):
    """The cyclic garbage collector paused for a large file's chunk pass (`pause`), as it was afterwards. The pass
    makes no cycles, but its lists of dicts, match objects and tuples set off a young-generation collection
    every few hundred of them, each walking the chunk's lists: ~800 collections, 0.1-0.15 s of CPU on a 1 GB log
    (2-3% of the command)."""
    was = pause and gc.isenabled()
    if was:
        gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


# ------------------------------------------------------------------------------------------ the plugin

# (`train_loss` leading a dict only as Python prints it: `{"train_loss": 7.39, "train_lr": ..., "epoch": 0}` is the
# DeiT/DINO per-epoch log.txt, epoch_jsonl's; HF's end-of-run summary is printed with single quotes)
_SNIFF = lazyre.compile(r"""\{\s*(?:'train_loss'|['"‘“](?:loss|eval_loss|learning_rate|grad_norm|rewards/|logps/|kl|reward"""
                        r"""|objective/|ppo/))"""
                        r"""|\{\s*['"](?:step|global_step|iter)['"]\s*:\s*\d+\s*,[^\n{}]*['"]\w*loss\w*['"]\s*:\s*-?[\d.]"""
                        r"""|Iter \d+: (?:Train|Val) loss|train stats after \d+"""
                        r"""|(?:^|\n)[ \t]*['"](?:loss|eval_loss|train_loss|learning_rate|grad_norm|reward)['"]: [^\n{]*, ['"]""")


# DeepSpeed's overflow lines alone: a paste of them is still the console's, below any reader of the metric
# lines around them (the generic fallback scores 0.1-0.3)
_SNIFF_OVERFLOW = lazyre.compile(r"OVERFLOW! (?:Rank \d+ )?Skipping step|Overflow detected\. Skipping step\. Attempted loss scale")


def sniff(head: str) -> float:
    hits = len(_SNIFF.findall(head))
    if hits == 0 and _SNIFF_OVERFLOW.search(head):
        return 0.05
    return score(hits)


SOURCE = Source(
    name="console",
    title="Console logs with HF Trainer metric dicts ({'loss': ...}: TRL, LLaMA-Factory, axolotl, unsloth, "
          "ms-swift), mlx-lm Iter lines, DeepSpeed overflow lines, the Running training block",
    read=read,
    priority=20,
    sniff=sniff,
    suffixes=TEXT_SUFFIXES,
    fallback=True,
    examples=("nohup.out, train.log, running_log.txt, a paste from an issue",),
)
