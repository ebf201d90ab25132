"""Jupyter notebooks (`.ipynb`) and exported pages that hold a training run's output.

Many runs are published as the notebook that trained them (Colab, Kaggle, the unsloth and course notebooks):
the metrics are in the cells' outputs, not in a log file. This source takes the text out of them, in cell
order, and hands it to the text readers, which recognise it as they would a console capture:

- `stream` outputs (stdout/stderr: printed metric dicts, tqdm bars, `Epoch 1, Step 3, Loss: ...` lines);
- `execute_result` / `display_data` outputs: the Trainer's live progress table is an HTML `<table>` (Step or
  Epoch, Training Loss, Validation Loss, one column per metric); each table becomes tab-separated rows, which
  is how the progress-table reader knows it when copied from a browser. Other HTML loses its tags; where a
  display has no HTML its `text/plain` is used (a printed `trainer.state.log_history`);
- `error` outputs: the exception line (`OutOfMemoryError: CUDA out of memory...`), without the traceback.

The code is parsed (never run) for the settings it states as literals: the keyword arguments of the last
`TrainingArguments` / TRL `*Config(...)` call (a variable counts where the notebook assigned it a literal), the
LoRA rank and alpha, and the first model loaded with `from_pretrained` (its name gives the vocabulary size). They
are the run's configuration below any config file, and the report lists them.

Terminal colour codes are removed. A notebook cut short (a download that stopped) still gives the outputs
that can be recovered from its text, with a warning. The same HTML tables, when a notebook was exported to
Markdown or HTML (`nbconvert`), are read by `html_table` below.

The line numbers in findings are those of the cells' output text, which the report says.
"""
from __future__ import annotations

import html
import json
import re
import tempfile
from pathlib import Path

from ..ontology import understood
from .base import SourceData, SourceError, read_bytes
from .registry import TEXT_SUFFIXES, Source

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")
_TABLE = re.compile(r"<table\b.*?(?:</table>|$)", re.S | re.I)
_ROW = re.compile(r"<tr\b[^>]*>(.*?)(?=<tr\b|</tbody>|</thead>|</table>|$)", re.S | re.I)
_CELL = re.compile(r"<t([hd])\b[^>]*>(.*?)(?=<t[hd]\b|</tr>|$)", re.S | re.I)
_TAG = re.compile(r"<[^>]*>")
_BLANKS = re.compile(r"[ \t\r\n\xa0]+")
# a Trainer table: a header cell Step/Epoch and a header cell naming a loss
_TRAINER_HEADER = re.compile(r"<th\b[^>]*>\s*(?:Step|Epoch)\s*</th>", re.I)
_LOSS_HEADER = re.compile(r"<th\b[^>]*>[^<]*[Ll]oss[^<]*</th>")
_WIDGET_TEXT = ("<IPython.core.display.HTML object>", "<IPython.core.display.Javascript object>")


def _cell_text(fragment: str) -> str:
    text = _TAG.sub(" ", fragment.replace("</td>", "").replace("</th>", ""))
    return _BLANKS.sub(" ", html.unescape(text)).strip()


def html_to_text(markup: str) -> str:
    """HTML as lines of text: each table row one line of TAB-separated cells, other markup without its tags."""
    out: list[str] = []
    pos = 0
    for m in _TABLE.finditer(markup):
        out.append(_plain(markup[pos:m.start()]))
        for row in _ROW.finditer(m.group(0)):
            cells = [_cell_text(c.group(2)) for c in _CELL.finditer(row.group(1))]
            if cells and any(cells):
                out.append("\t".join(cells))
        pos = m.end()
    out.append(_plain(markup[pos:]))
    return "\n".join(x for x in out if x)


def _plain(markup: str) -> str:
    lines = (_BLANKS.sub(" ", html.unescape(_TAG.sub(" ", ln))).strip() for ln in markup.splitlines())
    return "\n".join(ln for ln in lines if ln)


def _joined(value) -> str:
    if isinstance(value, list):
        return "".join(x for x in value if isinstance(x, str))
    return value if isinstance(value, str) else ""


def _output_text(out: dict) -> str:
    kind = out.get("output_type")
    if kind == "stream":
        return _joined(out.get("text"))
    if kind in ("execute_result", "display_data", "pyout"):
        data = out.get("data") or {}
        markup = _joined(data.get("text/html"))
        if "<table" in markup.lower():
            return html_to_text(markup)
        plain = _joined(data.get("text/plain"))
        if plain.strip() in _WIDGET_TEXT:
            return html_to_text(markup) if markup else ""
        return plain or (html_to_text(markup) if markup else "")
    if kind in ("error", "pyerr"):
        return f"{out.get('ename', 'Error')}: {out.get('evalue', '')}"
    return ""


