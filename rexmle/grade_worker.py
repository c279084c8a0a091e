"""The disposable process that checks and scores submitted cases, one at a time.

A submission is hostile input: a file that decodes to gigabytes, a TIFF whose pages take
minutes to walk, a parser bug that aborts the interpreter. So no byte of it is decoded in the
harness. Each grading worker is a fresh interpreter (``python -m rexmle.grade_worker``, never
a fork: a forked child would inherit the run's lock and every open file of the harness) that

- caps its own address space (``RLIMIT_AS``) before importing anything large, so an
  allocation past the cap fails inside the worker (MemoryError, or the worker dies) instead
  of taking the machine;
- asks the kernel to kill it when the harness dies (``PR_SET_PDEATHSIG``), so a SIGKILLed
  ``rexmle run`` leaves no grader behind holding files open;
- runs its numeric libraries single-threaded (parallelism comes from running several
  workers) and turns core dumps off.

It reads requests from stdin and writes answers to the stdout it had at start; anything a
library prints goes to stderr. Requests and answers are pickles framed by
:class:`multiprocessing.connection.Connection`. The harness side is :class:`WorkerPool` in
``rexmle.grading``; the per-case work itself is ``rexmle.grading.case_task``.
"""

from __future__ import annotations

import ctypes
import os
import resource
import signal
import sys

#: Environment every worker runs with (set before numpy/ITK are imported).
SINGLE_THREADED = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
    "ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS": "1",
    # glibc makes one 64 MiB arena per thread; the address-space cap must not be spent on them
    "MALLOC_ARENA_MAX": "2",
}
PR_SET_PDEATHSIG = 1


def limit_self(memory_bytes: int, parent_pid: int) -> None:
    """Address-space cap, no core dumps, die with the harness (checked once: the parent may
    already be gone by the time the flag is set)."""
    if memory_bytes > 0:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:
        os._exit(1)


def main() -> None:
    memory_bytes, parent_pid = int(sys.argv[1]), int(sys.argv[2])
    limit_self(memory_bytes, parent_pid)
    answers_fd = os.dup(1)
    os.dup2(2, 1)  # prints of libraries must not corrupt the answer stream
    from multiprocessing.connection import Connection

    requests = Connection(os.dup(0), readable=True, writable=False)
    answers = Connection(answers_fd, readable=False, writable=True)
    from rexmle import grading

    while True:
        try:
            request = requests.recv()
        except EOFError:
            return
        if request is None:
            return
        kind, args = request
        if kind == "case":
            answers.send(grading.case_task(*args))
        else:
            answers.send(grading.pooled_task(*args))


if __name__ == "__main__":
    main()
