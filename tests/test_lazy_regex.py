"""The text readers' regexes are compiled on first use (kto_doctor/sources/lazyre.py): every pattern still
compiles, and a sniffer's shortcut (no needle in the file's start: no match) never changes a count."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from kto_doctor.sources import lazyre, registry, textlog

REPO = Path(__file__).resolve().parents[1]


def _kinds() -> list:
    registry.registry()  # imports every source module
    import sys

    kinds = {}
    for name, mod in list(sys.modules.items()):
        if not name.startswith("kto_doctor.sources.") or mod is None:
            continue
        for value in vars(mod).values():
            found = value.kinds if isinstance(value, textlog.Format) else (value,) if isinstance(value, textlog.Kind) else ()
            for k in found:
                kinds[id(k)] = k
    return list(kinds.values())


def _texts() -> list[bytes]:
    files = [p for p in sorted((REPO / "tests" / "fixtures").rglob("*")) + sorted((REPO / "sample_logs").rglob("*"))
             if p.is_file() and p.suffix in (".log", ".txt", ".md", ".out", "") and p.stat().st_size < 4 << 20]
    assert len(files) > 40
    return [p.read_bytes()[:256 << 10] for p in files]


def test_every_kind_of_every_text_reader_compiles():
    kinds = _kinds()
    assert len(kinds) >= 20
    for k in kinds:
        assert isinstance(k.fields, tuple), k.name
        for rx in (k.find, k.record):
            assert isinstance(rx, re.Pattern), k.name
        assert (k.pairs is None) == (k.pair is None), k.name
        assert (k.cut is None) == (k.incomplete is None), k.name


def test_a_head_with_an_unnamed_group_is_refused_when_compiled():
    kind = textlog.Kind(name="bad", head=rb"step (\d+)")
    with pytest.raises(ValueError, match="must all be named"):
        kind.fields


def test_lazy_pattern_behaves_as_the_compiled_one():
    lazy = lazyre.compile(rb"(?P<k>\w+)=(\d+)", re.M)
    plain = re.compile(rb"(?P<k>\w+)=(\d+)", re.M)
    text = b"a=1 b=22\nc=x d=4"
    assert lazy.findall(text) == plain.findall(text)
    assert [m.span() for m in lazy.finditer(text)] == [m.span() for m in plain.finditer(text)]
    assert lazy.groupindex == plain.groupindex and lazy.pattern == plain.pattern
    assert lazy.split(text) == plain.split(text)


@pytest.mark.parametrize("pattern, expected", [
    (rb"iteration +\d+/ *\d+ \| ", b"iteration "),
    (rb"abc?d", b"ab"),  # an optional character is not part of the needle
    (rb"ab*cd", b"cd"),
    (rb"ab{0,2}cdef", b"cdef"),
    (rb"x\.y(?:z|w)long", b"long"),
    (rb"\x1eabc", b"abc"),  # a character code is not literal text
    (rb"[Aa]verage: ", b"verage: "),
    (rb"a|bcd", None),  # a top-level alternative
    (rb"(?i)loss", None),  # case-insensitive
    (rb"\d+", None),
])
def test_needle(pattern, expected):
    assert lazyre.needle(pattern) == expected


def test_every_sniffer_counts_what_its_plain_regex_counts():
    registry.registry()
    assert len(textlog.SNIFFED) >= 6
    texts = _texts()
    for patterns, flags in list(textlog.SNIFFED):
        count = textlog.sniffer(*patterns, flags=flags)
        plain = re.compile(b"|".join(rb"(?:" + p + rb")" for p in patterns), flags)
        for text in texts:
            head = text.decode("utf-8", "replace")
            assert count(head) == len(plain.findall(head.encode("utf-8", "replace"))), patterns
        for p in patterns:  # and every match of each pattern holds its needle
            n = lazyre.needle(p, flags)
            if n is not None:
                rx = re.compile(p, flags)
                assert all(n in m.group(0) for t in texts for m in rx.finditer(t)), (p, n)


def test_every_kind_head_match_holds_its_needle():
    texts = _texts()
    for k in _kinds():
        n = lazyre.needle(k.head)
        if n is None:
            continue
        rx = re.compile(k.head, re.M)
        assert all(n in m.group(0) for t in texts for m in rx.finditer(t)), (k.name, n)
