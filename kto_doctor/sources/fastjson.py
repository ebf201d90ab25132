"""One JSON document decoded as `json.loads` decodes it, through msgspec when it is installed (the `fast`
extra: about 3x faster on a 100k-row trainer_state.json).

msgspec decodes to the same Python values where it accepts a document; it refuses what the standard library
reads as an extension or leniency (NaN and Infinity, numbers past a float's range, lone surrogates). Any
refusal falls back to `json.loads`, whose result or error then decides, so a file reads the same with and
without msgspec. KTO_DOCTOR_NO_MSGSPEC=1 turns the fast path off.
"""
from __future__ import annotations

import json
import os

_decode = None  # msgspec's decode once looked up; False when it is not available
FAST_FROM = 1 << 20  # bytes: below this, importing msgspec costs more than it saves


def loads(data: bytes):
    global _decode
    if len(data) < FAST_FROM:
        return json.loads(data)
    if _decode is None:
        _decode = _fast_decoder()
    if _decode:
        try:
            return _decode(data)
        except Exception:  # msgspec.DecodeError / ValidationError: the standard library decides
            pass
    return json.loads(data)


def _fast_decoder():
    if os.environ.get("KTO_DOCTOR_NO_MSGSPEC"):
        return False
    try:
        import msgspec
    except ImportError:
        return False
    return msgspec.json.Decoder().decode


def reset() -> None:
    """Look the decoder up again (tests switch msgspec off and on)."""
    global _decode
    _decode = None
