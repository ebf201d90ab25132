"""Runs where they live: `hf://`, `s3://`, `gs://`, `https://…/trainer_state.json`, any fsspec URL.

Nothing is analysed remotely: the listing under the URL is filtered by file name with the source
registry's own test (`sources.registry.candidates` without the file's first bytes), the small claimed files are copied into a temporary folder that
mirrors the remote layout, and that folder is analysed like a local run. What is never fetched: model
weights and optimizer states (by name: *.safetensors, *.bin, *.pt, …, and by size), tokenizer files,
files no reader claims, and the claimed files of older `checkpoint-N/` folders (every checkpoint's
trainer_state.json repeats the whole history; the newest is the one read). Paths in reports are the URLs.

fsspec (and the packages for each protocol) come with the optional extra `pip install 'kto-doctor[remote]'`;
without it a remote URL is a one-line error naming the extra (exit 2).
"""
from __future__ import annotations

import re
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import field
from pathlib import Path, PurePosixPath

from .fastclass import dataclass
from . import InputError

EXTRA_HINT = "pip install 'kto-doctor[remote]'"
# Weights, optimizer states and other large binaries that sit beside the logs in checkpoints and model repos.
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".gguf", ".h5", ".msgpack", ".onnx", ".npz",
                   ".npy", ".pkl", ".tflite", ".mlmodel", ".model", ".tar", ".zip", ".gz", ".parquet", ".arrow")
MAX_FILE_BYTES = 1 << 30  # a claimed file larger than this is skipped with a warning (no log is that big… often)
MAX_FILES = 5000
_URL = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://")
_CHECKPOINT = re.compile(r"checkpoint-(\d+)$")


def is_remote(path) -> bool:
    """A URL with a scheme (`hf://`, `s3://`, `https://`, `memory://`, `file://`…), not a local path."""
    return isinstance(path, str) and _URL.match(path) is not None


@dataclass
class Mirror:
    """A local copy of the claimed files under `url`; `local` is the folder (or file) to analyse."""

    url: str
    local: Path
    tmp: Path
    fetched: list[str] = field(default_factory=list)  # relative paths copied
    skipped: list[str] = field(default_factory=list)  # "rel: why" for claimed files left behind

    def to_remote(self, local_path) -> str:
        """The URL of a path inside the mirror (a run found by scan, a file named in a message)."""
        p = Path(local_path)
        try:
            rel = p.relative_to(self.local)
        except ValueError:
            return str(local_path)
        if str(rel) == ".":
            return self.url
        return self.url.rstrip("/") + "/" + rel.as_posix()

    def unlocalise(self, text: str) -> str:
        """A message with the temporary folder's paths replaced by the URL."""
        return text.replace(str(self.local), self.url.rstrip("/")) if self.local.is_dir() \
            else text.replace(str(self.local), self.url)


def filesystem(url: str):
    """(fsspec filesystem, path within it), or InputError naming the extra / the missing package."""
    scheme = _URL.match(url).group(1).lower()
    try:
        import fsspec
    except ImportError:
        raise InputError(f"{url}: reading {scheme}:// runs needs the remote extra: {EXTRA_HINT}") from None
    try:
        return fsspec.core.url_to_fs(url)
    except ImportError as e:  # fsspec knows the protocol, its implementation is not installed
        named = re.search(r"[Ii]nstall (\S+)", str(e))
        missing = named.group(1) if named else (getattr(e, "name", None) or "a package")
        raise InputError(f"{url}: reading {scheme}:// needs {missing}, which the remote extra installs: "
                         f"{EXTRA_HINT}") from None
    except ValueError as e:
        raise InputError(f"{url}: {e}") from None


