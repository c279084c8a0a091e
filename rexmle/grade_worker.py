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
``rexmle.grading``; the per-case work itself is :func:`case_task` (and :func:`pooled_task`).
"""

from __future__ import annotations

import ctypes
import os
import resource
import signal
import sys
from pathlib import Path
from typing import Any

from rexmle.errors import InvalidSubmission

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


def one_line(text: str, limit: int = 300) -> str:
    """``text`` on one line, at most ``limit`` characters (a reason shown to a person)."""
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


#: Where a pooled grader's per-case check result rides in a verdict (see ``case_task``).
POOLED_KEY = "__loaded__"
#: Wall-clock limit of one case's check when only validating (``validate``, the gateway's
#: ``/validate``): a format check must answer an agent quickly.
VALIDATE_CASE_TIME_S = 30.0

Verdict = tuple[str, bool, str | None, dict[str, Any]]


def case_task(
    folder: str,
    challenge_id: str,
    case_id: str,
    files: dict[str, Any],
    public_dir: str,
    private_dir: str | None,
) -> Verdict:
    """Check (and with a private dir, score) one case, in a grading worker. Never raises:
    returns a verdict ``(case_id, ok, reason, scores)``.

    For a pooled grader (``score_pooled``) the scores dict is ``{POOLED_KEY: loaded}`` when
    grading: the check's result goes back to the parent, which scores all cases together."""
    from rexmle.challenge_api import grader_at  # after the address-space cap

    grader = grader_at(Path(folder), challenge_id)
    try:
        loaded = grader.check_case(case_id, files, Path(public_dir))
        scores: dict[str, Any] = {}
        if private_dir is not None and grader.score_case is None:
            scores = {POOLED_KEY: loaded}
        elif private_dir is not None:
            assert grader.score_case is not None
            scores = {k: float(v) for k, v in grader.score_case(case_id, loaded, Path(private_dir)).items()}
    except InvalidSubmission as exc:
        return case_id, False, one_line(str(exc)), {}
    except MemoryError:
        return case_id, False, f"case {case_id}: prediction too large to load", {}
    except RecursionError:
        return case_id, False, f"case {case_id}: prediction is nested too deeply to read", {}
    except Exception as exc:
        return (
            case_id,
            False,
            one_line(f"case {case_id}: could not be graded: {type(exc).__name__}: {exc}"),
            {},
        )
    return case_id, True, None, scores


def pooled_task(
    folder: str, challenge_id: str, loaded: dict[str, Any], private_dir: str
) -> tuple[bool, str | None, dict[str, float]]:
    """``score_pooled`` over every case, in a grading worker: ``(ok, reason, metrics)``."""
    from rexmle.challenge_api import grader_at

    score_pooled = grader_at(Path(folder), challenge_id).score_pooled
    assert score_pooled is not None
    try:
        result = score_pooled(loaded, Path(private_dir))
        return True, None, {k: float(v) for k, v in result.items()}
    except InvalidSubmission as exc:
        return False, one_line(str(exc)), {}
    except MemoryError:
        return False, "scoring needs more memory than the grading limit", {}
    except Exception as exc:
        return False, one_line(f"aggregation failed: {type(exc).__name__}: {exc}"), {}


def main() -> None:
    memory_bytes, parent_pid = int(sys.argv[1]), int(sys.argv[2])
    limit_self(memory_bytes, parent_pid)
    answers_fd = os.dup(1)
    os.dup2(2, 1)  # prints of libraries must not corrupt the answer stream
    from multiprocessing.connection import Connection

    requests = Connection(os.dup(0), readable=True, writable=False)
    answers = Connection(answers_fd, readable=False, writable=True)
    while True:
        try:
            request = requests.recv()
        except EOFError:
            return
        if request is None:
            return
        kind, args = request
        if kind == "case":
            answers.send(case_task(*args))
        else:
            answers.send(pooled_task(*args))


if __name__ == "__main__":
    main()
