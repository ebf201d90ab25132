"""Metrics printed one per line, in a block per step.

```
step 50 token 250m                          ========================= Step 3/100 =========================
train/loss 2.2328                           📊 Training Results:
train/grad_norm 12.5982                       • Loss: 0.1032
train/learning_rate 0.0000                    • Avg Reward: 0.3486
                                            ⏱️  Timing:
                                              • Total step time: 66.55s
```
A custom loop's summary print (`for k, v in logs.items(): print(k, v)`), NeMo-RL's per-step report, a W&B-like
dump pasted into an issue, OLMo's trainer console (`... olmo.train:990 INFO [step=20/1000,epoch=0]` then indented
`train/CrossEntropyLoss=8.581` lines). A block is a run of lines that each hold exactly one `name value` /
`name: value` / `name=value` pair (a bullet `•`, `-` or `*` may lead); a line naming a step (`step 50`, `Step 3/100`,
`iteration 7`, between `=` rules or not, or OLMo's bracket after its log prefix) starts the next block and gives its
step; under a step line, a line that is no pair (`train/Perplexity=5,330`) is skipped. Without any step line each block (blocks are separated by
a blank line or a line that is no pair) is one step in log order. A section whose title speaks of time or memory
(`Timing:`, `Memory:`) is bookkeeping and not read.

It is a fallback like the generic `name: value` reader: its sniff score is below every specific reader's, and the
HF Trainer's `***** train metrics *****` block (the console reader's run summary) is left alone; W&B's `Run summary:`
after blocks under step lines is where the log ends (a script that logs to W&B prints it on exit). It needs two
blocks, or one block holding a loss or a reward, so that a config printed one key per line is not a run.
"""
from __future__ import annotations

import re
from array import array
from pathlib import Path

import numpy as np

from .base import (MEASURED_KEYS, SETTING_KEYS, Columns, MetricNames, Series, SourceData, SourceError,
                   adopt_summary_loss, open_stream, release_freed)
from . import bytematrix
from .registry import TEXT_SUFFIXES, Source
from .textlog import NUM, block_floats

_PAIR = re.compile(rb"^[ \t]*(?:(?:\xe2\x80\xa2|\xc2\xb7|[*\-])[ \t]*)?([A-Za-z][\w/@.\-]*(?: [A-Za-z][\w/@.\-]*){0,4})"
                   rb"[ \t]*(?:[:=][ \t]*|[ \t]+)(" + NUM + rb")(?:[ \t]*(?:%|s|ms|[KMGT]i?B))?[ \t]*\r?$")
# (or OLMo's trainer: `2025-12-26 19:18:25.111<TAB>host:0<TAB>olmo.train:990<TAB>INFO<TAB>[step=20/1000,epoch=0]`)
_STEP = re.compile(rb"^(?:[^A-Za-z0-9\n]*(?:[Gg]lobal[ _])?(?:[Ss]tep|STEP|[Ii]ter(?:ation)?)[ \t:#=]*|[^\n\[]*\[step=)(\d+)"
                   rb"(?:[ \t]*/[ \t]*\d+)?(?![\d.])(?:,[ \t]*epoch=\d+\])?(?:[ \t]+[\w.]+){0,3}[^A-Za-z0-9\n]*\r?$")
_SECTION = re.compile(rb"^[^A-Za-z\n]*([A-Za-z][\w /&()-]{0,40}):[ \t]*\r?$")
_SKIP_SECTION = re.compile(rb"(?i)tim(e|ing)|memory|throughput|perf")
_SUMMARY = (b"***** train metrics *****", b"***** eval metrics *****", b"Run summary:", b"Run history:")
_WANDB_SUMMARY = (b"Run summary:", b"Run history:")


_KEYS: dict[bytes, str] = {}


def _key(raw: bytes) -> str:
    key = _KEYS.get(raw)
    if key is None:
        key = re.sub(r"[ ]+", "_", raw.decode("utf-8", "replace").strip()).lower()
        if len(_KEYS) < 4096:  # (a cache of the names a log uses, not of every string it holds)
            _KEYS[raw] = key
    return key


