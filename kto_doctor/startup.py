"""The command-line process's start-up: the cyclic garbage collector waits until the code is loaded.

Importing numpy, pandas, the CLI library and our own modules creates a few hundred thousand objects that live
as long as the process and no cyclic garbage to speak of, yet the collector runs through them again and again
while they are created (about 60M instructions of a small run's whole process, 4%). The console script
therefore pauses it at its start (`pause`: from the first import of the command line's package on, where the
process is the console script, `console_start`) and the first load of the source registry, the step every command
that reads a run takes before reading anything, freezes what exists by then (`gc.freeze`: never traversed
again) and lets the collector run as usual for the reading and the rules (`resume`). A command that never
reads a run (explain, rules list) is short and leaves with the collector paused. Library callers are not
affected: nothing pauses the collector unless the console script does.
"""
from __future__ import annotations

import gc
import sys

_paused = False
_froze = False  # resume froze the start-up's objects: this process is the console script's


def console_start() -> bool:
    """The process is the `kto-doctor` console script (or `python -m kto_doctor`): its argv[0] says so while
    the script imports the command line. The collector is then paused before typer and click load (~17M
    instructions of a small run otherwise); anything else waits for `console()` to pause it, as before."""
    arg0 = sys.argv[0] if sys.argv else ""
    name = arg0.replace("\\", "/").rpartition("/")[2]
    for suffix in ("-script.pyw", "-script.py", ".exe"):
        if name.endswith(suffix):
            name = name[:-len(suffix)]
    return name == "kto-doctor" or arg0.replace("\\", "/").endswith("kto_doctor/__main__.py")


def pause() -> None:
    global _paused
    if gc.isenabled():
        gc.disable()
        _paused = True


def resume() -> None:
    """Freeze what the start-up loaded and let the collector run again (only if `pause` stopped it)."""
    global _paused, _froze
    if _paused:
        _paused = False
        _froze = True
        gc.freeze()
        gc.enable()


def late_import(name: str):
    """`import name` for a module the console script loads after the start-up: pandas, imported once a run's files
    are read (so that a long log is read without its 44 MB). It is start-up code all the same: loaded with the
    collector paused and frozen with what exists then, as `pause` and `resume` do for the rest (imported with the
    collector running, pandas cost a small run 0.03-0.04 s more: 1.12x the bare imports instead of 1.02x)."""
    module = sys.modules.get(name)
    if module is not None:
        return module
    import importlib

    if not _froze or not gc.isenabled():
        return importlib.import_module(name)
    gc.disable()
    try:
        return importlib.import_module(name)
    finally:
        gc.freeze()
        gc.enable()
