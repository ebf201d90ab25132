"""tqdm progress bars with a `k=v` postfix: Lightning / NeMo 1.x / NxD bars, OpenRLHF, kohya, accelerate scripts.

```
Epoch 0:  22%|██▏       | 4/18 [00:17<01:02,  4.47s/it, loss=9.926, v_num=193315]
Epoch 0:   0%|          | 189/301501 [59:12<1573:03:24, 18.79s/it, reduced_train_loss=7.560, global_step=188.0]
Epoch 1: : 1it [00:04, 4.36s/it, reduced_train_loss=2.34, global_step=99.0]
Train epoch [1/1]:  50%|█████     | 4/8 [00:31<00:31, 7.8s/it, pg=0.12, rm=0.55, ret=0.41, glen=120, kl=0.01]
steps:  22%|██▏       | 176/800 [00:46<02:44,  3.79it/s, avr_loss=0]
```
The postfix is tqdm's `set_postfix`: `, k=v` items whose values went through `format_num` (3 significant
digits: `2e+3`, `6.930`): the numbers are low-precision. A bar is redrawn several times per position: the last
value of a step is kept. The step is the postfix `global_step` where there is one (NeMo: 0-based, the bar is
1-based), else the bar count `n`; a bar that starts again (a new epoch's bar) continues after the previous one:
(bar number) x total + n, or the epoch's offset where the bars hold no total.

Losses: NeMo's `reduced_train_loss` is the step's loss; Lightning 1.x's `loss=` is a running mean of the last 20
steps, and `avg_loss`/`avr_loss`/`avg_epoch_loss` are averages since the epoch began: each is read as the loss
only when nothing closer to the step's own loss is in the postfix (fact `loss_reduction` says which).
OpenRLHF's short keys (`pg`, `rm`, `glen`, `act_lr`, ...) are read in its dialect.
"""
from __future__ import annotations

import numpy as np

from . import textlog
from .base import MetricNames, SourceData
from .registry import TEXT_SUFFIXES, Source, score

# `, [**]key=value[**]` (value: a tqdm number, a fraction `1/100` read as its numerator, or text)
_PAIR = rb", (?:\*\*)?([^=,\]\n*]+)=(\d+(?=/\d+[,\]*])|[^,\]\n*]*)(?:/\d+)?(?:\*\*)?"
_OTHER = rb"[^,\]\n*]*"
_TIMES = rb"\[[^\]\n,]*(?:, *[^\]\n,=]*)?(?=, [^=,\]\n]+=)"  # [elapsed<remaining, rate] up to the postfix

_LOSS_RANK = {"global_step": "@global_step",  # kept (not a metric) so that `post` knows the postfix stated the step
              "reduced_train_loss": "loss", "train_loss_step": "loss", "loss": "~loss", "avg_loss": "~~loss",
              "avr_loss": "~~loss", "avg_epoch_loss": "~~loss", "running_loss": "~~loss"}
_REDUCTION = {"~loss": "running mean of the recent steps (Lightning's loss= / a script's loss)",
              "~~loss": "average since the start of the epoch or bar"}


def _keys(key: str) -> str | None:
    key = key.strip()
    return _LOSS_RANK.get(key, key)


def _step(f: dict) -> np.ndarray:
    gs = f.get("global_step")
    return f["n"] if gs is None else np.where(np.isnan(gs), f["n"], gs)


EPOCH_BAR = textlog.Kind(
    name="epoch_bar", head=rb"Epoch (?P<epoch>\d+)\b[^|\n]*\|[^|\n]*\| *(?P<n>\d+)/(?P<total>\d+) " + _TIMES,
    pair=_PAIR, other=_OTHER, tail=rb"\]", step=_step, keys=_keys, uses=("global_step",))
EPOCH_IT = textlog.Kind(  # NeMo's bar of unknown length: `Epoch 1: : 1it [00:04, 4.36s/it, ...]`
    name="epoch_it", head=rb"Epoch (?P<epoch>\d+): *:? *(?P<n>\d+)it " + _TIMES,
    pair=_PAIR, other=_OTHER, tail=rb"\]", step=_step, keys=_keys, uses=("global_step",))
BAR = textlog.Kind(
    name="bar", head=rb"\| *(?P<n>\d+)/(?P<total>\d+) " + _TIMES,
    pair=_PAIR, other=_OTHER, tail=rb"\]", step=_step, keys=_keys, uses=("global_step",))

# `set_postfix_str(f"loss {loss:.4f}")`: `name value` items after the rate, no `=` (a hand-written loop's bar)
_WORD_PAIR = rb", ([A-Za-z_][\w/.-]*) (-?(?:\d[\d.]*(?:[eE][-+]?\d+)?|nan|inf))"
BAR_WORDS = textlog.Kind(
    name="bar_words", head=rb"\| *(?P<n>\d+)/(?P<total>\d+) \[[^\]\n,]*, *[\d.?]+(?:s/it|it/s)(?=, [A-Za-z_][\w/.-]* -?[\d.n])",
    pair=_WORD_PAIR, other=_OTHER, tail=rb"\]", step=_step, keys=_keys, uses=("global_step",))