class _Scan:
    """Blocks as they complete, from an iterable of lines: `(step or None, line, {key: value})`. `stepped` turns
    true at the first step line; `summary` when a Trainer/W&B summary block shows the file is the console
    reader's (the scan stops there). The state (the open block) is kept between `feed` calls, so that a file is
    scanned in pieces (`read`: the lines a block template did not take); `end` yields the last open block."""

    def __init__(self) -> None:
        self.stepped = False
        self.summary = False
        self.wandb_end = False  # the summary was W&B's, after blocks under step lines: the log's end, not the console's
        self.cur: dict | None = None
        self.cur_step: float | None = None
        self.cur_line = 0
        self.skipping = False

    def __call__(self, lines):
        yield from self.feed(lines, 1)
        yield from self.end()

    def end(self):
        if self.cur and (len(self.cur) >= 2 or self.cur_step is not None):
            yield self.cur_step, self.cur_line, self.cur
        self.cur = None

    def feed(self, lines, first: int):
        """The lines (with or without their line feed), numbered from `first`."""
        cur, cur_step, cur_line, skipping = self.cur, self.cur_step, self.cur_line, self.skipping
        try:
            for n, line in enumerate(lines, first):
                s = _STEP.match(line)
                m = _PAIR.match(line) if s is None else None
                if m is not None:
                    if skipping:
                        continue
                    key = _key(m.group(1))
                    if cur is None or key in cur:  # a repeated name starts the next block
                        if cur and (len(cur) >= 2 or cur_step is not None):
                            yield cur_step, cur_line, cur
                        cur, cur_step, cur_line = {}, None, n
                    cur[key] = float(m.group(2))
                    continue
                if s is not None:
                    if cur and (len(cur) >= 2 or cur_step is not None):
                        yield cur_step, cur_line, cur
                    cur, cur_step, cur_line, skipping = {}, float(s.group(1)), n, False
                    self.stepped = True
                    continue
                if any(mark in line for mark in _SUMMARY):
                    self.summary = True
                    if self.stepped and any(mark in line for mark in _WANDB_SUMMARY):
                        # blocks under step lines, then W&B's summary when the script ends (OLMo's trainer): the end
                        self.wandb_end = True
                        if cur and (len(cur) >= 2 or cur_step is not None):
                            yield cur_step, cur_line, cur
                    cur = None
                    return
                sec = _SECTION.match(line)
                if sec is not None:  # a titled section inside a block: skipped when it is timing or memory
                    skipping = _SKIP_SECTION.search(sec.group(1)) is not None
                    continue
                if cur and cur_step is None:  # prose or a blank line ends a block that no step line opened
                    if len(cur) >= 2:
                        yield cur_step, cur_line, cur
                    cur = None
                if not line.strip():
                    skipping = False
        finally:
            self.cur, self.cur_step, self.cur_line, self.skipping = cur, cur_step, cur_line, skipping

    def step_line(self):
        """What a step line does before it opens its block: the open block is yielded."""
        yield from self.end()
        self.stepped = True


def _claims(keys, blocks: int) -> bool:
    from ..ontology import canonical, is_known

    known = [name for name in (canonical(k, False, None) for k in keys) if is_known(name)]
    return bool(known) and (blocks >= 2 or any(k in ("loss", "reward", "eval_loss") for k in known))