def _list(value) -> list:
    return value if isinstance(value, list) else []


def _cells(nb: dict) -> list[dict]:
    """The cells, in order, that are mappings (nbformat 4's `cells`, nbformat 3's `worksheets[].cells`); a field of
    the wrong type holds none."""
    if "cells" in nb:
        return [c for c in _list(nb.get("cells")) if isinstance(c, dict)]
    return [c for ws in _list(nb.get("worksheets")) if isinstance(ws, dict) for c in _list(ws.get("cells"))
            if isinstance(c, dict)]


def _trainer_rows(out: dict) -> int:
    """Rows of the Trainer progress table an output displays (0: none)."""
    markup = _joined((out.get("data") or {}).get("text/html")) if isinstance(out.get("data"), dict) else ""
    if "<table" not in markup or not (_TRAINER_HEADER.search(markup) and _LOSS_HEADER.search(markup)):
        return 0
    return len(re.findall(r"<td\b", markup[markup.find("<tbody"):], re.I)) if "<tbody" in markup else 0


def _one_row(out: dict) -> bool:
    markup = _joined((out.get("data") or {}).get("text/html"))
    body = markup[markup.find("<tbody"):] if "<tbody" in markup else ""
    return len(re.findall(r"<tr\b", body, re.I)) == 1


def outputs_text(nb: dict) -> tuple[str, list[str]]:
    """The text of every output of every cell, in notebook order (nbformat 3's worksheets too), and notes.

    Each `trainer.train()` draws its own progress table. Tables in different cells are different trainings (a
    cell run again, a second model): only the last is kept, as the run the notebook ended with; the report says
    so. Tables of one cell are one training drawn again as it ran (`[115/150` then `[150/150`): its last drawing
    stands. A one-row table after a longer one is that training's closing `trainer.evaluate()`: read with it.
    """
    outs = [(i, out) for i, cell in enumerate(_cells(nb))
            for out in _list(cell.get("outputs")) if isinstance(out, dict)]
    tables = [k for k, (_, out) in enumerate(outs) if _trainer_rows(out)]
    long_seen = False
    trainings: dict[int, int] = {}  # cell -> its last table that is a training's
    evaluations: list[int] = []
    for k in tables:
        one = _one_row(outs[k][1])
        if one and long_seen:
            evaluations.append(k)
        else:
            trainings[outs[k][0]] = k
        long_seen = long_seen or not one
    drawn = set(trainings.values())
    drop = {k for k in tables if k not in drawn and k not in evaluations}  # earlier drawings of a training
    notes: list[str] = []
    if len(trainings) > 1:
        last = max(drawn)
        drop |= {k for k in drawn if k != last}
        drop |= {k for k in evaluations if k < last}  # the evaluations of earlier trainings
        notes.append(f"{len(trainings)} Trainer progress tables (one per training): the last one, in cell "
                     f"{outs[last][0] + 1}, was read; the earlier ones are earlier trainings")
    outs = [o for k, o in enumerate(outs) if k not in drop]
    parts: list[str] = []
    for _, out in outs:
        text = _output_text(out)
        if text:
            parts.append(text if text.endswith("\n") else text + "\n")
    return _ANSI.sub("", "".join(parts)), notes


# A cut notebook: the output strings that can still be recovered, in file order.
_OUTPUT_FIELD = re.compile(r'"(?:text|text/plain|text/html)"\s*:\s*(\[(?:\s*"(?:[^"\\]|\\.)*"\s*,?)*|"(?:[^"\\]|\\.)*")')
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


def _recover(text: str) -> str:
    parts: list[str] = []
    for m in _OUTPUT_FIELD.finditer(text):
        pieces = []
        for s in _STRING.finditer(m.group(1)):
            try:
                pieces.append(json.loads(s.group(0)))
            except ValueError:
                break
        chunk = "".join(pieces)
        parts.append(html_to_text(chunk) if "<table" in chunk.lower() else chunk)
    return _ANSI.sub("", "\n".join(p for p in parts if p.strip()))


# where the metrics of a notebook's text start: a Trainer table's header (TAB rows from its HTML), a metric dict
_METRIC_START = re.compile(r"^(?:Step|Epoch)\t[^\n]*[Ll]oss|\{['\"](?:loss|train_loss|eval_loss|reward)['\"]\s*:",
                           re.M)


