"""A busy machine on demand: K processes that each keep a core busy while a block runs.

    with spinning(1):
        ...  # measured with one core taken

A spinner is a Python process running ``while True: pass``: the load a user's other
program (or another developer's) puts on a shared machine. Idle pool workers that
spin, and code that waits for a thread the scheduler does not run, show up here as a
slower median and a much slower 90th percentile.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

SPIN = "import sys; sys.stdout.write('ready\\n'); sys.stdout.flush()\nwhile True: pass"


@contextmanager
def spinning(k: int) -> Iterator[list[int]]:
    """Run the block with ``k`` spinning processes (their pids are yielded); they are
    started, and seen to run, before the block, and stopped after it, whatever happens."""
    procs: list[subprocess.Popen] = []
    try:
        for _ in range(k):
            procs.append(subprocess.Popen([sys.executable, "-c", SPIN], stdout=subprocess.PIPE,
                                          stdin=subprocess.DEVNULL))
        for p in procs:
            assert p.stdout is not None and p.stdout.readline() == b"ready\n", "a spinner did not start"
        yield [p.pid for p in procs]
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.wait()
            if p.stdout is not None:
                p.stdout.close()
