"""Launch R&D-Agent (rdagent 1.0.0, data_science scenario) inside a ReX-MLE sandbox.

Runs in the rdagent venv. Everything R&D-Agent writes relative to its working directory
goes to a scratch folder under $REXMLE_CODE_DIR; its session logs go to $REXMLE_LOGS_DIR.
It runs without Docker and without conda: rdagent 1.0.0's "conda" environment type is a
local subprocess whose PATH it asks ``conda`` for; this adapter answers that question
itself (the solution code runs with this venv's python, which has ``coverage``).

Launch-time patches (no installed file is edited; each target is checked first and the
launch fails loudly when the installed rdagent differs from the version they were written
for):
- ``DataScienceScen._get_direction``: the metric direction comes from our challenge spec,
  not from the LLM's reading of the description;
- ``DataScienceScen._analysis_competition_description``: the metric name (the column
  R&D-Agent requires in scores.csv) is our challenge's primary metric;
- ``CondaConf._update_bin_path``: the execution PATH (no conda binary needed);
- ``DataScienceRDLoop.record``: after every loop, the SOTA experiment's submission.csv (and
  the prediction files it references) is published to $REXMLE_SUBMISSION_DIR and its
  main.py to $REXMLE_CODE_DIR, so a run stopped at its deadline keeps the best so far;
- the gateway alias is registered with litellm as a model that supports response schemas,
  so R&D-Agent sends ``response_format`` as it would to a known model.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from scaffold_io import code_dir, copy_candidate, data_dir, env, logs_dir, publish, settings, submission_dir

SUPPORTED = "1.0.0"


def fail(msg: str) -> None:
    sys.exit(f"rexmle-rdagent: {msg}")


metrics: list[dict[str, str]] = json.loads(env.get("REXMLE_METRICS", "[]"))
competition = env.get("REXMLE_CHALLENGE", "task")
scratch = code_dir / "rdagent"


def publish_workspace(workspace: Path) -> bool:
    """Publish the workspace's submission.csv + referenced files as the run's submission."""
    table = workspace / "submission.csv"
    if not table.is_file():
        return False
    candidate = scratch / "candidate"
    copy_candidate(table, candidate)
    publish(candidate, submission_dir)
    return True


def prepare_layout() -> Path:
    """DS_LOCAL_DATA_PATH/<competition>/ = description.md + links to the public data."""
    root = scratch / "data"
    comp = root / competition
    shutil.rmtree(root, ignore_errors=True)
    comp.mkdir(parents=True)
    (comp / "description.md").write_text(Path(env["REXMLE_INSTRUCTIONS"]).read_text())
    for item in data_dir.iterdir():
        if item.name != "description.md":
            (comp / item.name).symlink_to(item)
    return root


def configure(data_root: Path) -> None:
    venv_bin = str(Path(sys.executable).parent)
    defaults = {
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "DS_LOCAL_DATA_PATH": str(data_root),
        "DS_SCEN": "rdagent.scenarios.data_science.scen.DataScienceScen",
        "DS_Coder_CoSTEER_ENV_TYPE": "conda",
        "DS_Runner_CoSTEER_ENV_TYPE": "conda",
        "DS_CODER_MAX_LOOP": str(settings.get("coder_max_loop", 10)),
        "DS_RUNNER_MAX_LOOP": str(settings.get("runner_max_loop", 3)),
        "DS_DEBUG_TIMEOUT": str(settings.get("debug_timeout_s", 600)),
        "DS_FULL_TIMEOUT": str(settings.get("full_timeout_s", 3600)),
        "MAX_RETRY": str(settings.get("max_retry", 10)),
        "RETRY_WAIT_SECONDS": str(settings.get("retry_wait_s", 20)),
        "WORKSPACE_PATH": str(scratch / "workspaces"),
        "LOG_TRACE_PATH": str(logs_dir / "rdagent"),
        "ARTIFACT_SIGNING_KEY": secrets.token_hex(32),
        "HOME": str(scratch),
    }
    for key, value in defaults.items():
        env[key] = value
    env["PATH"] = venv_bin + os.pathsep + env.get("PATH", "/usr/bin:/bin")


def install_patches() -> None:
    import litellm
    from rdagent.scenarios.data_science.loop import DataScienceRDLoop
    from rdagent.scenarios.data_science.scen import DataScienceScen
    from rdagent.utils.env import CondaConf

    for owner, attr in (
        (DataScienceScen, "_get_direction"),
        (DataScienceScen, "_analysis_competition_description"),
        (CondaConf, "_update_bin_path"),
        (DataScienceRDLoop, "record"),
    ):
        if not callable(getattr(owner, attr, None)):
            fail(
                f"rdagent {metadata.version('rdagent')}: {owner.__name__}.{attr} is missing; adapter needs {SUPPORTED}"
            )

    primary = metrics[0] if metrics else None
    if primary is not None:
        bigger = primary["direction"] == "higher_better"
        DataScienceScen._get_direction = lambda self: bigger
        original_analysis = DataScienceScen._analysis_competition_description

        def analysis(self: Any) -> None:
            original_analysis(self)
            self.metric_name = primary["name"]

        DataScienceScen._analysis_competition_description = analysis

    exec_path = str(Path(sys.executable).parent) + ":/usr/local/bin:/usr/bin:/bin"

    def update_bin_path(self: Any) -> None:
        self.bin_path = exec_path

    CondaConf._update_bin_path = update_bin_path

    original_record = DataScienceRDLoop.record

    def record(self: Any, prev_out: Any) -> Any:
        out = original_record(self, prev_out)
        exp = self.trace.sota_exp_to_submit
        if exp is not None and exp.experiment_workspace is not None:
            ws = Path(exp.experiment_workspace.workspace_path)
            if publish_workspace(ws):
                if (ws / "main.py").is_file():
                    shutil.copy2(ws / "main.py", code_dir / "best_solution.py")
                (code_dir / "best_experiment.json").write_text(
                    json.dumps({"workspace": str(ws), "loop": prev_out.get(self.LOOP_IDX_KEY)}, default=str)
                )
                print(f"rexmle-rdagent: published the SOTA submission from {ws}", flush=True)
        return out

    DataScienceRDLoop.record = record

    chat = env["CHAT_MODEL"]
    litellm.register_model(
        {
            chat: {
                "litellm_provider": "openai",
                "mode": "chat",
                "max_input_tokens": int(settings.get("context_tokens", 128000)),
                "max_output_tokens": 16384,
                "max_tokens": 16384,
                "input_cost_per_token": 0.0,
                "output_cost_per_token": 0.0,
                "supports_response_schema": True,
                "supports_function_calling": True,
            }
        }
    )


def main() -> None:
    try:
        version = metadata.version("rdagent")
    except metadata.PackageNotFoundError:
        fail("rdagent is not installed in this environment; run `rexmle agents install rdagent`")
    if version != SUPPORTED:
        fail(
            f"rdagent {version} is installed but this adapter supports {SUPPORTED} only (it patches its internals)"
        )
    if shutil.which("strace") is None:
        fail("R&D-Agent runs solutions under strace; install it (Debian: apt-get install strace)")
    scratch.mkdir(parents=True, exist_ok=True)
    os.chdir(scratch)  # R&D-Agent writes log/, pickle_cache/, selector.log relative to cwd
    configure(prepare_layout())
    from rdagent.app.cli import app

    install_patches()
    limit = int(float(env.get("REXMLE_TIME_LIMIT_S", "3600")))
    sys.argv = ["rdagent", "data_science", "--competition", competition, "--timeout", f"{max(60, limit)}s"]
    if settings.get("steps"):
        sys.argv += ["--loop-n", str(int(settings["steps"]))]
    print("rexmle-rdagent: " + " ".join(sys.argv), flush=True)
    try:
        app()
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise
    if not any(p for p in submission_dir.iterdir() if not p.name.startswith(".")):
        fail("R&D-Agent finished without a SOTA submission")


if __name__ == "__main__":
    main()