def _sniff_head(text: str) -> str:
    """What the readers sniff: the text's start, and where its metrics start when that is further on (a `pip
    install` or a model download can print more than the 64 KB a reader looks at before the training does)."""
    if len(text) <= 1 << 16:
        return text
    m = _METRIC_START.search(text, 1 << 15)
    if m is None:
        return text[:1 << 16]
    return text[:1 << 15] + "\n" + text[m.start():m.start() + (1 << 15)]


_ENOUGH_ROWS = 3


def _core_rows(out: list[SourceData]) -> int:
    """The most rows any core series (loss, eval loss, reward, policy loss) of a reading holds."""
    return max((len(d.series[n].values) for d in out for n in d.series if understood((n,), {})), default=0)


def _delegate(path: Path, text: str, container: str, notes: list[str]) -> list[SourceData]:
    """`text` read as a text log named like `path` by the first text reader that recognises it, or, where that one
    finds fewer than 3 rows of any core series, by the first later one that finds 3 or more."""
    from .registry import candidates

    if not text.strip():
        raise SourceError(f"{path}: no cell output holds text")
    with tempfile.TemporaryDirectory(prefix="kto-doctor-") as tmp:
        inner = Path(tmp) / (path.stem + ".log")
        inner.write_text(text, encoding="utf-8")
        head = _sniff_head(text)
        first_error = None
        chosen = None  # (source, data): the first reading, until a later one finds enough core rows
        for src in candidates(inner, head=lambda: head):
            if src.name in _OWN or src.kind != "metrics":
                continue
            try:
                got = src.read(inner)
            except SourceError as exc:
                first_error = first_error or exc
                continue
            out = got if isinstance(got, list) else [got]
            if chosen is None:
                chosen = (src, out)
            # A notebook prints many things: the first reader's few core rows (two blocks of token counts and one
            # loss) give way to a later reader's training log (`Ep 1 (Step 000000): Train loss 9.657, ...` lines)
            if _core_rows(out) >= _ENOUGH_ROWS:
                chosen = (src, out)
                break
        if chosen is not None:
            src, out = chosen
            for d in out:
                d.path = path
                d.format = d.format or src.name
                d.warnings = [w.replace(inner.name, path.name).replace(str(inner), str(path)) for w in d.warnings]
                d.warnings.insert(0, f"{path.name}: {container}: the text of its outputs was read as a "
                                     f"{src.name} log (line numbers are of that text)")
                d.warnings[1:1] = notes
            return out
    reason = str(first_error).replace(str(inner), "").lstrip(": ") if first_error else "no reader recognised it"
    raise SourceError(f"{path}: no training metrics in its outputs ({reason})")


# The calls whose literal keyword arguments are the run's settings, and what a model is loaded with.
_SETTINGS_CALLS = frozenset({
    "TrainingArguments", "Seq2SeqTrainingArguments", "SFTConfig", "DPOConfig", "KTOConfig", "ORPOConfig",
    "CPOConfig", "GRPOConfig", "PPOConfig", "RLOOConfig", "RewardConfig", "UnslothTrainingArguments",
})
_LORA_CALLS = frozenset({"LoraConfig", "get_peft_model"})
_LORA_KEYS = {"r": "lora_rank", "lora_alpha": "lora_alpha", "lora_dropout": "lora_dropout"}  # keyword -> key
_MODEL_ARGS = ("pretrained_model_name_or_path", "model_name", "model_id")
# The trainer class a notebook instantiates states its method (`UnslothGRPOTrainer`, `DPOConfig`, ...).
_TRAINER = re.compile(r"^\w*?(GRPO|ORPO|DPO|KTO|PPO|SFT|Reward)(?:Trainer|Config)$")
_TRAINER_METHOD = {"GRPO": "grpo", "ORPO": "orpo", "DPO": "dpo", "KTO": "kto", "PPO": "ppo", "SFT": "sft",
                   "Reward": "rm"}
_MAX_SOURCE = 200_000  # characters of code looked at per cell


def _call_name(func) -> str:
    import ast

    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def _constant(node, names: dict):
    """The value of a literal (`1e-4`, `-1`, `"cosine"`, `True`, a list of such) or of a name bound to one earlier;
    else None."""
    import ast

    if isinstance(node, ast.Name):
        return names.get(node.id)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant):
        value = node.operand.value
        return -value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, str, bool)):
        return node.value
    # a list of literals (TRL's `loss_type=["sigmoid", "bco_pair", "sft"]`, MPO): every item one, or nothing
    if isinstance(node, (ast.List, ast.Tuple)) and 0 < len(node.elts) <= 16:
        items = [_constant(e, {}) for e in node.elts]
        return items if all(v is not None and not isinstance(v, list) for v in items) else None
    return None


