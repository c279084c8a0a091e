"""Finished run folders with made-up results, for the report and status benchmarks and tests.

Each folder is what ``rexmle run`` leaves (run.json, result.json, agent.log), written through
the same models, so the report reads them exactly as it reads real runs. The metric values
are drawn per agent around a different level, so agents differ the way real ones do.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rexmle import challenge as challenges
from rexmle import ranking
from rexmle.store import Result, RunDir, RunRecord, RunSpec, RunState

SYNTHETIC_BUDGET = {"wall_time_s": 60, "cpus": 2, "memory_gb": 4.0}


def write_runs(
    root: Path,
    agents: Sequence[str],
    seeds: int,
    challenge_ids: Sequence[str] = ("isles22",),
    synthetic: bool = False,
    runtime: str = "docker",
    invalid_every: int = 0,
    copies: int = 1,
    log_lines: int = 50,
    llm: str | None = None,
    model: str | None = None,
) -> list[Path]:
    """``copies`` x challenges x agents x seeds run folders under ``root/runs`` (``llm``/``model``:
    as an LLM agent's run records them, e.g. ``scripted`` with the scripted LLM's stand-in name)."""
    from rexmle.challenge import Budgets

    rng = np.random.default_rng(0)
    made = []
    k = 0
    for copy in range(copies):
        for cid in challenge_ids:
            ch = challenges.get(cid)
            lb = ch.leaderboard
            directions = ch.spec.ranked_directions
            ranked = ranking.leaderboard_metrics(lb)
            for a_idx, agent in enumerate(agents):
                level = 0.15 + 0.3 * a_idx  # later agents are better
                for seed in range(seeds):
                    spec = RunSpec(
                        challenge=cid,
                        agent=agent,
                        model=model,
                        llm=llm,
                        seed=seed + 1000 * copy,
                        runtime=runtime,
                        synthetic=synthetic,
                        budgets=Budgets.model_validate(SYNTHETIC_BUDGET),
                    )
                    rd = RunDir(root / "runs" / spec.run_id)
                    rd.path.mkdir(parents=True, exist_ok=True)
                    k += 1
                    valid = not (invalid_every and k % invalid_every == 0)
                    metrics: dict[str, float] = {}
                    for m in ranked:
                        col = lb[m].astype(float)
                        lo, hi = float(col.min()), float(col.max())
                        worst, best = (lo, hi) if directions[m] == "higher_better" else (hi, lo)
                        span = abs(hi - lo) or 1.0
                        start = worst - (best - worst) * 2 if worst != best else worst - span
                        t = float(np.clip(level + rng.normal(0, 0.08), 0, 1.2))
                        metrics[m] = start + (best - start) * t
                    rank = ranking.rank_against(metrics, lb, directions) if valid else None
                    now = time.time()
                    rd.write_record(
                        RunRecord(
                            run_id=spec.run_id,
                            spec=spec,
                            state=RunState.done,
                            created_at=now,
                            updated_at=now,
                            attempts=1,
                        )
                    )
                    rd.write_result(
                        Result.model_validate(  # the flat (version 1) form: read into the sections
                            dict(
                                run_id=spec.run_id,
                                challenge=cid,
                                agent=agent,
                                model=model,
                                llm=llm,
                                seed=spec.seed,
                                synthetic=synthetic,
                                state=RunState.done,
                                valid=valid,
                                reason=None if valid else "prediction for case 3 is missing",
                                metrics=metrics if valid else {},
                                n_cases=5,
                                score=rank.mean_position if rank else None,
                                positions=rank.positions if rank else {},
                                rank=rank.rank if rank else None,
                                n_leaderboard=len(lb),
                                percentile=rank.percentile if rank else None,
                                beats_median=rank.above_median if rank else None,
                                beats_share=rank.beats_share if rank else None,
                                medal=rank.medal if rank else None,
                                cost_usd=float(rng.uniform(0, 2))
                                if agent not in ("dummy", "baseline")
                                else 0.0,
                                tokens_in=int(rng.integers(0, 10**6)),
                                tokens_out=int(rng.integers(0, 10**5)),
                                llm_calls=int(rng.integers(0, 200)),
                                wall_time_s=float(rng.uniform(30, 3600)),
                                agent_time_s=float(rng.uniform(20, 3500)),
                                isolation="none" if runtime == "local" else "container",
                            )
                        )
                    )
                    rd.agent_log.write_text(
                        "".join(f"step {i}: loss {1 / (i + 1):.4f}\n" for i in range(log_lines))
                    )
                    made.append(rd.path)
    return made