class _Blocks:
    """What is kept, in arrays: a step and a line per block, a block number and a value per metric (20 bytes a
    value); blocks before the first step line wait for it (they take step 0 when one comes, their position in the
    log when none does)."""

    def __init__(self, scan: _Scan) -> None:
        self.scan = scan
        self.steps, self.lines = array("d"), array("q")
        self.data: dict[str, tuple[array, array]] = {}  # logged key -> (block numbers, values)
        self.pending: list[tuple[int, dict]] = []
        self.prev = 0.0
        self.width = 0  # the most metrics a block held: a block with fewer is incomplete

    def add(self, step: float, line: int, row: dict) -> None:
        n = len(self.steps)
        self.steps.append(step)
        self.lines.append(line)
        if len(row) > self.width:
            self.width = len(row)
        data = self.data
        for key, value in row.items():
            got = data.get(key)
            if got is None:
                got = data[key] = (array("i"), array("d"))
            got[0].append(n)
            got[1].append(value)

    def take(self, blocks) -> None:
        """Blocks as the scan yields them."""
        for step, line, row in blocks:
            if step is None and not self.scan.stepped:
                self.pending.append((line, row))
                continue
            self.unpend()
            self.prev = step if step is not None else self.prev
            self.add(self.prev, line, row)

    def unpend(self) -> None:
        for early_line, early_row in self.pending:
            self.add(0.0, early_line, early_row)
        self.pending.clear()

    def bulk(self, steps: np.ndarray, lines: np.ndarray, keys: list, values: list) -> None:
        """Complete blocks of one template (each with a step and every key), as `take` would add them one by one."""
        self.unpend()
        self.width = max(self.width, len(keys))
        n0, n = len(self.steps), len(steps)
        self.steps.frombytes(np.ascontiguousarray(steps, dtype=np.float64).tobytes())
        self.lines.frombytes(np.ascontiguousarray(lines, dtype=np.int64).tobytes())
        recs = np.arange(n0, n0 + n, dtype=np.int32).tobytes()
        for key, vals in zip(keys, values):
            got = self.data.get(key)
            if got is None:
                got = self.data[key] = (array("i"), array("d"))
            got[0].frombytes(recs)
            got[1].frombytes(np.ascontiguousarray(vals, dtype=np.float64).tobytes())
        self.prev = float(steps[-1])

    def finish(self, path: Path, cut: bool) -> SourceData:
        scan, steps, lines, data = self.scan, self.steps, self.lines, self.data
        if scan.summary and not scan.wandb_end:
            raise SourceError(f"{path}: holds the Trainer's or W&B's summary block (the console reader's)")
        for i, (line, row) in enumerate(self.pending, 1):
            self.add(float(i), line, row)
        settings, n_settings = _settings(data)
        if not steps or not _claims(data, len(steps) - n_settings):
            raise SourceError(f"{path}: no blocks of one metric per line")
        src = SourceData(path=path, format="blocks", step_kind="exact" if scan.stepped else "ordinal")
        src.config.update(settings)
        src.series = _series(src, data, np.frombuffer(steps, dtype=np.float64),
                             np.frombuffer(lines, dtype=np.int64))
        if not src.series:
            raise SourceError(f"{path}: no metric the ontology knows in its blocks")
        src.records = len(steps)
        how = "each block's step line" if scan.stepped else "the block's position in the log"
        src.warnings.append(f"{path.name}: read as blocks of one metric per line ({len(steps)} block(s); the step "
                            f"is {how})")
        if cut:
            src.warnings.append(f"{path.name}: read up to the size ceiling (KTO_DOCTOR_MAX_FILE_BYTES); the rest of "
                                "the file was not read")
        return src


def _settings(data: dict) -> tuple[dict, int]:
    """Blocks that are settings, not a step (a model card's `- learning_rate: 0.0001`, `- seed: 42`, ... under
    `Training hyperparameters`; a script's arguments printed one per line): two setting keys or more and no
    measurement. Their keys leave `data` for the run's configuration: ({key: value}, how many blocks)."""
    from ..ontology import canonical

    lowered = {k: k.lower() for k in data}
    keys = [k for k in data if lowered[k] in SETTING_KEYS]
    if len(keys) < 2:
        return {}, 0
    rows = np.concatenate([np.frombuffer(data[k][0], dtype=np.int32) for k in keys])
    counts = np.bincount(rows)
    cand = np.flatnonzero(counts >= 2)
    measured = [k for k in data if lowered[k] == "epoch" or canonical(k, False, None) in MEASURED_KEYS]
    if measured:
        cand = np.setdiff1d(cand, np.concatenate([np.frombuffer(data[k][0], dtype=np.int32) for k in measured]))
    if not len(cand):
        return {}, 0
    out = {}
    for key in list(data):
        r, v = np.frombuffer(data[key][0], dtype=np.int32), np.frombuffer(data[key][1], dtype=np.float64)
        hit = np.isin(r, cand)
        if not hit.any():
            continue
        out[key] = float(v[hit][-1])
        if hit.all():
            del data[key]
        else:
            data[key] = (array("i", r[~hit].tobytes()), array("d", v[~hit].tobytes()))
    return out, len(cand)


