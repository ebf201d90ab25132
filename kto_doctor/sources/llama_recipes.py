"""llama-recipes / llama-cookbook (`python -m llama_recipes.finetuning`): its tqdm description, epoch and eval prints.

```
Training Epoch: 1/3, step 12/203 completed (loss: 1.0917): 6%|█▌ | 12/203 [00:31<08:20, 2.62s/it]
Epoch 1: train_perplexity=2.9738, train_epoch_loss=1.0898, epoch time 512.3s
 eval_ppl=tensor(2.4162, device='cuda:0') eval_epoch_loss=tensor(0.8822, device='cuda:0')
```
(`src/llama_recipes/utils/train_utils.py`.) `step` counts the epoch's batches from 0 and restarts every epoch:
the global step is (epoch - 1) x batches per epoch + step + 1, the batches per epoch being the description's own
`/203`. The description is redrawn many times per step and once per rank of a multi-GPU run: the last value of a
step is kept. The epoch line's means stand at the epoch's last step, named `epoch_mean/train_loss` and
`epoch_mean/train_perplexity` (a mean over the epoch is not a step's loss); the eval line, printed after it, is
that step's evaluation.
"""
from __future__ import annotations

from . import textlog

# the epoch line's means keep names of their own: `train_epoch_loss` would otherwise read as the loss and overwrite
# the epoch's last step
_EPOCH_KEYS = {"train_epoch_loss": "epoch_mean/train_loss", "train_perplexity": "epoch_mean/train_perplexity"}

# (the epoch count `/3` is matched, not captured: nothing reads it, and a capture is an object per record)
# a description ends where its bar starts (`: 6%|`), or where the line or the redraw does (`\r` is `\x1e` by then)
TRAIN = textlog.Kind(
    name="train",
    head=rb"Training Epoch: (?P<epoch>\d+)/\d+, step (?P<step>\d+)/(?P<per>\d+) completed \(",
    pair=rb"(loss): (" + textlog.NUM + rb")", tail=rb"\)(?=:\s+\d+%\||:?[ \t]*(?:[\n\x1e]|\Z))",
    step=lambda f: (f["epoch"] - 1) * f["per"] + f["step"] + 1)
EPOCH = textlog.Kind(
    name="epoch", head=rb"Epoch (?P<epoch>\d+): (?=train_perplexity=)",
    pair=rb"(\w+)=(" + textlog.NUM + rb")", lenient=True,
    keys=lambda k: _EPOCH_KEYS.get(k, k) if k != "epoch" else None)
EVAL = textlog.Kind(
    name="eval",
    head=rb"eval_ppl=(?:tensor\()?(?P<eval_ppl>" + textlog.NUM + rb")[^\n]*? eval_epoch_loss=(?:tensor\()?"
         rb"(?P<eval_loss>" + textlog.NUM + rb")",
    eval=True, metrics=(("eval_ppl", "eval_ppl"), ("eval_loss", "eval_loss")))

# (textlog states the framework hint from `framework`)
# (a step's description is redrawn several times, and once per rank, each rank with its own loss: the step's last
# value is the one kept, so a redraw that the next one overwrites is dropped as it streams)
# (no `post`: every step is final as its chunk ends, so the file is read streamed while its steps rise)
FORMAT = textlog.Format(name="llama_recipes", kinds=(TRAIN, EPOCH, EVAL), framework="llama-recipes",
                        what="training steps", repeats=True, overwrites=True, stream=lambda reader, steps: True)


def read(path):
    return textlog.read(path, FORMAT)


SOURCE = textlog.source(
    FORMAT, "llama-recipes / llama-cookbook finetuning prints (`Training Epoch: 1/3, step 12/203 completed (loss: "
    "1.09)`, `Epoch 1: train_perplexity=...`, `eval_ppl=... eval_epoch_loss=...`)",
    rb"Training Epoch: \d+/\d+, step \d+/\d+ completed \(loss: ", rb"train_perplexity=" + textlog.NUM,
    examples=("meta-llama/llama-cookbook#206 (a three-GPU run's last step, each rank's description)",))
