"""Writes past the disk budget; $REXMLE_LOGS_DIR/diskhog.json says how far it got."""

import json
import os
import shutil
import time
from pathlib import Path

env = os.environ
settings = json.loads(env.get("REXMLE_AGENT_SETTINGS", "{}"))
folders = {
    "submission": Path(env["REXMLE_SUBMISSION_DIR"]),
    "code": Path(env["REXMLE_CODE_DIR"]),
    "logs": Path(env["REXMLE_LOGS_DIR"]),
    "tmp": Path(env.get("TMPDIR", "/tmp")),
}
report_path = folders["logs"] / "diskhog.json"
report: dict = {"written": {}, "error": None}


def save() -> None:
    tmp = report_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(report))
    tmp.replace(report_path)


# whatever happens next, the harness must collect and grade this
shutil.copytree(Path(env["REXMLE_DATA_DIR"]) / "sample_submission", folders["submission"], dirs_exist_ok=True)
save()
rate = float(settings.get("rate_mib_s", 0))
chunk = os.urandom(2**20)
t0 = time.monotonic()
done = 0
for i, (where, mib) in enumerate(settings.get("plan", [])):
    try:
        with (folders[where] / f"fill-{i}.bin").open("wb") as f:
            for _ in range(int(mib)):
                f.write(chunk)
                f.flush()
                done += 1
                report["written"][where] = report["written"].get(where, 0) + len(chunk)
                save()
                if rate > 0:
                    time.sleep(max(0.0, t0 + done / rate - time.monotonic()))
    except OSError as exc:  # a full tmpfs, a file past RLIMIT_FSIZE: on to the next
        report["error"] = f"{type(exc).__name__}: {exc}"
        save()
print(f"diskhog: wrote {done} MiB", flush=True)
while True:
    time.sleep(1)
