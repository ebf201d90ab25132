"""Text that came from a file or a path, made harmless for the sink it is written to.

Logs, metric names, config values and folder names are written by whoever produced the run; a report is
read by a terminal, a GitHub runner, a browser or a Markdown renderer. Each sink gets its own function:

- `terminal`: C0/C1 control characters, ESC, DEL, line separators and bidirectional overrides are shown
  as `\\xNN` / `\\uNNNN` (so an ANSI or OSC sequence, or a newline, in a name is visible text, never an
  action), and `::` is broken by a zero-width space, so that no part of a name can begin a GitHub
  workflow command (`::add-mask::`, `::set-output`), wherever wrapping puts it.
- `guard_lines`: the last line of defence on a whole terminal output: a line that would start with `::`
  after its indentation and colour codes gets the same zero-width space.
- `json_text`: JSON as `json.dumps(..., ensure_ascii=False)` writes it, with C1 controls, DEL and the
  line separators escaped too (JSON escapes only C0 itself).
- `uri_reference`: a relative path as a percent-encoded URI reference (SARIF `artifactLocation.uri`).
- Markdown cells and code spans: `reports.markdown.esc` and `code`; XML: `reports.junit`; HTML: `html.escape`.
"""
from __future__ import annotations

import re
from urllib.parse import quote

# C0 (tab and newline included: a name holds neither), DEL, C1, line/paragraph separators, bidi controls
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")
ZWSP = "\u200b"
_LINE_START = re.compile(r"^((?:[ \t]|\x1b\[[0-9;]*m)*)::", re.MULTILINE)
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _escape(m: re.Match) -> str:
    c = ord(m.group())
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"


def controls(text) -> str:
    """Control characters (and bidi overrides) shown as escapes; nothing else changed."""
    return _UNSAFE.sub(_escape, str(text))


def terminal(text) -> str:
    """One line of text from a file or path, safe on a terminal and in a CI log (see the module doc)."""
    s = controls(text)
    return s.replace("::", ":" + ZWSP + ":") if "::" in s else s


def terminal_lines(text) -> str:
    """Several lines (a message with a caret under a line of a rule file): each made safe on its own."""
    return "\n".join(terminal(line) for line in str(text).split("\n"))


def guard_lines(output: str) -> str:
    """No line of a terminal output may start with `::` (after indentation and SGR colour codes)."""
    return _LINE_START.sub(lambda m: m.group(1) + ":" + ZWSP + ":", output) if "::" in output else output


def json_text(text: str) -> str:
    """JSON text with the characters JSON leaves raw but terminals act on escaped (valid JSON still)."""
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def uri_reference(path: str) -> str:
    """A forward-slash relative path as a URI reference: every character outside the unreserved set and
    `/` percent-encoded (a `:` too, so that no first segment reads as a scheme)."""
    return quote(path, safe="/")
