"""How well cheap latency proxies rank the tuned TVM latency of architectures.

For ``--num-archs`` distinct random architectures of a built-in space, measured in one process
one after the other:

- ``macs``: multiply-accumulates of conv2d and matmul (the two-stage ``macs`` proxy);
- ``eager``: PyTorch eager latency on this CPU, timed as the two-stage ``eager`` proxy does
  (:func:`~tvm_nacos.cosearch.latency_proxies.eager_latency_ms`: ``torch.inference_mode``,
  warm-up calls, median of the timed calls) with ``--eager-threads`` PyTorch threads (default
  1: on the shared 2-core machine, two PyTorch threads took 6–10 s per NAS-Bench-201 call
  while other processes ran, against ~80 ms with one; on a quiet machine pass the core count,
  which is what the proxy uses);
- ``untuned``: TVM latency of the architecture compiled without tuning (the ``untuned`` proxy);
- ``tuned``: TVM end-to-end latency with every kernel tuned. All architectures share one
  :class:`~tvm_nacos.cosearch.session.SearchSession`: every kernel of every architecture gets
  ``--trials-per-task`` measured schedule candidates, a kernel shared by several
  architectures is one task of the pool and is tuned once; each architecture is then compiled
  with the best schedules and timed end to end (``SearchSession.measure_end_to_end_ms``).

Reported: Spearman ρ (``scipy.stats.spearmanr``) of each proxy against the tuned latency, the
median speedup of tuned TVM over PyTorch eager, unique tasks, trials and wall time per phase.

Usage::

    python bench/run.py proxy_ranking --config nas-bench-201
    python bench/run.py proxy_ranking --config mobilenet-v2
    python bench/run.py proxy_ranking --config vit
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from typing import Any

import numpy as np
from _common import parse_option, unique_samples
from harness import Benchmark, RunContext, main


def _spearman(proxy: list[float], tuned: list[float]) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(proxy, tuned).statistic)


def _ranks(values: list[float]) -> np.ndarray:
    """0-based ranks, the smallest value first (ties in order)."""
    ranks = np.empty(len(values), dtype=int)
    ranks[np.argsort(values, kind="stable")] = np.arange(len(values))
    return ranks


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Space, architectures, trials per task, and the eager timer's settings."""
    parser.add_argument("--space", default="nas-bench-201")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="an option of the space, e.g. resolution=32 for mobilenet-v2 (repeatable)")
    parser.add_argument("--num-archs", type=int, default=50)
    parser.add_argument("--trials-per-task", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eager-threads", type=int, default=1, help="PyTorch threads of the eager timing")
    parser.add_argument("--eager-warmup", type=int, default=10)
    parser.add_argument("--eager-repeat", type=int, default=50, help="timed calls per architecture (median)")
    parser.add_argument("--work-dir", help="tuning database (default: a fresh temporary directory)")


def run(args: argparse.Namespace, ctx: RunContext) -> dict[str, Any]:
    """Every proxy of every architecture, then tuning and end-to-end timing; prints ρ per proxy."""
    import torch

    torch.set_num_threads(1)  # building and importing; the eager proxy sets its own threads
    from tvm_nacos import search_space as spaces
    from tvm_nacos.cosearch.latency_proxies import TWO_STAGE_PROXIES, eager_latency_ms
    from tvm_nacos.cosearch.session import SearchSession
    from tvm_nacos.target import host_target

    wall_start = time.perf_counter()
    phases: dict[str, float] = {}

    def phase(name: str, start: float) -> None:
        phases[name] = round(time.perf_counter() - start, 1)
        ctx.progress("%s: %s s", name, phases[name])

    start = time.perf_counter()
    options = dict(parse_option(o) for o in args.option)
    builtin = spaces.get(args.space, **options)
    mod = builtin.ir_module()
    samples = unique_samples(builtin.space, args.num_archs, args.seed)
    phase("import", start)
    target = host_target()
    work_dir = args.work_dir or tempfile.mkdtemp(prefix="proxy_ranking_")
    session = SearchSession(
        mod, builtin.space, accuracy=lambda s: [0.0] * len(s), target=target, work_dir=work_dir,
        budget=10**9, seed=args.seed, source=builtin,
    )
    try:
        start = time.perf_counter()
        macs = TWO_STAGE_PROXIES["macs"](session, samples)
        phase("macs", start)
        start = time.perf_counter()
        eager_threads = args.eager_threads
        eager = eager_latency_ms(builtin, samples, num_threads=eager_threads, warmup=args.eager_warmup,
                                 repeat=args.eager_repeat)
        phase(f"eager ({eager_threads} threads)", start)
        start = time.perf_counter()
        untuned = TWO_STAGE_PROXIES["untuned"](session, samples)  # lowers each architecture too
        phase("untuned (lowering + compile + run)", start)

        start = time.perf_counter()
        for i, sample in enumerate(samples):
            spent = session.tune_architecture_tasks(sample, args.trials_per_task)
            ctx.progress("tuned arch %d/%d: %d trials, pool %d tasks, %d trials in all", i + 1, len(samples), spent,
                         len(session.pool), session.trials_used)
        phase("tuning", start)
        start = time.perf_counter()
        tuned = []
        for i, sample in enumerate(samples):
            tuned.append(session.measure_end_to_end_ms(sample)[0])
            ctx.progress("end to end %d/%d: %.3f ms (eager %.3f ms, untuned %.3f ms)", i + 1, len(samples), tuned[-1],
                         eager[i], untuned[i])
        phase("tuned end to end", start)
        unique_tasks, trials, failed = len(session.pool), session.trials_used, session.num_failed
        occurrences = sum(len(a.weights) for a in session.pool.architectures.values())
    finally:
        session.close()

    rho = {
        "macs": _spearman(macs, tuned),
        "eager": _spearman(eager, tuned),
        "untuned": _spearman(untuned, tuned),
    }
    speedup = np.asarray(eager) / np.asarray(tuned)
    tuned_rank = _ranks(tuned)
    misranked = {}
    for name, values in (("macs", macs), ("eager", eager), ("untuned", untuned)):
        shift = _ranks(values) - tuned_rank
        order = np.argsort(-np.abs(shift))[:5]
        misranked[name] = [
            {"arch_id": samples[i].id, "sample": samples[i].to_dict(), "proxy_rank": int(tuned_rank[i] + shift[i]),
             "tuned_rank": int(tuned_rank[i])}
            for i in order
        ]
    report = {
        "target": str(target),
        "eager_threads": eager_threads,
        "eager_warmup": args.eager_warmup,
        "eager_repeat": args.eager_repeat,
        "space": args.space,
        "space_options": options,
        "num_archs": len(samples),
        "seed": args.seed,
        "trials_per_task": args.trials_per_task,
        "unique_tasks": unique_tasks,
        "task_occurrences": occurrences,
        "trials": trials,
        "failed_trials": failed,
        "wall_secs": round(time.perf_counter() - wall_start, 1),
        "phase_secs": phases,
        "spearman_vs_tuned": {k: round(v, 4) for k, v in rho.items()},
        "median_speedup_tuned_vs_eager": round(float(np.median(speedup)), 3),
        "median_speedup_tuned_vs_untuned": round(float(np.median(np.asarray(untuned) / np.asarray(tuned))), 3),
        "most_misranked": misranked,
        "archs": [
            {
                "arch_id": s.id, "sample": s.to_dict(), "macs": int(m), "eager_ms": e, "untuned_ms": u,
                "tuned_ms": t,
            }
            for s, m, e, u, t in zip(samples, macs, eager, untuned, tuned, strict=True)
        ],
    }
    print(f"\n{args.space}: {len(samples)} architectures, {unique_tasks} unique tasks, {trials} trials "
          f"({args.trials_per_task} per task), {report['wall_secs']} s\n")
    print("| proxy | Spearman ρ vs tuned TVM |")
    print("|---|---:|")
    names = {"macs": "MACs", "eager": f"PyTorch eager ({eager_threads} thread(s))", "untuned": "untuned TVM"}
    for key, value in rho.items():
        print(f"| {names[key]} | {value:.3f} |")
    print(f"\nmedian speedup of tuned TVM over PyTorch eager ({eager_threads} thread(s)): "
          f"{report['median_speedup_tuned_vs_eager']}×; over untuned TVM: {report['median_speedup_tuned_vs_untuned']}×")
    for name, rows in misranked.items():
        print(f"most misranked by {names[name]}: "
              + "; ".join(f"{r['arch_id']} rank {r['proxy_rank']} vs tuned {r['tuned_rank']}" for r in rows[:3]))
    return report


def summarize(result: dict[str, Any]) -> dict[str, Any]:
    """ρ of each proxy against tuned latency, the median speedups, tasks, trials and wall time."""
    return {
        **{f"spearman.{proxy}": rho for proxy, rho in result["spearman_vs_tuned"].items()},
        "median_speedup_tuned_vs_eager": result["median_speedup_tuned_vs_eager"],
        "median_speedup_tuned_vs_untuned": result["median_speedup_tuned_vs_untuned"],
        "unique_tasks": result["unique_tasks"],
        "trials": result["trials"],
        "wall_secs": result["wall_secs"],
    }


_SETTINGS = ["--num-archs", "50", "--trials-per-task", "8", "--seed", "0", "--eager-threads", "1",
             "--eager-warmup", "5", "--eager-repeat", "30"]

BENCHMARK = Benchmark(
    name="proxy_ranking",
    doc=__doc__,
    add_arguments=add_arguments,
    run=run,
    summarize=summarize,
    configs={
        "nas-bench-201": ["--space", "nas-bench-201", *_SETTINGS],
        "mobilenet-v2": ["--space", "mobilenet-v2", "--option", "resolution=32", *_SETTINGS],
        # PyTorch on as many threads as TVM's target has cores: the comparison at equal threads.
        "vit": ["--space", "vit", *_SETTINGS, "--eager-threads", "2"],
    },
)

if __name__ == "__main__":
    sys.exit(main(BENCHMARK))
