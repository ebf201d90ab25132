"""fastclass: kto_doctor's dataclasses get the standard library's methods, from byte code compiled once.

The table (`kto_doctor/_dataclass_code.py`) must hold exactly the sources the standard library writes for our
classes on the Python it was made with, each compiled to the code `exec` would make of it; a class made with it
must behave as one made by `dataclasses.dataclass`.
"""
import dataclasses
import re
import sys
from pathlib import Path

import pytest

from kto_doctor import _dataclass_code as table
from kto_doctor import fastclass

PKG = Path(fastclass.__file__).parent
SAME_PYTHON = pytest.mark.skipif(table.PYTHON != sys.version_info[:2],
                                 reason=f"the table was made with Python {table.PYTHON}")


@SAME_PYTHON
def test_table_is_current():
    """A class whose fields changed without `--write` only loses speed; this says when to rebuild the table."""
    assert fastclass.collect() == list(table.TEXTS), \
        "kto_doctor/_dataclass_code.py is stale: run `python -m kto_doctor.fastclass --write`"


def test_every_module_using_the_decorator_is_listed():
    using = set()
    for path in PKG.rglob("*.py"):
        if re.search(r"^from \.+fastclass import dataclass", path.read_text(encoding="utf-8"), re.M):
            parts = path.relative_to(PKG.parent).with_suffix("").parts
            using.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    assert using == set(fastclass.MODULES)


def _same_code(a, b):
    """Equal byte code, constants, names and flags; file name and line numbers may differ."""
    for attr in ("co_code", "co_names", "co_varnames", "co_freevars", "co_cellvars", "co_flags", "co_argcount",
                 "co_kwonlyargcount", "co_posonlyargcount", "co_nlocals", "co_stacksize", "co_name",
                 "co_qualname"):
        if hasattr(a, attr):
            assert getattr(a, attr) == getattr(b, attr), attr
    assert len(a.co_consts) == len(b.co_consts)
    for x, y in zip(a.co_consts, b.co_consts):
        if hasattr(x, "co_code"):
            _same_code(x, y)
        else:
            assert type(x) is type(y) and x == y


@SAME_PYTHON
def test_each_function_is_what_exec_compiles():
    assert len(table.TEXTS) == len(table.FUNCTIONS) > 30
    for text, fn in zip(table.TEXTS, table.FUNCTIONS):
        ns = {}
        exec(text, {"__builtins__": __builtins__}, ns)
        _same_code(ns["__create_fn__"].__code__, fn.__code__)


def _make(decorator, **kwargs):
    @decorator(**kwargs)
    class Point:
        """A point."""
        x: int
        y: float = 0.5
        tags: list = dataclasses.field(default_factory=list)
        note: str = dataclasses.field(default="", compare=False, repr=False)

        def __post_init__(self):
            object.__setattr__(self, "seen", True)

    return Point


@pytest.mark.parametrize("kwargs", [{}, {"frozen": True}, {"order": True}, {"eq": False}])
def test_a_class_behaves_as_the_standard_librarys(monkeypatch, kwargs):
    texts = []
    real = exec

    def recording(source, globals=None, locals=None):
        texts.append(source)
        return real(source, globals, locals)

    monkeypatch.setattr(dataclasses, "exec", recording, raising=False)
    Std = _make(dataclasses.dataclass, **kwargs)
    monkeypatch.delattr(dataclasses, "exec")
    code = {t: compile(t, "<table>", "exec").co_consts[0] for t in texts}
    monkeypatch.setattr(fastclass, "_CODE", code)
    calls = []
    monkeypatch.setattr(fastclass.builtins, "exec", lambda *a: calls.append(a))  # a miss would land here
    Fast = _make(fastclass.dataclass, **kwargs)
    monkeypatch.undo()
    assert not calls and not hasattr(dataclasses, "exec")
    for name in ("__init__", "__repr__", "__eq__", "__hash__", "__setattr__", "__lt__"):
        a, b = Std.__dict__.get(name), Fast.__dict__.get(name)
        assert (a is None) == (b is None), name
        if a is not None and hasattr(a, "__code__"):
            _same_code(a.__code__, b.__code__)
            assert a.__qualname__.replace("Std", "Fast") == b.__qualname__.replace("Std", "Fast")
            assert a.__annotations__.keys() == b.__annotations__.keys()
    assert [f.name for f in dataclasses.fields(Fast)] == ["x", "y", "tags", "note"]
    p, q = Fast(1, tags=[2]), Std(1, tags=[2])
    assert p.seen and repr(p) == repr(q).replace(".Std", ".Fast")
    assert (p == Fast(1, tags=[2], note="other")) == (q == Std(1, tags=[2], note="other"))
    if kwargs.get("frozen"):
        with pytest.raises(dataclasses.FrozenInstanceError):
            p.x = 3
        assert hash(Fast(1, tags=())) == hash(Std(1, tags=()))
    with pytest.raises(TypeError):
        Fast()


def test_a_source_not_in_the_table_is_compiled(monkeypatch):
    monkeypatch.setattr(fastclass, "_CODE", {})
    Point = _make(fastclass.dataclass)
    assert Point.__init__.__code__.co_filename == "<string>"
    assert repr(Point(2)).endswith("Point(x=2, y=0.5, tags=[])")
    assert not hasattr(dataclasses, "exec")


def test_the_package_classes_use_the_table():
    from kto_doctor.model import Finding

    if table.PYTHON != sys.version_info[:2]:
        pytest.skip(f"the table was made with Python {table.PYTHON}")
    assert Finding.__init__.__code__.co_filename == table.__file__