def read(path: Path, fast: bool = True) -> SourceData:
    """One pass over the lines: where a block template applies (`_Template`), a chunk's blocks of its layout are
    taken by one split and converted a column at a time; every other line goes through the scan one by one, which
    carries the open block from one piece to the next. `fast=False`: every line through the scan (the reference
    the fast way is tested against)."""
    scan = _Scan()
    out = _Blocks(scan)
    tail = _Tail()
    with open_stream(path) as stream:
        if fast:
            tail.last = _Chunked(scan, out).run(stream)
        else:
            out.take(scan.feed(tail.lines(stream), 1))
        cut = stream.truncated
        torn = None if cut or scan.summary else _cut_value(scan, out, tail.last)
        if not scan.summary:
            out.take(scan.end())
    src = out.finish(path, cut)
    if torn is not None:
        src.warnings.append(f"{path.name}: the file ends inside its last line (`{torn}`, no line feed) in a block "
                            "that lacks some of its metrics: the file was cut there, and that value is left out")
    return src


class _Tail:
    """The file's last line when it has no line feed (b"" when it ends with one)."""

    def __init__(self) -> None:
        self.last = b""

    def lines(self, stream):
        line = b""
        for line in stream:
            yield line
        self.last = line if line and not line.endswith((b"\n", b"\r")) else b""


def _cut_value(scan: _Scan, out: _Blocks, last: bytes) -> str | None:
    """A file cut inside a value (`train/CrossEntropyLoss=7.3` of 7.365): its last line has no line feed and
    is a metric line of an open block that holds fewer metrics than the file's blocks do. That value is dropped
    from the block (the shorter number would be read as a value) and its text returned for the warning; None
    when the last line ends, or the block is complete (a paste whose last line merely lacks its line feed)."""
    if not last or scan.cur is None:
        return None
    m = _PAIR.match(last.rstrip(b"\r"))
    if m is None:
        return None
    key = _key(m.group(1))
    if key not in scan.cur or len(scan.cur) >= out.width:
        return None
    del scan.cur[key]
    return last.strip().decode("utf-8", "replace")[:80]


CHUNK = 8 << 20
_NEUTRAL = frozenset((b"", b"\n"))  # gaps between two template blocks that change nothing (see `_Chunked.run`)
_BLANK_GAP = re.compile(rb"(?:\n[ \t\r]*)*\Z")
_PAIR_END = re.compile(rb"[ \t]*\r?\Z")
# a value printed with a point (`%.4f`): numbers of this form only are a cheaper regex than every NUM (the split of
# FranxYao's blocks 1.4x faster); a line with another (`nan`, `1e-05`) is left to the scan
_FIXED = rb"(-?[0-9]+\.[0-9]+)"
_FIXED_RX = re.compile(_FIXED + rb"\Z")


