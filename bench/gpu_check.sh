#!/usr/bin/env bash
# `make gpu-check`: the CUDA path end to end, on a machine with an NVIDIA GPU and Docker with the
# NVIDIA Container Toolkit. It proves three things and writes their figures to $OUT (default
# bench/gpu-check/): the CUDA sandbox image builds (`rexmle images build --gpu`), the baseline
# trains on the GPU inside Docker for synthetic ISLES'22, and so the container received the card
# through `device_requests` (torch inside the sandbox finds CUDA: its log says device=cuda).
# Exit status 0 only when all three hold. Not run by CI: CI machines have no GPU.
set -euo pipefail
OUT="${OUT:-bench/gpu-check}"
mkdir -p "$OUT"
BIN=.venv/bin
[ -x "$BIN/rexmle" ] || make install
command -v nvidia-smi >/dev/null || { echo "gpu-check: no nvidia-smi on this machine" >&2; exit 2; }
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.csv"
docker version --format '{{.Server.Version}}' >/dev/null 2>&1 || bash .ci/engines "$OUT/engines.pids"
"$BIN/rexmle" doctor --json > "$OUT/doctor.json" || true
"$BIN/rexmle" prepare isles22 --synthetic > /dev/null

t0=$(date +%s)
"$BIN/rexmle" images build --agent baseline --gpu > "$OUT/image-build.log" 2>&1
t1=$(date +%s)
"$BIN/rexmle" run --agent baseline --challenge isles22 --synthetic --runtime docker --gpus 1 --force \
  --json > "$OUT/run.json"
t2=$(date +%s)

"$BIN/python" - "$OUT" "$((t1 - t0))" "$((t2 - t1))" <<'PY'
import json, sys
from pathlib import Path

out, build_s, run_s = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
run = json.loads((out / "run.json").read_text())
log = (Path(run["run_dir"]) / "agent.log").read_text(errors="replace")
device = next((line.split("device=")[1].split(",")[0] for line in log.splitlines() if "device=" in line), None)
summary = {
    "gpu": (out / "gpu.csv").read_text().strip(),
    "image_build_s": build_s,
    "run_s": run_s,
    "baseline_device": device,
    "valid": run.get("valid"),
    "score": run.get("score"),
    "isolation": run.get("isolation"),
}
(out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
print(json.dumps(summary, indent=2))
ok = device == "cuda" and run.get("valid") is True
sys.exit(0 if ok else 1)
PY
