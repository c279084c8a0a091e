"""Launch ML-Master (upstream source in this venv's src/ml-master) inside a ReX-MLE sandbox.

Launch-time patches, written here and applied in this process only (the source tree is
never edited); each target is checked first and the launch fails loudly if it is missing:
- ``agent.mcts_agent.call_validate``: upstream posts submissions to a hard-coded
  127.0.0.1:5001; ours asks the run's gateway ``/validate`` (format only, public files only)
  and answers in upstream's ``{"is_valid", "result"}`` form. Keeping the check on matters:
  with it off, upstream never replaces its first good node as the best submission.
- ``main_mcts.journal_to_string_tree``: upstream formats the virtual root's missing metric
  when the step budget is reached and dies with a TypeError (exit 1); without that crash its
  loop would spin. Ours logs the tree and ends the run with exit 0.
A watcher thread publishes the best node (``best_solution/node_id.txt``) as the run's
submission whenever it changes, so a run stopped at its deadline keeps the best so far.
Completion is judged by files, not by exit codes.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from scaffold_io import code_dir, copy_candidate, data_dir, env, logs_dir, publish, setting, submission_dir

source = Path(sys.executable).parent.parent / "src" / "ml-master"
scratch = code_dir / "ml-master"
REVIEW_ALIAS = "gpt-rexmle-review"


def fail(msg: str) -> None:
    sys.exit(f"rexmle-ml-master: {msg}")


def validate(exp_id: str, submission_path: Any, timeout: int = 600, max_retries: int = 3) -> tuple[bool, Any]:
    """Drop-in for upstream's call_validate: (reached, {"is_valid": bool, "result": str})."""
    path = Path(submission_path)
    body = json.dumps({"submission_dir": str(path.parent), "table": path.name}).encode()
    req = urllib.request.Request(
        env["REXMLE_VALIDATE_URL"],
        data=body,
        headers={"Content-Type": "application/json", "Authorization": "Bearer " + env["REXMLE_LLM_API_KEY"]},
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            answer = json.load(resp)
    except urllib.error.HTTPError as exc:
        answer = json.load(exc)
    except OSError as exc:
        return False, f"validation endpoint unreachable: {exc}"
    return True, {"is_valid": bool(answer.get("valid")), "result": answer.get("reason") or "valid"}


def watch_best(workspace: Path, stop: threading.Event) -> None:
    """Publish the best node's submission each time ML-Master records a new best."""
    marker = workspace / "best_solution" / "node_id.txt"
    published = None
    while True:
        try:
            node = marker.read_text().strip() if marker.is_file() else None
        except OSError:
            node = None
        if node and node != published:
            table = workspace / "submission" / f"submission_{node}.csv"
            if table.is_file():
                copy_candidate(table, scratch / "candidate")
                publish(scratch / "candidate", submission_dir)
                solution = workspace / "best_solution" / "solution.py"
                if solution.is_file():
                    (code_dir / "best_solution.py").write_text(solution.read_text())
                (code_dir / "best_node.json").write_text(json.dumps({"node": node, "time": time.time()}))
                print(f"rexmle-ml-master: published node {node}", flush=True)
                published = node
        if stop.is_set():
            return
        stop.wait(1.0)


def main() -> None:
    if not (source / "main_mcts.py").is_file():
        fail(f"no ML-Master source at {source}; run `rexmle agents install ml-master --source PATH`")
    sys.path.insert(0, str(source))
    import agent.mcts_agent as mcts_agent
    import main_mcts

    for owner, attr in (
        (mcts_agent, "call_validate"),
        (main_mcts, "journal_to_string_tree"),
        (main_mcts, "run"),
    ):
        if not callable(getattr(owner, attr, None)):
            fail(
                f"{owner.__name__}.{attr} is missing: this ML-Master checkout differs from the supported commit"
            )

    mcts_agent.call_validate = validate

    def tree_then_exit(journal: Any) -> str:
        lines = []
        for n in journal.nodes[1:]:
            value = getattr(n.metric, "value", None) if n.metric is not None else None
            lines.append(f"{'bug' if n.is_buggy else value} (node {n.id})")
        logging.getLogger("ml-master").info("solution nodes:\n" + "\n".join(lines))
        raise SystemExit(0)

    main_mcts.journal_to_string_tree = tree_then_exit

    scratch.mkdir(parents=True, exist_ok=True)
    os.chdir(scratch)
    desc = scratch / "task.md"
    desc.write_text(Path(env["REXMLE_INSTRUCTIONS"]).read_text())
    cpus = sorted(os.sched_getaffinity(0))
    parallel = max(1, min(int(setting("parallel_search_num")), len(cpus)))
    limit = float(env.get("REXMLE_TIME_LIMIT_S", "3600"))
    exp_name = f"{env.get('REXMLE_CHALLENGE', 'task').replace('_', '-')}_run"
    base, key, model = env["ML_MASTER_BASE_URL"], env["ML_MASTER_API_KEY"], env["REXMLE_LLM_MODEL"]
    args = {
        "data_dir": data_dir,
        "dataset_dir": data_dir,
        "desc_file": desc,
        "exp_name": exp_name,
        "log_dir": logs_dir / "ml-master",
        "workspace_dir": scratch / "workspaces",
        "preprocess_data": False,
        "copy_data": False,
        "start_cpu_id": cpus[0],
        "cpu_number": len(cpus),
        "exec.timeout": max(1, int(min(float(setting("exec_timeout_s")), limit))),
        "agent.steps": int(setting("steps")),
        "agent.time_limit": int(limit),
        "agent.k_fold_validation": int(setting("k_fold_validation")),
        "agent.check_format": True,
        "agent.steerable_reasoning": False,  # plain chat completions (the gateway's API)
        "agent.code.model": model,
        "agent.code.temp": float(setting("code_temp")),
        "agent.code.base_url": base,
        "agent.code.api_key": key,
        "agent.feedback.model": REVIEW_ALIAS,
        "agent.feedback.temp": float(setting("feedback_temp")),
        "agent.feedback.base_url": base,
        "agent.feedback.api_key": key,
        "agent.search.num_drafts": int(setting("num_drafts")),
        "agent.search.num_bugs": int(setting("num_bugs")),
        "agent.search.num_improves": int(setting("num_improves")),
        "agent.search.parallel_search_num": parallel,
    }
    sys.argv = ["main_mcts.py", *[f"{k}={v}" for k, v in args.items()]]
    print("rexmle-ml-master: " + " ".join(a for a in sys.argv if "api_key" not in a), flush=True)
    stop = threading.Event()
    watcher = threading.Thread(target=watch_best, args=(scratch / "workspaces" / exp_name, stop), daemon=True)
    watcher.start()
    try:
        main_mcts.run()
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise
    finally:
        stop.set()
        watcher.join(timeout=30)
    if not any(p for p in submission_dir.iterdir() if not p.name.startswith(".")):
        fail("ML-Master finished without a best submission")
    os._exit(0)  # its worker pools may hold non-daemon threads; the outputs are complete


if __name__ == "__main__":
    main()