class _Template:
    r"""A block as one regex: the step regex itself for its step line, then one pair line per key of the block it
    was learned from, each that line's bytes with its value as any number (`NUM`). Each match is a whole block
    whose every line the scan reads as the template says:
    - the step line is `_STEP`'s own pattern (no part of it can match a line feed: the same captures as on the line
      alone, whatever follows);
    - a pair line is `B K SEP v S`: `B` blanks and a bullet (no letter or digit), `K` the key `_PAIR` took, `SEP`
      of `[ 	:=]` only, `v` any number, `S` only blanks and a `
`. `_STEP` fails on it (its first letter or digit
      is K's, and K does not start with step, iter or global); `_PAIR`'s key cannot stop earlier in K (what would
      follow it holds v, no number and no blank end) nor run on into v (after v only blanks: no value for it), and
      its value is all of v (no part of v is a unit or a blank): key K, value v. (Where the line learned from
      prints its value as `%.4f` does, v is any number of that form, a part of `NUM`.)
    Keys are distinct as the scan names them, so no line starts a new block."""

    __slots__ = ("regex", "keys", "lines", "misses", "prefix", "models")

    def __init__(self, keys: list, specs: list) -> None:
        parts = [rb"\n(?:", _STEP.pattern, rb")"]
        for pre, suf, fixed in specs:
            parts += [rb"\n", re.escape(pre), _FIXED if fixed else rb"(" + NUM + rb")", re.escape(suf)]
        parts.append(rb"(?=\n)")
        self.regex = re.compile(b"".join(parts), re.M)
        self.keys = keys
        self.lines = len(specs) + 1  # line feeds in a match (the one before each line)
        self.misses = 0
        self.prefix: bytes | None = None  # the step line's bytes before its first digit (`_matrix`)
        self.models: dict = {}  # (block length, layout) -> `model`

    def model(self, buf: bytes, at: int, width: int):
        """(where digits may be any (bool, padded to whole words), the layout as words (those digits as `0`),
        [(offset, `number_layout`)] of the step and the values) of the block at `at` (`width` bytes from the line
        feed before its step line) as the model of `_matrix`, or None where the regex does not match it whole or a
        value is not of `bytematrix.number_layout`'s forms (`nan`, `1e-05`)."""
        m = self.regex.match(buf, at)
        if m is None or m.end() != at + width:
            return None
        text = buf[at:at + width]
        key = (width, text.translate(_DIGITS_AS_ZERO))
        got = self.models.get(key, False)
        if got is not False:
            return got
        w = (width + 7) & ~7
        wild = np.zeros(w, dtype=bool)
        wild[1:text.find(b"\n", 1)] = True  # the step line: every digit
        fields = []
        for g in range(1, self.regex.groups + 1):
            x, y = m.span(g)
            wild[x - at:y - at] = True
            lay = bytematrix.number_layout(key[1][x - at:y - at])
            if lay is None:
                fields = None
                break
            fields.append((x - at, lay))
        got = None
        if fields is not None:
            norm = np.frombuffer(text + bytes(w - width), dtype=np.uint8).copy()
            t = norm - np.uint8(48)
            t *= (t <= 9) & wild
            norm -= t
            got = (wild, norm.view(np.uint64), fields)
        if len(self.models) < 64:
            self.models[key] = got
        return got

    @classmethod
    def learn(cls, text: bytes, limit: int = 1 << 16) -> "_Template | None":
        """The template of the first block in `text[:limit]` that opens with a step line and holds two pair lines
        of a form it can take, or None."""
        lines = text[:limit].split(b"\n")[:-1]  # (whole lines only)
        for i, line in enumerate(lines):
            if _STEP.match(line) is None:
                continue
            keys, specs = [], []
            for nxt in lines[i + 1:]:
                if _STEP.match(nxt) is not None:
                    break
                m = _PAIR.match(nxt)
                if m is None or m.group(1).lower().startswith((b"step", b"iter", b"global")):
                    break
                key = _key(m.group(1))
                suf = nxt[m.end(2):]
                if key in keys or _PAIR_END.match(suf) is None:
                    break
                keys.append(key)
                specs.append((nxt[:m.start(2)], suf, _FIXED_RX.match(m.group(2)) is not None))
            if len(specs) >= 2:
                return cls(keys, specs)
        return None


