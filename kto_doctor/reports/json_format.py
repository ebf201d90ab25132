"""`--format json`: the report exactly as ../shared/contract.md fixes it (schema_version 1)."""
from __future__ import annotations

import json

from .safe import json_text


def render(report, options) -> str:
    return json_text(json.dumps(report.to_dict(), indent=2, ensure_ascii=False, allow_nan=False)) + "\n"


def render_many(reports, options) -> str:
    return json_text(json.dumps([r.to_dict() for r in reports], indent=2, ensure_ascii=False, allow_nan=False)) + "\n"
