"""Shared test helpers: where the repo, its samples and the (optional) shared corpus are."""
from __future__ import annotations

import signal
from pathlib import Path

import pytest

# A suite started as a shell's background job (`pytest ... &`, nohup, some CI runners) inherits SIGINT ignored, and
# so would every kto-doctor it starts: Python installs no KeyboardInterrupt handler then, and the tests that press
# Ctrl-C on a scan would see it run to the end. Give the suite a terminal's Ctrl-C (children get the default).
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "sample_logs"
CORPUS = REPO.parent / "shared" / "corpus"

needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is not present")


def read_or_none(path):
    """What `sources.read` gives for `path`, or None where it refuses the file (a negative case: no log here)."""
    from kto_doctor import sources

    try:
        return sources.read(path)
    except sources.SourceError:
        return None


def assert_same_read(fast, slow, same_dtype: bool = False) -> None:
    """A reader's fast way gave what its plain way gives: warnings, records, segments, hints, and every series'
    steps, values and lines byte for byte (`same_dtype`: their array types too)."""
    import numpy as np

    assert (fast.warnings, fast.records, fast.segments, fast.hints) == (slow.warnings, slow.records, slow.segments,
                                                                        slow.hints)
    assert list(fast.series) == list(slow.series)
    for name in fast.series:
        for attr in ("steps", "values", "lines"):
            a, b = getattr(fast.series[name], attr), getattr(slow.series[name], attr)
            assert not same_dtype or a.dtype == b.dtype, (name, attr)
            assert np.asarray(a).tobytes() == np.asarray(b).tobytes(), (name, attr)
