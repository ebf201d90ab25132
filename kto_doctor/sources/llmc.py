"""The main.log of Karpathy's llm.c (`train_gpt2cu -o <dir>`) and its forks: one `s:<step> key:value ...` per line.

```
s:0 tel:11.0095
s:0 trl:11.0116 lr:0.000001 norm:14.96
s:250 eval:0.2512
```
(`llmc/logger.h`: `logger_log_train` writes `trl` (the step's training loss), `lr` and `norm` (the gradient norm
before clipping); `logger_log_val` writes `tel`, the validation loss; `logger_log_eval` writes `eval`, the HellaSwag
accuracy of that evaluation, higher is better.) The step is llm.c's own 0-based step.
"""
from __future__ import annotations

from . import textlog
from .base import SourceData

# llm.c's three-letter keys, spelled out for the ontology
_KEYS = {"trl": "loss", "tel": "loss", "lr": "learning_rate", "norm": "grad_norm", "eval": "hellaswag_accuracy"}

TRAIN = textlog.Kind(name="train", head=rb"^s:(?P<step>\d+) (?=trl:)", pair=rb"([a-z]+):(" + textlog.NUM + rb")",
                     step=lambda f: f["step"], keys=lambda k: _KEYS.get(k, k))
VAL = textlog.Kind(name="val", head=rb"^s:(?P<step>\d+) (?=tel:|eval:)", pair=rb"([a-z]+):(" + textlog.NUM + rb")",
                   eval=True, step=lambda f: f["step"], keys=lambda k: _KEYS.get(k, k))


def post(reader: textlog.Reader, src: SourceData) -> None:
    src.hints.setdefault("method", "pt")


FORMAT = textlog.Format(name="llmc", kinds=(TRAIN, VAL), post=post, redraws=False, what="log lines")


def read(path):
    return textlog.read(path, FORMAT)


SOURCE = textlog.source(
    FORMAT, "llm.c's `main.log` (`s:0 trl:11.0116 lr:0.000001 norm:14.96`, `s:0 tel:11.0095`)",
    rb"^s:\d+ trl:" + textlog.NUM, rb"^s:\d+ tel:" + textlog.NUM,
    examples=("karpathy/llm.c `-o log124M` main.log and its forks",))