_OPENRLHF = (b"Train epoch [", b"Train step of epoch", b"Eval stage of global_step", b"Gradient updates [")


def facts(reader: textlog.Reader, chunk: bytes) -> None:
    if any(x in chunk for x in _OPENRLHF):
        reader.names = MetricNames("openrlhf")
        reader.src.hints["framework"] = "openrlhf"
    elif b"reduced_train_loss" in chunk:
        reader.src.hints["framework"] = "nemo"
    elif b"v_num=" in chunk:
        reader.src.hints["framework"] = "lightning"


def scan(reader: textlog.Reader, chunk: bytes) -> None:
    """Before each chunk: what `post` will throw away is dropped from the store now, so that it does not grow with the
    file (a NeMo bar's `loss=`, `@n`, `@total` and `@epoch` were 48 bytes a record kept to the end for nothing). `post`
    keeps the loss closest to the step's own and drops the others; where the postfix states `global_step` it reads
    no bar position and only asks whether `@global_step` is there (one value says so)."""
    metrics = reader.store.metrics
    for better, worse in (("loss", ("~loss", "~~loss")), ("~loss", ("~~loss",))):
        if better in metrics:
            for name in worse:
                metrics.pop(name, None)
    got = metrics.get("@global_step")
    if got is not None and len(got):
        if len(got) > 1:
            idx, values = got.arrays()
            reader.put("@global_step", idx[:1].copy(), values[:1].copy())
        for name in ("@n", "@total", "@epoch"):
            metrics.pop(name, None)


def stream(reader: textlog.Reader, steps: np.ndarray) -> bool:
    """A streamed chunk (`textlog.Format.stream`): what `post` would do to the whole file, done to the chunk's records
    as they come. The losses farther from the step's own go once a closer one is seen (`post` drops them); a bar
    that starts again continues after the one before (its records' steps written into `steps`), by what the file
    has said so far: every position with the same total (bar number x total + n), or not (n + the last step of the
    bar before), epochs counted where every position states one. Where the rest of the file changes that after a
    bar started again (a position without an epoch or with another total, a postfix `global_step` after all), the
    file is read the whole way."""
    x = reader.extra
    metrics = reader.store.metrics
    for better, worse in (("loss", ("~loss", "~~loss")), ("~loss", ("~~loss",))):
        if better in metrics or better in reader.group_of:
            for name in worse:
                metrics.pop(name, None)
                reader.drop_streamed(name)
    gidx, _ = reader.column("@global_step")
    if len(gidx) or x.get("gs"):  # the postfix states the step: `post` leaves every step as it is
        x["gs"] = True
        return not x.get("restarts")
    nidx, n = reader.column("@n")
    if not len(nidx):
        return True
    tidx, total = reader.column("@total")
    eidx, epochs = reader.column("@epoch")
    pidx, pep = reader.column("epoch")  # a postfix `epoch=1/100`
    first = "last_n" not in x
    if first:
        x.update(all_epoch=True, all_pep=True, same_total=True)
    # what `post` asks of the whole file, so far: every position with an epoch (bar's, postfix's), one total
    for key, idx in (("all_epoch", eidx), ("all_pep", pidx)):
        if x[key] and not (len(idx) == len(nidx) and np.array_equal(idx, nidx)):
            x[key] = False
            if x.get("restarts"):
                return False
    if first:
        x["total"] = float(total[0]) if len(total) and tidx[0] == nidx[0] else np.nan
    one_total = len(tidx) == len(nidx) and np.isfinite(x["total"]) and (total == x["total"]).all()
    if x["same_total"] and not one_total:
        x["same_total"] = False
        if x.get("restarts"):
            return False
    new = np.zeros(len(n), dtype=bool)
    new[1:] = n[1:] < n[:-1]
    if not first:
        new[0] = n[0] < x["last_n"]
    for key, last, ep in (("all_epoch", "last_epoch", epochs), ("all_pep", "last_pep", pep)):
        if x[key]:
            new[1:] |= ep[1:] != ep[:-1]
            if not first:
                new[0] |= ep[0] != x[last]
            x[last] = ep[-1]
    x["last_n"] = n[-1]
    # without one total, each bar after the largest step of the one before, +1 (`textlog.epoch_steps`): the bar's
    # offset and largest step so far are kept from the first bar on (the totals may part before it starts again)
    glob = np.empty(len(n))
    bounds = np.concatenate([[0], np.flatnonzero(new), [len(n)]])
    offset, top = x.get("offset", 0.0), x.get("top", -np.inf)
    for a, b in zip(bounds[:-1], bounds[1:]):
        if a == b:
            continue
        if new[a]:
            offset, top = top + 1, -np.inf
        glob[a:b] = n[a:b] + offset
        top = max(top, float(np.max(glob[a:b])))
    x["offset"], x["top"] = offset, top
    bar = x.get("bar", 0) + np.cumsum(new)
    x["bar"] = int(bar[-1])
    if not x["bar"]:  # (the first bar: its steps are its positions)
        return True
    x["restarts"] = x["bar"]
    steps[nidx] = bar * x["total"] + n if x["same_total"] else glob
    return True


