"""Regenerate docs/rule-reference.md (rule fields, built-in rules, functions) from the code.

    python scripts/gen_docs.py           # write it
    python scripts/gen_docs.py --check   # exit 1 when it is out of date
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main(argv) -> int:
    if any(a not in ("--check",) for a in argv):
        print(__doc__.strip(), file=sys.stderr)
        return 0 if argv in (["-h"], ["--help"]) else 2
    from kto_doctor.cli.rules_cmd import REFERENCE_PATH, reference_markdown
    from kto_doctor.engine.rules import load_builtin

    text = reference_markdown(load_builtin())
    target = ROOT / REFERENCE_PATH
    if "--check" in argv:
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            print(f"{REFERENCE_PATH} is out of date: run python scripts/gen_docs.py", file=sys.stderr)
            return 1
        print(f"{REFERENCE_PATH} is up to date")
        return 0
    target.write_text(text, encoding="utf-8")
    print(f"wrote {REFERENCE_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
