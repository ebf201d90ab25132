"""Regular expressions compiled on first use, and the literal text a pattern's every match must hold.

The text readers hold about a hundred and fifty patterns; compiling them all at import was about a tenth of a
small run's whole process (a run folder's `.md` or `.log` file is sniffed by every text reader, but a reader
reads only the files it claims). `compile(pattern, flags)` returns an object that behaves as the compiled
pattern and compiles it when one of its methods or attributes is first read; the compiled pattern's bound
methods are then kept on the object, so later calls cost what calls on the compiled pattern cost.

`needle(pattern)` is the longest stretch of literal text every match of a bytes pattern contains (None where
that cannot be told simply): a sniffer whose patterns' needles are all absent from a file's start matches
nothing there, and need not compile its patterns to say so.
"""
from __future__ import annotations

import re

_METHODS = ("search", "match", "fullmatch", "finditer", "findall", "split", "sub", "subn", "scanner")


class Lazy:
    """A pattern compiled when first used: `Lazy(rb"...", re.M).search(text)`."""

    def __init__(self, pattern, flags: int = 0) -> None:
        self._source = (pattern, flags)

    def compiled(self) -> re.Pattern:
        rx = self.__dict__.get("_rx")
        if rx is None:
            rx = self.__dict__["_rx"] = re.compile(*self._source)
            for name in _METHODS:
                self.__dict__[name] = getattr(rx, name)
        return rx

    def __getattr__(self, name: str):  # only for names not on the object yet: compile, then look again
        if name.startswith("__") or name in ("_source", "_rx"):
            raise AttributeError(name)
        return getattr(self.compiled(), name)

    def __repr__(self) -> str:
        return f"Lazy({self._source[0]!r})"


def compile(pattern, flags: int = 0) -> Lazy:  # noqa: A001 - the name says it stands for re.compile
    return Lazy(pattern, flags)


_ESCAPED_LITERAL = frozenset(b"\\.^$*+?{}[]()|-/ :;,!\"'#%&=<>@`~")


def needle(pattern: bytes, flags: int = 0) -> bytes | None:
    """The longest literal stretch that every match of `pattern` contains, or None where the pattern has a
    top-level alternative, is case-insensitive or verbose, or holds no such stretch.

    Conservative: only top-level literal characters count (escaped punctuation included); a group, a class,
    any escape of a letter or digit, `.`, anchors and quantifiers end a stretch, and a character made optional
    by `?`, `*` or `{` is taken off it."""
    if flags & (re.I | re.X):
        return None
    i, n = 0, len(pattern)
    runs: list[bytes] = []
    run = bytearray()

    def close() -> None:
        if run:
            runs.append(bytes(run))
            run.clear()

    while i < n:
        c = pattern[i]
        if c == 0x5C:  # backslash
            if i + 1 < n and pattern[i + 1] in _ESCAPED_LITERAL:
                run.append(pattern[i + 1])
                i += 2
            else:  # a class (\d), an anchor (\b), a character code (\x1e, \012) or a back-reference
                close()
                i += 4 if pattern[i + 1:i + 2] == b"x" else 2
                while i < n and pattern[i - 1:i].isdigit() and pattern[i:i + 1].isdigit():
                    i += 1
                continue
        elif c == 0x28:  # a group: skipped whole (an inline flag group may change how the rest matches)
            if pattern.startswith(b"(?", i) and i + 2 < n and chr(pattern[i + 2]).isalpha() \
                    and pattern[i + 2:i + 3] not in (b"P",):
                j = i + 2
                while j < n and chr(pattern[j]).isalpha():
                    j += 1
                if any(f in pattern[i + 2:j] for f in (b"i", b"x")):
                    return None
            close()
            depth, i = 0, i
            while i < n:
                ch = pattern[i]
                if ch == 0x5C:
                    i += 2
                    continue
                if ch == 0x5B:  # a class inside the group
                    i = _class_end(pattern, i)
                    continue
                if ch == 0x28:
                    depth += 1
                elif ch == 0x29:
                    depth -= 1
                    if depth == 0:
                        i += 1
                        break
                i += 1
            else:
                return None  # unbalanced: let re say what is wrong
            continue
        elif c == 0x5B:  # a class
            close()
            i = _class_end(pattern, i)
            continue
        elif c == 0x7C:  # a top-level alternative: no stretch is common to every match
            return None
        elif c in b".^$":
            close()
            i += 1
            continue
        elif c in b"*?{":  # the character before is optional (or repeated a counted number of times)
            if run:
                run.pop()
            close()
            if c == 0x7B:
                end = pattern.find(b"}", i)
                i = end + 1 if end >= 0 else n
            else:
                i += 1
            continue
        elif c == 0x2B:  # `+`: the character before is there at least once, and the stretch ends
            close()
            i += 1
            continue
        else:
            run.append(c)
            i += 1
            continue
        # after an escaped literal: a quantifier on it is handled on the next turn
    close()
    return max(runs, key=len) if runs else None


def _class_end(pattern: bytes, i: int) -> int:
    """The index after the class `[...]` starting at `i` (a `]` right after `[` or `[^` is a member)."""
    j = i + 1
    if j < len(pattern) and pattern[j] == 0x5E:
        j += 1
    if j < len(pattern) and pattern[j] == 0x5D:
        j += 1
    while j < len(pattern):
        if pattern[j] == 0x5C:
            j += 2
            continue
        if pattern[j] == 0x5D:
            return j + 1
        j += 1
    return len(pattern)
