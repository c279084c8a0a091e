"""Launch AIDE (aideml 0.2.2) inside a ReX-MLE sandbox; runs in the AIDE venv.

What this adapter adds to AIDE, at launch time and without touching the installed package:
- the CLI call with settings from REXMLE_AGENT_SETTINGS, the gateway alias as model name
  (an OpenAI-looking name would make AIDE ignore OPENAI_BASE_URL), no final report (its
  0.2.2 OpenAI backend crashes on it), logs and workspace inside the sandbox;
- a wrapper around ``Agent.step`` that snapshots each node's submission under
  ``$REXMLE_CODE_DIR/aide-snapshots/<node id>`` and, after every step, publishes the best
  good node's snapshot to ``$REXMLE_SUBMISSION_DIR`` (AIDE 0.2.2 itself keeps only whatever
  the last script wrote). Publishing after every step means a run stopped at its deadline
  still leaves the best submission so far; the best node's code goes to the code folder.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from scaffold_io import code_dir, copy_candidate, data_dir, env, logs_dir, publish, setting, submission_dir

SUPPORTED = "0.2.2"

model = env["REXMLE_LLM_MODEL"]
snapshots = code_dir / "aide-snapshots"


def fail(msg: str) -> None:
    sys.exit(f"rexmle-aide: {msg}")


def take_snapshot(workspace: Path, dest: Path) -> bool:
    """Copy the node's submission (./submission/, else ./working/submission.csv + its files)."""
    shutil.rmtree(dest, ignore_errors=True)
    folder = workspace / "submission"
    if (folder / "submission.csv").is_file():
        shutil.copytree(folder, dest, symlinks=False)
        return True
    table = workspace / "working" / "submission.csv"
    if table.is_file():
        copy_candidate(table, dest)
        return True
    return False


def install_hooks() -> None:
    import aide.agent as aide_agent

    original = aide_agent.Agent.step
    published: dict[str, str | None] = {"node": None}

    def step(self: Any, exec_callback: Any) -> None:
        workspace = Path(self.cfg.workspace_dir)
        shutil.rmtree(workspace / "submission", ignore_errors=True)  # no stale files from earlier nodes
        (workspace / "working" / "submission.csv").unlink(missing_ok=True)
        original(self, exec_callback)
        node = self.journal.nodes[-1]
        has = take_snapshot(workspace, snapshots / node.id)
        print(
            f"rexmle-aide: step {len(self.journal)} node {node.id} buggy={node.is_buggy} "
            f"metric={getattr(node.metric, 'value', None)} submission={'yes' if has else 'no'}",
            flush=True,
        )
        best = self.journal.get_best_node(only_good=True)
        if best is not None and best.id != published["node"] and (snapshots / best.id).is_dir():
            publish(snapshots / best.id, submission_dir)
            (code_dir / "best_solution.py").write_text(best.code)
            (code_dir / "best_node.json").write_text(
                json.dumps(
                    {
                        "node": best.id,
                        "step": best.step,
                        "metric": best.metric.value,
                        "maximize": best.metric.maximize,
                        "time": time.time(),
                    },
                    indent=2,
                )
            )
            published["node"] = best.id
            print(f"rexmle-aide: published node {best.id} (metric {best.metric.value})", flush=True)

    aide_agent.Agent.step = step


def main() -> None:
    try:
        version = metadata.version("aideml")
    except metadata.PackageNotFoundError:
        fail("aideml is not installed in this environment; run `rexmle agents install aide`")
    if version != SUPPORTED:
        fail(
            f"aideml {version} is installed but this adapter supports {SUPPORTED} only (it wraps Agent.step)"
        )
    if re.match(r"^(gpt-.*|o\d+(-.*)?|codex-mini-latest|claude-.*|gemini-.*)$", model):
        fail(f"model alias {model!r} would make AIDE bypass the gateway")
    desc = code_dir / "aide_task.md"
    desc.write_text(Path(env["REXMLE_INSTRUCTIONS"]).read_text())
    limit = float(env.get("REXMLE_TIME_LIMIT_S", "3600"))
    exec_timeout = int(min(float(setting("exec_timeout_s")), limit))
    args = {
        "data_dir": data_dir,
        "desc_file": desc,
        "log_dir": logs_dir / "aide",
        "workspace_dir": code_dir / "aide",
        "exp_name": "run",
        "copy_data": False,
        "preprocess_data": False,
        "generate_report": False,
        "exec.timeout": max(1, exec_timeout),
        "agent.steps": int(setting("steps")),
        "agent.k_fold_validation": int(setting("k_fold_validation")),
        "agent.code.model": model,
        "agent.code.temp": float(setting("code_temp")),
        "agent.feedback.model": model,
        "agent.feedback.temp": float(setting("feedback_temp")),
        "agent.search.num_drafts": int(setting("num_drafts")),
        "agent.search.max_debug_depth": int(setting("max_debug_depth")),
        "agent.search.debug_prob": float(setting("debug_prob")),
    }
    sys.argv = ["aide", *[f"{k}={v}" for k, v in args.items()]]
    print("rexmle-aide: " + " ".join(sys.argv), flush=True)
    install_hooks()
    from aide.run import run

    run()
    if not any(submission_dir.iterdir()):
        print("rexmle-aide: no node produced a good submission", flush=True)


if __name__ == "__main__":
    main()