def plan(fs, root: str, entries: dict) -> tuple[list[tuple[str, str]], list[str]]:
    """Which files to fetch: [(remote path, relative path)], and [why others were skipped].

    `entries` is fsspec's `find(detail=True)`: {path: {"size": …, "type": …}}.
    """
    from .sources.registry import SKIP_DIRS, candidates

    base = root.rstrip("/")
    claimed: list[tuple[str, str, tuple]] = []
    skipped: list[str] = []
    for path, info in sorted(entries.items()):
        if info.get("type", "file") != "file":
            continue
        rel = path[len(base):].lstrip("/") if path.startswith(base) else PurePosixPath(path).name
        parts = PurePosixPath(rel).parts
        if not parts or any(p in SKIP_DIRS or p.startswith(".") for p in parts[:-1]):
            continue
        name = parts[-1]
        # By name alone (a name claim, or a suffix some reader takes): nothing is opened to decide.
        if name.lower().endswith(WEIGHT_SUFFIXES) or not candidates(Path(name)):
            continue
        size = info.get("size")
        if isinstance(size, int) and size > MAX_FILE_BYTES:
            skipped.append(f"{rel}: {size / 2**30:.1f} GiB, larger than the {MAX_FILE_BYTES >> 30} GiB a log may be")
            continue
        claimed.append((path, rel, parts))
    newest: dict[tuple, int] = {}
    for _, _, parts in claimed:
        for i, part in enumerate(parts[:-1]):
            m = _CHECKPOINT.fullmatch(part)
            if m:
                key = parts[:i]
                newest[key] = max(newest.get(key, -1), int(m.group(1)))
    keep = []
    for path, rel, parts in claimed:
        old = next((i for i, part in enumerate(parts[:-1]) if _CHECKPOINT.fullmatch(part)
                    and int(_CHECKPOINT.fullmatch(part).group(1)) < newest[parts[:i]]), None)
        if old is None:
            keep.append((path, rel))
    if len(keep) > MAX_FILES:
        skipped.append(f"{len(keep) - MAX_FILES} more log files beyond the first {MAX_FILES} not fetched")
        keep = keep[:MAX_FILES]
    return keep, skipped


@contextmanager
def fetch(url: str):
    """Mirror the claimed files under `url` into a temporary folder; yields a Mirror; removes it after."""
    fs, root = filesystem(url)
    tmp = Path(tempfile.mkdtemp(prefix="kto-doctor-remote-"))
    try:
        yield _copy(fs, root, url, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _copy(fs, root: str, url: str, tmp: Path) -> Mirror:
    from .sources.registry import candidates

    name = PurePosixPath(root.rstrip("/")).name or "log"
    try:
        is_dir = fs.isdir(root)
        # Over HTTP a folder's index page is a file too: a URL is read as one log only when it is not a
        # folder, or when its name is one a reader claims and it does not end with "/".
        if fs.isfile(root) and (not is_dir or (not root.endswith("/") and candidates(Path(name)))):
            local = tmp / name
            _get(fs, root, local, url)
            return Mirror(url, local, tmp, fetched=[name])
        if not is_dir:
            raise InputError(f"{url}: no such file or folder")
        entries = fs.find(root, detail=True)
    except InputError:
        raise
    except Exception as e:  # network, permission, credentials: one line naming the URL
        raise InputError(f"{url}: cannot list: {_why(e)}") from None
    todo, skipped = plan(fs, root, entries)
    mirror = Mirror(url, tmp / "run", tmp, skipped=skipped)
    mirror.local.mkdir()
    locals_ = [mirror.local / rel for _, rel in todo]
    for lp in locals_:
        lp.parent.mkdir(parents=True, exist_ok=True)
    try:  # one call: async filesystems (http, s3, gcs) fetch the files concurrently, each streamed to disk
        if todo:
            fs.get([path for path, _ in todo], [str(lp) for lp in locals_])
    except Exception:  # fetch one by one, so that the message names the file that failed
        for (path, rel), lp in zip(todo, locals_):
            _get(fs, path, lp, url.rstrip("/") + "/" + rel)
    mirror.fetched = [rel for _, rel in todo]
    return mirror


def _get(fs, path: str, local: Path, shown: str) -> None:
    local.parent.mkdir(parents=True, exist_ok=True)
    try:
        with fs.open(path, "rb") as src, open(local, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    except Exception as e:
        raise InputError(f"{shown}: cannot fetch: {_why(e)}") from None


def _why(e: Exception) -> str:
    text = str(e).splitlines()[0] if str(e) else ""
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def load_run(url: str, **options):
    """The Run at a URL: fetched, read like a local run (`options` as run.load_run takes them), its path and
    messages naming the URL."""
    from .run import load_run as load_local

    with fetch(url) as mirror:
        try:
            run = load_local(mirror.local, **options)
        except InputError as e:
            raise InputError(mirror.unlocalise(str(e))) from None
    run.path = url
    run.warnings = [mirror.unlocalise(w) for w in run.warnings] + [f"not fetched: {s}" for s in mirror.skipped]
    return run
