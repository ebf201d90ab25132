"""Helpers of the store and file-logger format tests."""
from __future__ import annotations

import math
from pathlib import Path

FORMATS = Path(__file__).parent / "fixtures" / "formats"


def values(series) -> dict[float, float]:
    """A Series as {step: value}."""
    return dict(zip(series.steps.tolist(), series.values.tolist()))


def same(a: float, b: float) -> bool:
    """Equal, NaN being equal to NaN (a logged NaN must stay a NaN)."""
    return (math.isnan(a) and math.isnan(b)) or a == b


def matches(series, by_step: dict[float, float]) -> bool:
    got = values(series)
    return got.keys() == by_step.keys() and all(same(got[s], v) for s, v in by_step.items())