class _Chunked:
    """The file in chunks of whole lines, each read by the template where its blocks follow each other."""

    def __init__(self, scan: _Scan, out: _Blocks) -> None:
        self.scan, self.out = scan, out
        self.template: _Template | None = None
        self.tried = 0  # chunks the template was learned on (or tried to be)

    def run(self, stream) -> bytes:
        """Returns the file's last line when it has no line feed (b"" otherwise)."""
        pieces, line_base = [], 0  # the file's text after the last line feed read (no line feed in them)
        while not self.scan.summary:
            buf = stream.read(CHUNK)
            if not buf:
                break
            cut = buf.rfind(b"\n") + 1
            if not cut:  # no line end yet: the line goes on (kept in pieces: a long line is copied once)
                pieces.append(buf)
                continue
            chunk = b"".join([*pieces, memoryview(buf)[:cut]]) if pieces or cut < len(buf) else buf
            pieces = [buf[cut:]] if cut < len(buf) else []
            line_base = self.chunk(chunk, line_base)
        if pieces and not self.scan.summary:
            last = b"".join(pieces)
            self.chunk(last, line_base)
            return last.rsplit(b"\n", 1)[-1]
        return b""

    def slow(self, piece: bytes, first: int, last: bool = False) -> None:
        """The lines of `piece` (a gap of the split: it starts with the line feed before its first line) through
        the scan; `last`: the chunk's end (a line feed that ends it starts no line)."""
        lines = piece.split(b"\n")[1:]
        if last and lines and not lines[-1]:
            lines.pop()
        if lines:
            self.out.take(self.scan.feed(lines, first))

    def chunk(self, text: bytes, line_base: int) -> int:
        """Every line of a chunk (whole lines; the file's last may lack its line feed). Returns the lines before
        the next chunk."""
        tmpl = self.template
        if (tmpl is None or tmpl.misses >= 2) and self.tried < 8:
            self.tried += 1
            tmpl = self.template = _Template.learn(text) or tmpl
        text = b"\n" + text  # (the first line, too, has a line feed before it)
        got = _matrix(text, tmpl) if tmpl is not None else None
        if got is not None:
            gaps, steps, values = got
            n = len(steps)
            tmpl.misses = 0
        else:
            parts = tmpl.regex.split(text) if tmpl is not None else [text]
            w = 1 + (tmpl.regex.groups if tmpl is not None else 0)
            n = (len(parts) - 1) // w
            if not n:
                if tmpl is not None:
                    tmpl.misses += 1
                self.slow(text, line_base + 1, True)
                return line_base + text.count(b"\n") - 1
            tmpl.misses = 0
            gaps = parts[0::w]
            conv = block_floats(list(range(tmpl.regex.groups)),
                                {g: parts[1 + g::w] for g in range(tmpl.regex.groups)})
            if any(ok is not None for _, ok in conv.values()):  # (a number float() refused: cannot be, but then slowly)
                self.slow(text, line_base + 1, True)
                return line_base + text.count(b"\n") - 1
            steps = conv[0][0]
            values = [conv[g][0] for g in range(1, tmpl.regex.groups)]
            del parts
        # the line feeds of each gap: most are `\n` or empty (their length), the others counted
        neutral = np.fromiter(map(_NEUTRAL.__contains__, gaps), dtype=bool, count=n + 1)
        feeds = np.fromiter(map(len, gaps), dtype=np.int64, count=n + 1)
        other = np.flatnonzero(~neutral)
        if len(other):
            feeds[other] = [gaps[j].count(b"\n") for j in other.tolist()]
        # the line feeds before each gap, and so the line of each block's step line
        before = np.cumsum(feeds) - feeds + tmpl.lines * np.arange(n + 1)
        lines = line_base + 1 + before[:n] + feeds[:n]
        end = line_base + int(before[n] + feeds[n]) - 1  # (less the line feed put before the text)
        for j in other[(other > 0) & (other < n)].tolist():  # blank lines only: nothing changes after a block
            neutral[j] = _BLANK_GAP.match(gaps[j]) is not None
        breaks = [0] + (np.flatnonzero(~neutral[1:n]) + 1).tolist() + [n]
        scan, out, keys = self.scan, self.out, tmpl.keys
        for a, b in zip(breaks[:-1], breaks[1:]):  # blocks a..b-1 follow each other with nothing between
            self.slow(gaps[a], line_base + 1 + int(before[a]))
            if scan.summary:
                return end
            out.take(scan.step_line())
            if b - a > 1:  # complete: the next line is the next block's step line
                out.bulk(steps[a:b - 1], lines[a:b - 1], keys, [v[a:b - 1] for v in values])
            # the last one stays open: the lines after it may still add to it
            scan.cur = {key: float(v[b - 1]) for key, v in zip(keys, values)}
            scan.cur_step, scan.cur_line, scan.skipping = float(steps[b - 1]), int(lines[b - 1]), False
        self.slow(gaps[n], line_base + 1 + int(before[n]), True)
        return end


