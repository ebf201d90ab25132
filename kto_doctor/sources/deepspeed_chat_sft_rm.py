"""DeepSpeed-Chat steps 1 and 2: supervised fine-tuning and reward-model training, one line per epoch.

```
***** Evaluating reward, Epoch 0/3 *****
chosen_last_scores (higher is better) : 2.172806739807129, acc (higher is better) : 0.4861111044883728
Epoch 1/3 with loss 0.6737638572528841
***** Evaluating reward, Epoch 1/3 *****
chosen_last_scores (higher is better) : -6.797516345977783, rejected_last_scores (lower is better) : ..., acc (higher is better) : 0.6073232293128967
***** Evaluating perplexity, Epoch 1/1 *****
ppl: 4.771, loss: 1.5626
```
(`applications/DeepSpeed-Chat/training/step1_supervised_finetuning/main.py` and `step2_reward_model_finetuning/
main.py`: after each epoch `Epoch {e+1}/{E} with loss {mean over the epoch}`, then the evaluation header and its
line; step 2 also evaluates once before training, as epoch 0.) The step is the epoch number: a row per epoch,
the epoch's mean training loss and the evaluation after it (reward accuracy and scores for step 2, perplexity
and loss for step 1). Some forks print `Epoch e/E with loss ...` every `log_interval` steps instead: those rows
share the epoch's step and the last one is kept. The step-3 (PPO) prints are `deepspeed_chat`.
"""
from __future__ import annotations

from . import textlog
from .base import SourceData

_EPOCH = rb"Epoch (?P<epoch>\d+)/(?P<epochs>\d+)"
TRAIN = textlog.Kind(
    name="epoch_loss", head=_EPOCH + rb" with loss (?P<loss>" + textlog.NUM + rb")",
    step=lambda f: f["epoch"], metrics=(("loss", "loss"),))
HEADER = textlog.Kind(
    name="eval_header", head=rb"\*\*\*\*\* Evaluating (?P<what>reward|perplexity), " + _EPOCH + rb" \*\*\*\*\*",
    step=lambda f: f["epoch"])
_SCORE = rb" \((?:higher|lower) is better\) : "
REWARD = textlog.Kind(
    name="reward_eval", eval=True, step=None,
    head=rb"chosen_last_scores" + _SCORE + rb"(?P<chosen>" + textlog.NUM + rb")"
         rb"(?:, rejected_last_scores" + _SCORE + rb"(?P<rejected>" + textlog.NUM + rb"))?"
         rb", acc" + _SCORE + rb"(?P<acc>" + textlog.NUM + rb")",
    metrics=(("chosen", "rewards/chosen"), ("rejected", "rewards/rejected"), ("acc", "rewards/accuracies")))
PERPLEXITY = textlog.Kind(
    name="ppl_eval", eval=True, step=None,
    head=rb"^ppl: (?P<ppl>" + textlog.NUM + rb")(?:, loss: (?P<loss>" + textlog.NUM + rb"))?",
    metrics=(("ppl", "perplexity"), ("loss", "loss")))


def post(reader: textlog.Reader, src: SourceData) -> None:
    kinds = reader.kinds()
    if (kinds == 2).any():
        src.hints.setdefault("method", "rm")
    elif (kinds == 3).any():
        src.hints.setdefault("method", "sft")
    src.hints.setdefault("framework", "deepspeed-chat")


FORMAT = textlog.Format(name="deepspeed_chat_sft_rm", kinds=(TRAIN, HEADER, REWARD, PERPLEXITY),
                        framework="deepspeed-chat", post=post, what="epoch lines")


def read(path):
    return textlog.read(path, FORMAT)


SOURCE = textlog.source(
    FORMAT, "DeepSpeed-Chat steps 1-2 (SFT, reward model): `Epoch 1/3 with loss 0.67`, the evaluation headers, "
    "`chosen_last_scores (higher is better) : ... acc ...` and `ppl: ...` lines",
    rb"Epoch \d+/\d+ with loss " + textlog.NUM, rb"\*\*\*\*\* Evaluating (?:reward|perplexity), Epoch \d+/\d+",
    rb"chosen_last_scores \(higher is better\) : ",
    examples=("DeepSpeed-Chat training_log_output/*.log of steps 1 and 2, DeepSpeedExamples issue pastes",))