def code_settings(nb: dict) -> tuple[dict, list[int], dict]:
    """The settings a notebook's code states as literals: the keyword arguments of its last TrainingArguments /
    TRL `*Config(...)` call, its LoRA rank and alpha, and the model name it loads. The code is parsed, never run;
    a value held in a variable counts when the notebook assigned that variable a literal. Returns the settings
    (TrainingArguments spelling), the cells (1-based) they come from, and hints: the method of the last TRL trainer
    or config class it instantiates, and the framework (TRL; unsloth where it loads through FastLanguageModel)."""
    import ast

    names: dict = {}  # variables assigned a literal, in cell order
    training: dict = {}  # the last TrainingArguments / *Config call's literal keyword arguments
    extra: dict = {}  # LoRA rank and alpha, the first model loaded
    where: list[int] = []
    hints: dict = {}
    for i, cell in enumerate(_cells(nb)):
        if cell.get("cell_type") != "code":
            continue
        src = _joined(cell.get("source") or cell.get("input"))[:_MAX_SOURCE]
        # shell and magic lines (`!pip install`, `%%capture`) are no Python
        src = "\n".join("" if ln.lstrip().startswith(("!", "%", "?")) else ln for ln in src.splitlines())
        try:
            tree = ast.parse(src)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                value = _constant(node.value, {})
                if value is not None:
                    names[node.targets[0].id] = value
            if not isinstance(node, ast.Call):
                continue
            name = _call_name(node.func)
            args = {kw.arg: _constant(kw.value, names) for kw in node.keywords if kw.arg}
            trainer = _TRAINER.match(name)
            if trainer is not None:
                hints["method"] = _TRAINER_METHOD[trainer.group(1)]
                hints.setdefault("framework", "trl")
                hints["trainer"] = name
            if name == "from_pretrained" and isinstance(node.func, ast.Attribute) \
                    and _call_name(node.func.value) == "FastLanguageModel":
                hints["framework"] = "unsloth"
            if name in _SETTINGS_CALLS:  # a later call (a cell run again with other values) replaces the earlier
                training = {k: v for k, v in args.items() if v is not None and k != "output_dir"}
                where.append(i + 1)
            elif name in _LORA_CALLS:
                extra.update({canon: args[k] for k, canon in _LORA_KEYS.items() if args.get(k) is not None})
                where.append(i + 1)
            elif name.endswith("from_pretrained") and "model_name_or_path" not in extra:
                model = next((args[k] for k in _MODEL_ARGS if isinstance(args.get(k), str)), None)
                if model is None and node.args:
                    first = _constant(node.args[0], names)
                    model = first if isinstance(first, str) else None
                if model and "/" in model:  # the base model: the first one loaded, a hub id or a path
                    extra["model_name_or_path"] = model
    return {**extra, **training}, sorted(set(where)), hints


# The training banner a notebook prints (the Trainer's `***** Running training *****` block, unsloth's ASCII
# sloth): how many examples one epoch is and how many a step takes, which the progress table's `Step` rows lack.
_BANNER = {
    "num_examples": re.compile(r"Num examples = ([\d,]{1,15})\b"),
    "num_train_epochs": re.compile(r"Num Epochs = ([\d,]{1,9})\b"),
    "total_train_batch_size": re.compile(r"Total (?:train )?batch size[^=\n]{0,80}= ([\d,]{1,9})\b"),
    "total_steps": re.compile(r"Total (?:optimization )?steps = ([\d,]{1,12})\b"),
}


# ... and the trainable parameters it states (unsloth's `Trainable parameters = 0/999,885,952`, the Trainer's
# `Number of trainable parameters = N`, PEFT's `trainable params: N`), 0 included: a model with nothing to train
_TRAINABLE = re.compile(r"(?:Trainable parameters = |Number of trainable parameters = |trainable params: )"
                        r"([\d,]{1,24})(?![\d,])")


def banner_facts(text: str) -> dict[str, int]:
    """The training banner's numbers, where the notebook shows one training (one value for each)."""
    out = {}
    for key, rx in _BANNER.items():
        found = {int(v.replace(",", "")) for v in rx.findall(text)}
        if len(found) == 1 and (v := found.pop()) > 0:
            out[key] = v
    found = {int(v.replace(",", "")) for v in _TRAINABLE.findall(text)}
    if len(found) == 1:
        out["trainable_params"] = found.pop()
    return out