def post(reader: textlog.Reader, src: SourceData) -> None:
    if reader.streamed:
        _post_streamed(reader, src)
        return
    metrics = reader.store.metrics
    for name in ("loss", "~loss", "~~loss"):  # the loss closest to the step's own
        if name in metrics:
            for other in ("~loss", "~~loss"):
                if other != name and other in metrics:
                    del metrics[other]
            if name != "loss":
                metrics["loss"] = metrics.pop(name)
                src.facts["loss_reduction"] = _REDUCTION[name]
            break
    for name in [n for n in metrics if n.startswith("eval_~")]:
        metrics["eval_loss" if "eval_loss" not in metrics else name] = metrics.pop(name)
    gidx, _ = reader.column("@global_step")
    if len(gidx):
        return  # the postfix states the step
    steps = reader.extra["steps"]
    nidx, n = reader.column("@n")
    if len(nidx) < 2:
        return
    _, total = reader.column("@total")
    eidx, epochs = reader.column("@epoch")
    pidx, pep = reader.column("epoch")  # a postfix `epoch=1/100`
    new = np.zeros(len(nidx), dtype=bool)
    new[1:] = n[1:] < n[:-1]
    for idx, ep in ((eidx, epochs), (pidx, pep)):
        if len(idx) == len(nidx) and (idx == nidx).all():
            new[1:] |= ep[1:] != ep[:-1]
    if not new.any():
        return
    bar = np.cumsum(new)
    same_total = len(total) == len(n) and np.isfinite(total).all() and (total == total[0]).all()
    glob = textlog.epoch_steps(bar, n, per_epoch=total[0] if same_total else None, first_epoch=0)
    steps = steps.copy()
    steps[nidx] = glob
    reader.extra["steps"] = steps
    how = f"bar number x {int(total[0])} + n" if same_total else "n + the last step of the bar before"
    src.warnings.append(f"{reader.path.name}: the progress bar starts again {int(new.sum())} time(s) (epochs); "
                        f"the step is {how}")


def _post_streamed(reader: textlog.Reader, src: SourceData) -> None:
    """`post` of a streamed file: the loss closest to the step's own under its name, the bar's restarts said (the
    steps were written by `stream`)."""
    names = reader.group_of
    for name in ("loss", "~loss", "~~loss"):
        if name in names:
            if name != "loss":
                reader.rename_streamed(name, "loss")
                src.facts["loss_reduction"] = _REDUCTION[name]
            break
    evals = [n for n in names if n.startswith("eval_~")]
    if len(evals) > 1:  # (which one becomes eval_loss follows the order the whole way stored them in)
        raise textlog.Fallback
    for name in evals:
        reader.rename_streamed(name, "eval_loss" if "eval_loss" not in names else name)
    x = reader.extra
    if x.get("restarts") and not x.get("gs"):
        how = f"bar number x {int(x['total'])} + n" if x["same_total"] else "n + the last step of the bar before"
        src.warnings.append(f"{reader.path.name}: the progress bar starts again {x['restarts']} time(s) (epochs); "
                            f"the step is {how}")


FORMAT = textlog.Format(name="progress_bar", kinds=(EPOCH_BAR, EPOCH_IT, BAR, BAR_WORDS), dialect=None, facts=facts, scan=scan,
                        post=post, keep=("n", "total", "epoch"), what="progress-bar postfixes", repeats=True,
                        stream=stream)


def read(path):
    return textlog.read(path, FORMAT)


_SNIFF = textlog.sniffer(rb"\| *\d+/\d+ \[[^\]\n]*, [^=,\]\n]+=[-\w.*]",
                         rb"Epoch \d+: *:? *\d+it \[[^\]\n]*, [^=,\]\n]+=",
                         rb"\| *\d+/\d+ \[[^\]\n,]*, *[\d.?]+(?:s/it|it/s), [A-Za-z_][\w/.-]* -?\d")


def sniff(head: str) -> float:
    n = _SNIFF(head)
    return score(n) * 0.9 if n else 0.0  # below a format that also prints bars and says more (torchtune, DS-Chat)


SOURCE = Source(
    name="progress_bar",
    title="tqdm progress bars with a k=v postfix: Lightning / NeMo (`reduced_train_loss=2.34, global_step=99.0`), "
          "OpenRLHF, kohya and other scripts",
    read=read,
    priority=24,
    sniff=sniff,
    suffixes=TEXT_SUFFIXES,
    examples=("PyTorch Lightning / NeMo 1.x / NxD Training stdout, OpenRLHF stdout, pasted issue excerpts",),
)
