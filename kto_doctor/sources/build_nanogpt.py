"""The `log.txt` of Karpathy's build-nanogpt (`train_gpt2.py`) and its many forks: one `step split value` per line.

```
0 val 11.0864
0 hella 0.2498
0 train 11.087302
1 train 10.974887
```
`train` is the step's training loss, `val` the validation loss (every 250 steps in the original), `hella` the
HellaSwag accuracy of that evaluation (an evaluation metric, higher is better).
"""
from __future__ import annotations

from . import textlog
from .base import SourceData

TRAIN = textlog.Kind(name="train", head=rb"^(?P<step>\d+) train (?P<loss>" + textlog.NUM + rb")(?=[ \t]*\r?$)",
                     step=lambda f: f["step"], metrics=(("loss", "loss"),))
VAL = textlog.Kind(name="val", head=rb"^(?P<step>\d+) val (?P<loss>" + textlog.NUM + rb")(?=[ \t]*\r?$)",
                   eval=True, step=lambda f: f["step"], metrics=(("loss", "loss"),))
HELLA = textlog.Kind(name="hella", head=rb"^(?P<step>\d+) hella (?P<acc>" + textlog.NUM + rb")(?=[ \t]*\r?$)",
                     eval=True, step=lambda f: f["step"], metrics=(("acc", "hellaswag_accuracy"),))


def post(reader: textlog.Reader, src: SourceData) -> None:
    src.hints.setdefault("method", "pt")


FORMAT = textlog.Format(name="build_nanogpt", kinds=(TRAIN, VAL, HELLA), post=post, redraws=False,
                        what="log lines")


def read(path):
    return textlog.read(path, FORMAT)


SOURCE = textlog.source(
    FORMAT, "build-nanogpt's `log.txt` (`0 val 11.0864`, `0 hella 0.2498`, `0 train 11.087302`)",
    rb"^\d+ train " + textlog.NUM + rb"[ \t]*\r?$", rb"^\d+ val " + textlog.NUM + rb"[ \t]*\r?$",
    examples=("karpathy/build-nanogpt forks' log/log.txt",))