def read_notebook(path: Path) -> list[SourceData]:
    raw = read_bytes(path).decode("utf-8", "replace")
    notes: list[str] = []
    try:
        nb = json.loads(raw)
    except ValueError as exc:
        text = _recover(raw)
        notes.append(f"{path.name}: not complete JSON ({exc.msg} at character {exc.pos}); the outputs before the "
                     "damage were read")
    else:
        if not isinstance(nb, dict) or not ("cells" in nb or "worksheets" in nb):
            raise SourceError(f"{path}: not a Jupyter notebook (no `cells`)")
        text, found = outputs_text(nb)
        notes += [f"{path.name}: {n}" for n in found]
        settings, cells, hints = code_settings(nb)
        out = _delegate(path, text, "a Jupyter notebook", notes)
        for d in out:
            for k, v in banner_facts(text).items():
                d.facts.setdefault(k, v)
        if "method" in hints:
            for d in out:
                d.hints.setdefault("method", hints["method"])
                d.warnings.append(f"{path.name}: the code instantiates {hints['trainer']}: method {hints['method']}")
        if "framework" in hints:
            for d in out:
                d.hints.setdefault("framework", hints["framework"])
        if settings:
            shown = ", ".join(f"{k} {v}" for k, v in list(settings.items())[:8])
            for d in out:
                for k, v in settings.items():
                    d.config.setdefault(k, v)
                d.warnings.append(f"{path.name}: settings read from the code of cell(s) {', '.join(map(str, cells))} "
                                  f"(literals only; the code is not run): {shown}"
                                  + (" ..." if len(settings) > 8 else ""))
        return out
    return _delegate(path, text, "a Jupyter notebook", notes)


def sniff_notebook(head: str) -> float:
    """A JSON object naming a notebook's keys. Jupyter writes `cells` first; a notebook saved with its key order
    reversed (Kaggle, some editors) starts with its `metadata`, and the widget state stored there can push
    `cells` 100 KB down: its kernel spec or language info, at the very start, says notebook all the same."""
    start = head.lstrip()[:4096]
    if not start.startswith("{"):
        return 0.0
    if '"cells"' in start or '"worksheets"' in start or '"nbformat"' in start:
        return 1.0
    return 1.0 if start[1:40].lstrip().startswith('"metadata"') and (
        '"kernelspec"' in start or '"language_info"' in start or '"widgets"' in start) else 0.0


NOTEBOOK = Source(
    name="notebook",
    title="Jupyter notebooks (.ipynb): the training output in their cells (Trainer progress tables, printed "
          "metric dicts, tqdm lines), read by the text readers",
    read=read_notebook,
    priority=15,  # before the console reader, which would read the JSON-escaped metric dicts of its outputs
    sniff=sniff_notebook,
    suffixes=(".ipynb",),
    examples=("a Colab/Kaggle fine-tuning notebook saved with its outputs",
              "unsloth and course notebooks in GitHub repositories"),
)


def read_html_table(path: Path) -> list[SourceData]:
    raw = read_bytes(path).decode("utf-8", "replace")
    if not (_TRAINER_HEADER.search(raw) and _LOSS_HEADER.search(raw)):
        raise SourceError(f"{path}: no Trainer progress table in HTML")
    pieces: list[str] = []
    pos = 0
    for m in _TABLE.finditer(raw):  # the tables become rows; the text around them stays as it is
        pieces.append(raw[pos:m.start()])
        pieces.append("\n" + html_to_text(m.group(0)) + "\n")
        pos = m.end()
    pieces.append(raw[pos:])
    text = "".join(pieces)
    if path.suffix.lower() in (".html", ".htm"):
        text = html_to_text(text)
    return _delegate(path, text, "an exported notebook page", [])


def sniff_html_table(head: str) -> float:
    return 0.95 if _TRAINER_HEADER.search(head) and _LOSS_HEADER.search(head) else 0.0


HTML_TABLE = Source(
    name="html_table",
    title="The Trainer's HTML progress table in a notebook exported to Markdown or HTML (nbconvert, a blog "
          "post), with the text around it",
    read=read_html_table,
    priority=25,
    sniff=sniff_html_table,
    suffixes=TEXT_SUFFIXES + (".html", ".htm"),
    examples=("a notebook exported with `jupyter nbconvert --to markdown`",),
)

_OWN = {"notebook", "html_table"}
