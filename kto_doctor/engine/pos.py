"""Where a value of a rule file came from (file:line:col), in a module of its own: loading the built-in rules
in compiled form (compiled.py) builds positions without importing PyYAML, which yamlpos.py needs."""
from __future__ import annotations

from ..fastclass import dataclass


@dataclass(frozen=True)
class Pos:
    file: str
    line: int  # 1-based
    col: int  # 1-based
    quoted: bool = False  # the scalar was quoted: its text starts one column later
    block: bool = False  # the scalar is a | or > block: its text starts on the next line
    # Where each source line of a scalar's text starts: ((offset in the value, line, col), ...). Set for
    # scalars so that `at` works for plain, quoted, folded and block scalars spanning several lines.
    segments: tuple = ()

    def at(self, offset: int) -> "Pos":
        """The position `offset` characters into the scalar's text."""
        if self.segments:
            seg = self.segments[0]
            for s in self.segments:
                if s[0] <= offset:
                    seg = s
                else:
                    break
            start, line, col = seg
            return Pos(self.file, line, col + max(0, offset - start))
        if self.block:
            return Pos(self.file, self.line + 1, self.col + 2 + offset)
        return Pos(self.file, self.line, self.col + offset + (1 if self.quoted else 0))

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"
