"""Follow a run directory that is still being written: read only what changed since the last poll.

- `trainer_log.jsonl` (LLaMA-Factory's per-log JSON lines) is appended: each poll reads the bytes after the
  last complete line it parsed (a half-written last line waits for the next poll) into a `LiveSource`.
- Every other log (trainer_state.json, rewritten whole at each checkpoint; console logs; TensorBoard event
  files; configs) is read again with its ordinary reader when it changed — at once while it is small, and
  once it is large (`reread_bytes`) only after it grew by `growth` since its last read, or at the final
  poll: the work of re-reading stays proportional to what was added over the run.
- New files (the first checkpoint's trainer_state.json, a second event file) are picked up as they appear.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from .columns import LiveSource

APPENDED = ("trainer_log",)  # formats followed by byte offset
BULK_BYTES = 1 << 20  # an existing part larger than this is read by the ordinary reader in one pass


class AppendedJsonl:
    """trainer_log.jsonl followed by byte offset: O(new bytes) per poll."""

    def __init__(self, path: Path, rel: str):
        self.path, self.rel = path, rel
        self.live = LiveSource(path, "trainer_log", hints={"framework": "llamafactory"})
        self.offset = 0
        self.line = 0  # lines consumed so far (record ids are line numbers, as the reader's)
        self.bad = 0
        self.identity = None

    def __len__(self):
        return len(self.live)

    def data(self, head=None, tail=None):
        d = self.live.data(head, tail)
        if self.bad:
            d.warnings.append(f"{self.path.name}: skipped {self.bad} corrupt or truncated line(s)")
        return d

    def poll(self, final: bool = False) -> bool:
        try:
            st = os.stat(self.path)
        except OSError:
            return False
        ident = (st.st_dev, st.st_ino)
        if self.identity is not None and (ident != self.identity or st.st_size < self.offset):
            # replaced or truncated (a restarted job): start over
            self.live = LiveSource(self.path, "trainer_log", hints={"framework": "llamafactory"})
            self.offset, self.line, self.bad = 0, 0, 0
        self.identity = ident
        if st.st_size <= self.offset:
            return False
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            chunk = f.read(st.st_size - self.offset)
        end = chunk.rfind(b"\n") + 1
        if final and end < len(chunk):
            end = len(chunk)  # the run is over: a last line without its newline is still a record
        if end == 0:
            return False
        if self.offset == 0 and end > BULK_BYTES and self._bulk(chunk[:end]):
            self.offset = end
            return True
        lines = chunk[:end].split(b"\n")
        if lines and not lines[-1]:
            lines.pop()  # after the final newline
        for raw in lines:
            self.line += 1
            raw = raw.strip(b" \t\r\x00")
            if not raw:
                continue
            try:
                row = json.loads(raw)
            except (ValueError, RecursionError):
                self.bad += 1
                continue
            if not isinstance(row, dict):
                self.bad += 1
                continue
            step = row.get("current_steps")
            row = {k: v for k, v in row.items() if v is not None}
            if not self.live.add(row, step, self.line):
                self.bad += 1
                continue
            total = row.get("total_steps")
            if isinstance(total, int) and not isinstance(total, bool) and total > 0:
                self.live.facts["total_steps"] = total
        self.offset += end
        return True

    def _bulk(self, complete: bytes) -> bool:
        """A big file found already written (watch started late): its complete lines in one pass of the
        ordinary reader, then line by line from there."""
        from .. import sources
        from ..sources.base import SourceError

        try:
            data = sources.read(self.path, "trainer_log")
        except (SourceError, Exception):
            return False
        n_lines = complete.count(b"\n") + (0 if complete.endswith(b"\n") else 1)
        self.live.extend(data, last_id=n_lines)
        self.line = n_lines
        return True


class Reread:
    """Any other log: read whole with its reader when it changed (rate-limited once it is large)."""

    def __init__(self, path: Path, rel: str, fmt: str, reread_bytes: int, growth: float):
        self.path, self.rel, self.format = path, rel, fmt
        self.reread_bytes, self.growth = reread_bytes, growth
        self.stamp = None
        self.read_size = 0
        self.current = None  # SourceData
        self.error = None

    def __len__(self):
        return self.current.records if self.current is not None else 0

    def data(self, head=None, tail=None):
        import copy

        return copy.deepcopy(self.current)  # assembly places console ordinals in place

    def poll(self, final: bool = False) -> bool:
        from .. import sources
        from ..sources.base import SourceError

        try:
            st = os.stat(self.path)
        except OSError:
            return False
        stamp = (st.st_size, st.st_mtime_ns, st.st_ino)
        if stamp == self.stamp:
            return False
        big = st.st_size > self.reread_bytes
        if big and not final and self.current is not None and st.st_size < self.read_size * (1 + self.growth) \
                and st.st_size >= self.read_size:
            return False  # grown a little: wait (the cost of re-reading stays proportional to growth)
        try:
            self.current = sources.read(self.path, self.format)
            self.error = None
        except SourceError as e:  # a file caught mid-rewrite: keep the last good copy, try again next poll
            self.error = str(e)
            return False
        except Exception as e:  # a reader bug must not end the watch
            self.error = f"{type(e).__name__}: {e}"
            return False
        self.stamp, self.read_size = stamp, st.st_size
        return True


class Follower:
    """Every log file of a run directory, polled. Files are found by the analyzer's own discovery (the
    source registry's claims), so `watch` reads what `analyze` would read."""

    def __init__(self, root, *, reread_bytes: int = 1 << 20, growth: float = 0.05):
        self.root = Path(root)
        self.reread_bytes, self.growth = reread_bytes, growth
        self.files: dict[Path, object] = {}
        self.warnings: list[str] = []

    def _scan(self) -> None:
        from ..discover import discover

        try:
            found = discover(self.root).files
        except Exception as e:  # the folder vanished or cannot be listed: keep what we have
            self.warnings = [f"{self.root}: {e}"]
            return
        for lf in found:
            if lf.path in self.files:
                continue
            fmt = lf.source.name
            self.files[lf.path] = AppendedJsonl(lf.path, lf.rel) if fmt in APPENDED else \
                Reread(lf.path, lf.rel, fmt, self.reread_bytes, self.growth)

    def poll(self, final: bool = False) -> bool:
        """Read what changed; True when anything did."""
        self._scan()
        changed = False
        for f in self.files.values():
            changed |= bool(f.poll(final))
        return changed

    def sources(self) -> list:
        """What the monitor assembles, chosen and combined per format as `analyze` does (only the newest
        checkpoint copy of trainer_state.json; the event files of one run merged)."""
        from ..sources.registry import registry

        groups: dict[str, list] = {}
        for f in self.files.values():
            if len(f) or getattr(f, "current", None) is not None:
                groups.setdefault(getattr(f, "format", "trainer_log"), []).append(f)
        out = []
        reg = registry()
        for fmt, fs in groups.items():
            src = reg.get(fmt)
            if src is not None and src.choose is not None and len(fs) > 1:
                by_path = {f.path: f for f in fs}
                try:
                    picks = [g[0] for g in src.choose(list(by_path)) if g]
                except Exception:
                    picks = list(by_path)
                out.extend(by_path[p] for p in picks if p in by_path)
            elif src is not None and src.combine is not None and len(fs) > 1:
                out.append(Combined(src, fs))
            else:
                out.extend(fs)
        return out


class Combined:
    """Several files one source merges into one (TensorBoard event files of restarts and writers)."""

    def __init__(self, src, files):
        import os as _os

        self.src, self.files = src, files
        self.format = src.name
        self.rel = _os.path.commonpath([f.rel for f in files]) or "."

    def __len__(self):
        return sum(len(f) for f in self.files)

    def data(self, head=None, tail=None):
        datas = [f.data(head, tail) for f in self.files]
        try:
            return self.src.combine(datas)
        except Exception:
            return datas[0]
