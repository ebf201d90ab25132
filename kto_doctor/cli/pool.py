"""Worker processes for `scan`, each holding one run at a time, so that the parent always knows which run a
worker was on: a worker that dies (killed, out of memory) costs that run alone, as an error row, and the
sweep goes on with a fresh worker. Ctrl-C stops the workers at once and keeps what was finished.

(concurrent.futures' pool cannot say which task killed a worker: every pending task fails with
BrokenProcessPool, which turned one out-of-memory run into a thousand error rows.)
"""
from __future__ import annotations

import signal

CRASHED = "worker died"


class Interrupted(Exception):
    """Ctrl-C during the sweep; `.results` holds the runs finished before it."""

    def __init__(self, results: dict):
        super().__init__("interrupted")
        self.results = results


def _worker(conn, init, init_args, task, task_args):
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides what Ctrl-C does
    init(*init_args)
    while True:
        try:
            item = conn.recv()
        except (EOFError, OSError):
            return
        if item is None:
            return
        conn.send(task(item, *task_args))


def describe_exit(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        why = " (out of memory?)" if name == "SIGKILL" else ""
        return f"{CRASHED}: killed by {name}{why}"
    return f"{CRASHED} with exit code {code}"


def run_pool(items: list, jobs: int, init, init_args: tuple, task, task_args: tuple, on_done) -> dict:
    """{item: task(item, *task_args)} computed in `jobs` worker processes; a crashed item maps to
    (item, None, "worker died: ..."). `on_done(item)` is called as each finishes. Raises Interrupted."""
    import multiprocessing as mp  # here, not at the top: every command imports this module via scan
    from multiprocessing.connection import wait

    ctx = mp.get_context()
    todo = list(reversed(items))
    results: dict = {}
    workers: dict = {}  # conn -> [process, current item]

    def start():
        parent, child = ctx.Pipe()
        p = ctx.Process(target=_worker, args=(child, init, init_args, task, task_args), daemon=True)
        p.start()
        child.close()
        workers[parent] = [p, None]
        feed(parent)

    def feed(conn):
        item = todo.pop() if todo else None
        workers[conn][1] = item
        try:
            conn.send(item)
        except (BrokenPipeError, OSError):  # died between two runs: nothing of this one was done
            if item is not None:
                todo.append(item)
            retire(conn)

    def retire(conn):
        proc, _ = workers.pop(conn)
        conn.close()
        proc.join(5)
        if todo:
            start()

    try:
        for _ in range(min(jobs, len(items))):
            start()
        while len(results) < len(items) and workers:
            busy = [c for c, (_, item) in workers.items() if item is not None]
            if not busy:
                break
            for conn in wait(busy):
                proc, item = workers[conn]
                try:
                    res = conn.recv()
                except (EOFError, OSError):  # the worker died on this run
                    proc.join(5)
                    results[item] = (item, None, describe_exit(proc.exitcode))
                    on_done(item)
                    retire(conn)
                    continue
                results[item] = res
                on_done(item)
                feed(conn)
    except KeyboardInterrupt:
        _stop(workers)
        raise Interrupted(results) from None
    _stop(workers, graceful=True)
    return results


def _stop(workers: dict, graceful: bool = False) -> None:
    for conn, (proc, _) in workers.items():
        if not graceful:
            proc.kill()
        conn.close()
    for proc, _ in workers.values():
        proc.join(2 if graceful else 5)
        if proc.is_alive():
            proc.kill()
            proc.join(1)
