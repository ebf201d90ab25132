"""torchtune's metric loggers and its recipes' tqdm descriptions.

```
Step 10 | loss:2.345 lr:2e-05 tokens_per_second_per_gpu:412.3 peak_memory_active:21.2
Step 11 | loss:1.9871
[trainer0|0]:1|26|Loss: 1.2436443567276:  26%|██▌       | 26/101 [06:45<17:27, 13.96s/it]
|Loss: nan:   0%|          | 3/3073 [00:15<4:04:50,  4.79s/it]
```
(`torchtune/training/metric_logging.py` `DiskLogger`/`StdoutLogger`: `Step {step} | ` then `{name}:{value} ` per
metric; `log()` writes one metric per line, merged here by step. Recipes set the bar description to
`{epoch + 1}|{global_step}|Loss: {loss}`.) The step is torchtune's global step (1-based since mid-2024, 0-based
before); a description is drawn twice per step, lagging the bar count by one: the description's step is used,
and the last value of a step kept. A description without its `epoch|step|` part takes the bar count.
"""
from __future__ import annotations

import numpy as np

from . import textlog
from .base import SourceData

STEP = textlog.Kind(
    name="step", head=rb"Step (?P<step>\d+) \| ", pair=rb"(?:^|(?<=[ \x00]))([A-Za-z_][\w/.\-]*):(\S+)",
    step=lambda f: f["step"])
DESC = textlog.Kind(
    name="desc", head=rb"\|(?P<step>\d+)\|(?=Loss: )", pair=rb"(Loss): (" + textlog.NUM + rb")",
    tail=rb"(?=:\s+\d+%\||:?[ \t]*$)", step=lambda f: f["step"], token=b"|Loss: ")
BARE = textlog.Kind(  # a description cut to `|Loss: v` (the bar count is the step)
    name="bare",
    head=rb"(?<![\d\w])\|Loss: (?P<loss>" + textlog.NUM + rb"):\s+\d+%\|[^|\n]*\| *(?P<n>\d+)/(?P<total>\d+)",
    step=lambda f: f["n"], token=b"|Loss: ")


def post(reader: textlog.Reader, src: SourceData) -> None:
    idx, loss = reader.column("@loss")  # BARE records state their loss in the head
    if len(idx):
        lidx, lvals = reader.column("loss")
        allidx = np.concatenate([lidx, idx])
        order = np.argsort(allidx, kind="stable")
        reader.put("loss", allidx[order], np.concatenate([lvals, loss])[order])


FORMAT = textlog.Format(name="torchtune", kinds=(STEP, DESC, BARE), framework="torchtune", post=post,
                        keep=("loss",), what="step lines")


def read(path):
    return textlog.read(path, FORMAT)


SOURCE = textlog.source(
    FORMAT, "torchtune metric logger lines `Step 10 | loss:2.345 lr:2e-05 ...` and recipe bars "
    "`1|26|Loss: 1.24: 26%|...`",
    rb"Step \d+ \| [A-Za-z_][\w/.\-]*:" + textlog.NUM, rb"\|\d+\|Loss: " + textlog.NUM + rb":",
    rb"(?<![\d\w])\|Loss: " + textlog.NUM + rb":\s+\d+%\|",
    examples=("torchtune <output_dir>/logs/log_<time>.txt, recipe stdout",))