_MIN_BLOCKS = 8  # blocks of one layout worth a byte matrix
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")


def _matrix(text: bytes, tmpl: _Template):
    """(gaps, steps, values) of the blocks of `text` (a chunk with a line feed put before it) that `tmpl.regex`
    matches, as its split would give them, found and read as byte matrices (`bytematrix`) where most blocks are of
    a few layouts; None where they are not (then the split reads the chunk).

    A candidate block is a line that starts as the template's step line does (its bytes before the first digit)
    and the template's number of lines after it. Candidates of one length whose bytes equal a model block's, but
    for digits in the model's step line and in its values (where the template's regex takes any digit as any
    other: `_STEP` holds no digit and no class that takes some digits only; a value is `NUM` or `_FIXED`), match
    as the model does (verified by the regex), with their values at the model's offsets; their step and values are
    read there. The keys' literal text (`loss@2`) is compared byte for byte. What no block takes stays in the gaps,
    which go through the scan (as a block the split does not take would: the template reads as the scan does)."""
    k1 = tmpl.lines  # the line feeds of a match: one before each of its lines
    buf = text + bytes(8)  # (8-byte words at any offset of the text)
    arr = np.frombuffer(buf, dtype=np.uint8)
    lf = np.flatnonzero(arr == 10)
    nb = len(lf) - k1  # a block at line i ends at the line feed after its last line, lf[i + k1]
    if nb < _MIN_BLOCKS:
        return None
    if tmpl.prefix is None:
        m = tmpl.regex.search(text)
        if m is None:
            return None
        line = text[m.start() + 1:text.find(b"\n", m.start() + 1)]
        d = re.search(rb"\d", line)
        tmpl.prefix = line[:min(d.start(), 8)] if d is not None and d.start() >= 3 else b""
    if not tmpl.prefix:
        return None
    w8 = bytematrix.words(buf)
    code = np.uint64(int.from_bytes(tmpl.prefix, "little"))
    cand = np.flatnonzero((w8[lf[:nb] + 1] & np.uint64((1 << (8 * len(tmpl.prefix))) - 1)) == code)
    if len(cand) < _MIN_BLOCKS:
        return None
    a, b = lf[cand], lf[cand + k1]
    length = b - a
    counts = np.bincount(length)
    took = []  # (block starts, steps, values (blocks x keys))
    for width in np.argsort(counts)[::-1][:6].tolist():
        if counts[width] < _MIN_BLOCKS:
            break
        left = a[length == width]
        for _ in range(4):
            model = tmpl.model(buf, int(left[len(left) // 2]), width)
            if model is None:
                break
            wild, norm, fields = model
            w = len(wild)
            m = np.lib.stride_tricks.sliding_window_view(arr, w)[left]  # (blocks, w) bytes, a copy
            t = m - np.uint8(48)
            t *= (t <= 9) & wild
            m -= t  # the digits where the model's may be any read as '0'
            m[:, width:] = 0
            same = (m.view(np.uint64) == norm).all(axis=1)
            if np.count_nonzero(same) >= _MIN_BLOCKS:
                at = left[same]
                took.append((at, width, bytematrix.fields_values(w8, at, fields)))
            left = left[~same]
            if len(left) < _MIN_BLOCKS:
                break
    if not took:
        return None
    at = np.concatenate([t[0] for t in took])
    end = np.concatenate([t[0] + t[1] for t in took])
    v = np.concatenate([t[2] for t in took]) if len(took) > 1 else took[0][2]
    if len(took) > 1:
        order = np.argsort(at)
        at, end, v = at[order], end[order], v[order]
    if len(at) * 2 < len(cand) or (at[1:] < end[:-1]).any():  # (few taken, or blocks that overlap: the split's)
        return None
    cuts = [0] + np.column_stack([at, end]).ravel().tolist() + [len(text)]
    gaps = [text[x:y] for x, y in zip(cuts[0::2], cuts[1::2])]
    return gaps, v[:, 0], [v[:, j] for j in range(1, v.shape[1])]


def _series(src: SourceData, data: dict, steps: np.ndarray, lines: np.ndarray) -> dict:
    """The logged keys' arrays as Series under their canonical names; keys that mean one metric (`loss` and
    `train/loss`) are merged in block order, the later block's value winning at a step (as `Columns` does)."""
    cols = Columns()
    cols.set_steps(steps, lines)
    cols.finish_segments(src, "the step lines")
    names = MetricNames()
    by_name: dict[str, list[str]] = {}
    for key in data:
        name = names[key, False]
        if name is None and names.summary_loss(key):
            name = "\x00" + key
        if name is not None:
            by_name.setdefault(name, []).append(key)
    for key in [k for k in data if not any(k in keys for keys in by_name.values())]:
        del data[key]  # (no metric: freed before the series are built)
    out: dict = {}
    held = {}
    # keys on the same blocks (most of them: every key of a block) get the same steps and lines: one pair of arrays
    # for all of them (16 bytes a value of the output), where those came out of `Columns.finish` as they went in
    same = None  # (rows, steps, lines) of the metric before
    for name, keys in by_name.items():
        # handed over: a key's arrays go as its Series comes, so that the peak is the output and one metric's store
        # (all of them were held to the end: 12 bytes a value beyond the output)
        stored = [data.pop(k) for k in keys]
        if len(keys) == 1:  # (views: the values become the Series' without a copy)
            rows, vals = np.frombuffer(stored[0][0], dtype=np.int32), np.frombuffer(stored[0][1], dtype=np.float64)
        else:
            rows = np.concatenate([np.frombuffer(r, dtype=np.int32) for r, _ in stored])
            vals = np.concatenate([np.frombuffer(v, dtype=np.float64) for _, v in stored])
            order = np.argsort(rows, kind="stable")
            rows, vals = rows[order], vals[order]
        del stored
        if same is not None and len(rows) == len(same[0]) and np.array_equal(rows, same[0]):
            series = Series(steps=same[1], values=vals, lines=same[2])
        else:
            s, ln = steps[rows], lines[rows]
            series = cols.finish(s, vals, ln)
            same = (rows, s, ln) if series is not None and series.steps is s and series.lines is ln else None
            del s, ln
        del rows, vals
        release_freed()  # (the key's store, freed: its pages back, so that the peak is the output's)
        if series is None:
            continue
        if name.startswith("\x00"):
            held[name[1:]] = series
        else:
            out[name] = series
    for key, series in held.items():
        adopt_summary_loss(src, key, series, out)
    return out


def sniff(head: str) -> float:
    text = head.encode("utf-8", "replace")
    scan = _Scan()
    blocks = list(scan(text.split(b"\n")[:2000]))
    if (scan.summary and not scan.wandb_end) or not blocks:
        return 0.0
    return 0.25 if _claims({k for _, _, row in blocks for k in row}, len(blocks)) else 0.0


SOURCE = Source(
    name="blocks",
    title="Metrics printed one per line in a block per step (`step 50` then `train/loss 2.23` lines; NeMo-RL's "
          "`Step 3/100` report with `• Loss: 0.10` bullets)",
    read=read,
    priority=85,
    sniff=sniff,
    suffixes=TEXT_SUFFIXES,
    examples=("a custom loop's `print(k, v)` of its logs pasted into an issue", "NeMo-RL GRPO console output"),
)
