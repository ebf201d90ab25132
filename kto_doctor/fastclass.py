"""`dataclass` as the standard library's, without compiling the generated methods at every start.

`dataclasses.dataclass` writes the source of each class's `__init__`, `__repr__`, `__eq__` (and `__hash__`,
`__setattr__`, `__delattr__` where frozen) and compiles it with `exec`: about 120 compiles of 56,000
characters at each start of the command line, most of the cost of creating kto_doctor's 36 classes (~85M
instructions of a small run's 1,440M). Those sources depend only on the classes' fields and the Python version,
so `_dataclass_code.py` holds them as ordinary functions, compiled once into byte code like any module, and
`dataclass` here runs the standard library's decorator with its `exec` answered from that table: a source found
there (the exact text, character for character) gets the function its byte code makes, anything else is
compiled as before. The classes, their methods and their behaviour are the standard library's; only where the
methods' byte code comes from differs (a traceback through `__init__` names `_dataclass_code.py`).

`python -m kto_doctor.fastclass --write` rebuilds `_dataclass_code.py` after a class's fields change (a stale
table only costs the old compile time; `tests/test_fastclass.py` says when it is stale). This module and the
table must not use `from __future__ import annotations`: `exec` compiles with its caller's future flags, and the
methods' annotations must be what the standard library's own `exec` makes of them.
"""
import builtins
import dataclasses
import sys
import types

_CODE = None  # source text -> code object of its __create_fn__, from _dataclass_code (loaded on first use)
_RECORD = None  # a list while `--write` collects the sources


def dataclass(cls=None, /, **kwargs):
    """`dataclasses.dataclass(cls, **kwargs)`, with the generated methods' byte code from the table."""
    def wrap(c):
        dataclasses.exec = _exec  # a module global shadows the builtin for dataclasses' own calls
        try:
            return dataclasses.dataclass(c, **kwargs)
        finally:
            dataclasses.__dict__.pop("exec", None)

    return wrap if cls is None else wrap(cls)


def _exec(source, globals=None, locals=None):
    """`exec(source, globals, locals)` for dataclasses' `def __create_fn__(...)` sources: a source in the table
    becomes the function its compiled code makes (what executing the `def` does), anything else is executed."""
    if globals is None:  # what builtins.exec would use: the caller's namespace
        frame = sys._getframe(1)
        globals = frame.f_globals
        if locals is None:
            locals = frame.f_locals
    if _RECORD is not None and type(source) is str:
        _RECORD.append(source)
    code = _table().get(source) if type(source) is str else None
    if code is None or type(locals) is not dict or "__builtins__" not in globals:
        return builtins.exec(source, globals, locals)
    locals[code.co_name] = types.FunctionType(code, globals)
    return None


def _table() -> dict:
    global _CODE
    if _CODE is None:
        try:
            from . import _dataclass_code as t
        except ImportError:
            _CODE = {}
        else:
            _CODE = dict(zip(t.TEXTS, (f.__code__ for f in t.FUNCTIONS))) if t.PYTHON == sys.version_info[:2] \
                else {}
    return _CODE


# ------------------------------------------------------------------------------------- making the table


MODULES = (  # every module whose classes use this decorator (tests/test_fastclass.py keeps the list whole)
    "kto_doctor.compare", "kto_doctor.discover", "kto_doctor.engine.evaluate", "kto_doctor.engine.expr",
    "kto_doctor.engine.functions", "kto_doctor.engine.pos", "kto_doctor.engine.rules", "kto_doctor.engine.template",
    "kto_doctor.engine.testing", "kto_doctor.live.monitor", "kto_doctor.model", "kto_doctor.ontology",
    "kto_doctor.project", "kto_doctor.remote", "kto_doctor.reports", "kto_doctor.reports.chartdata",
    "kto_doctor.reports.svg", "kto_doctor.sources.base", "kto_doctor.sources.leveldb_log",
    "kto_doctor.sources.registry", "kto_doctor.sources.tfrecord",
)


def collect() -> list:
    """The method sources dataclasses writes for every class of `MODULES`, as a fresh interpreter makes them."""
    import json
    import os
    import subprocess
    from pathlib import Path

    code = "import json, kto_doctor.fastclass as f; print(json.dumps(f._collect_here()))"
    root = str(Path(__file__).resolve().parents[1])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([root] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def _collect_here() -> list:
    global _RECORD, _CODE
    import importlib

    _RECORD, _CODE = [], {}
    for name in MODULES:
        importlib.import_module(name)
    return list(dict.fromkeys(_RECORD))


def render(texts: list) -> str:
    version = sys.version_info[:2]
    out = [f'"""Generated by `python -m kto_doctor.fastclass --write` with Python {version[0]}.{version[1]}: the '
           'methods dataclasses writes for\nkto_doctor\'s classes, compiled once into byte code (see fastclass.py). '
           'Do not edit."""', f"PYTHON = {version!r}", "FUNCTIONS = []", ""]
    for text in texts:
        out += [text, "", "", "FUNCTIONS.append(__create_fn__)", ""]
    out += ["del __create_fn__", "TEXTS = ("] + [f"    {t!r}," for t in texts] + [")", ""]
    return "\n".join(out)


def write(path=None) -> str:
    from pathlib import Path

    path = Path(path or Path(__file__).with_name("_dataclass_code.py"))
    path.write_text(render(collect()), encoding="utf-8")
    return str(path)


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python -m kto_doctor.fastclass --write")
    print(write())  # collect() runs in a fresh interpreter: this module is __main__ here, not the one imported
