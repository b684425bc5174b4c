"""What measuring a kernel is worth to the joint search: the gain functions of its acquisition.

Every function here reads a :class:`~tvm_nacos.cosearch.session.SearchSession` and the
architecture estimates of one round, and returns numbers; none of them measures anything. The
joint strategy (:mod:`tvm_nacos.cosearch.strategies.joint`) combines them; tests and other
strategies may call them directly.
"""

from __future__ import annotations

import math
from dataclasses import replace

from tvm_nacos.cosearch.latency_estimate import headroom_log_std
from tvm_nacos.cosearch.objectives import hypervolume, pareto_indices
from tvm_nacos.cosearch.session import ArchitectureEstimate, SearchSession

__all__ = [
    "common_kernel_gains",
    "distinguishing_estimate",
    "finish_look",
    "finish_reserve",
    "hypervolume_contributions",
    "hypervolume_reference",
    "kernel_gains",
    "kernel_usage",
    "next_step",
    "plan_round",
    "removable_secs",
]


def hypervolume_reference(estimates: list[ArchitectureEstimate]) -> tuple[float, float]:
    """The joint search's hypervolume reference: the lowest accuracy and 1.1 × the highest
    latency in view."""
    return min(e.accuracy for e in estimates), 1.1 * max(e.latency_ms for e in estimates)


def hypervolume_contributions(
    estimates: list[ArchitectureEstimate], candidates: list[ArchitectureEstimate]
) -> dict[str, float]:
    """What each candidate could add to the estimated front's hypervolume.

    A candidate's contribution is the hypervolume of the other estimates plus the candidate at
    its optimistic latency, minus the hypervolume of the others alone (reference: the lowest
    accuracy and 1.1 × the highest latency in view). High-accuracy architectures that nothing
    else reaches own a large slab, and so do the fastest ones: the search measures both ends.
    """
    if not estimates:
        return {}
    reference = hypervolume_reference(estimates)
    front = set(pareto_indices([e.accuracy for e in estimates], [e.latency_ms for e in estimates]))
    everyone = hypervolume([e.accuracy for e in estimates], [e.latency_ms for e in estimates], reference=reference)
    contributions: dict[str, float] = {}
    for candidate in candidates:
        index = next(i for i, e in enumerate(estimates) if e is candidate)
        others = [e for e in estimates if e is not candidate]
        # Dropping a point off the front leaves the hypervolume as it is.
        without = everyone if index not in front else hypervolume(
            [e.accuracy for e in others], [e.latency_ms for e in others], reference=reference
        )
        with_optimistic = hypervolume(
            [e.accuracy for e in others] + [candidate.accuracy],
            [e.latency_ms for e in others] + [candidate.optimistic_latency_ms],
            reference=reference,
        )
        contributions[candidate.sample.id] = max(0.0, with_optimistic - without)
    return contributions


def kernel_usage(session: SearchSession, estimates: list[ArchitectureEstimate]) -> dict[str, float]:
    """The share of the architectures in ``estimates`` that call each kernel."""
    counts: dict[str, int] = {}
    for estimate in estimates:
        for key in session.pool.architecture(estimate.sample.id).weights:
            counts[key] = counts.get(key, 0) + 1
    return {key: count / len(estimates) for key, count in counts.items()}


def next_step(session: SearchSession, key: str, first_look: int) -> int:
    """Trials of kernel ``key``'s next measurement.

    Its first look: one trial where a measured variant with the same anchor block lends it a
    schedule, else ``first_look``. After that, as many trials as it has had, between
    ``first_look`` and one batch: tuning removes about as much per doubling of the trials
    (``bench/tuning_curve.py``), so a kernel is tuned 4 → 8 → 16 → 32, not 16 at a time from
    the start.
    """
    tuner = session.tuner(key)
    if tuner.best_secs is None:
        transfers = tuner.trials == 0 and session.anchor_sibling_secs(tuner.mod) is not None
        return 1 if transfers else first_look
    return max(1, min(session.batch_size, max(first_look, tuner.trials)))


def removable_secs(
    session: SearchSession,
    key: str,
    weight: float,
    optimism: float,
    *,
    step: int | None = None,
    finish_look: int | None = None,
) -> float:
    """Latency that measuring kernel ``key`` could remove from an architecture calling it
    ``weight`` times: weight × estimate × (1 − e^(−optimism·σ)); 0 once it is exhausted.

    Without ``step``, σ is the estimate's own log-space std: how far it could be off, which
    decides which architectures could still reach the front. With ``step`` (where trials are
    shared out between kernels), σ of a measured kernel is what ``step`` more trials were
    measured to remove after the trials it has had: the tuning headroom
    (:func:`~tvm_nacos.cosearch.latency_estimate.headroom_log_std`) before them minus after them. Its
    first batch removed much, the next ones less: 1 → 5 trials ≈ 0.55 in log space, 16 → 32
    ≈ 0.07. With ``finish_look`` as well, an unmeasured kernel is one that the finish would
    measure with ``finish_look`` trials anyway: a first look of ``step`` trials now removes
    only the headroom between the two (0 when ``finish_look`` ≥ ``step``).
    """
    tuner = session.tuner(key)
    if tuner.exhausted:
        return 0.0
    secs, log_std = tuner.predicted_best_secs()
    if step is not None and tuner.best_secs is not None:
        log_std = headroom_log_std(tuner.trials) - headroom_log_std(tuner.trials + step)
    elif step is not None and finish_look is not None:
        log_std = max(0.0, headroom_log_std(finish_look) - headroom_log_std(step))
    return weight * secs * (1.0 - math.exp(-optimism * log_std))


def distinguishing_estimate(
    session: SearchSession, estimate: ArchitectureEstimate, usage: dict[str, float], optimism: float
) -> ArchitectureEstimate:
    """``estimate`` with an optimistic latency that counts only what sets it apart.

    A kernel that every architecture in view calls moves all of them together when it is
    measured: it cannot change which of them form the front. Each kernel's optimism is
    therefore scaled by the share of the architectures in view that do *not* call it
    (``1 - usage``), so common kernels (stem, classifier, shared first blocks) do not make every
    architecture look as if it could still reach the front.
    """
    weights = session.pool.architecture(estimate.sample.id).weights
    slack = sum(
        removable_secs(session, key, weight, optimism) * (1.0 - usage.get(key, 0.0)) for key, weight in weights.items()
    )
    return replace(estimate, optimistic_latency_ms=estimate.latency_ms - slack * 1e3)


def kernel_gains(
    session: SearchSession,
    candidates: list[ArchitectureEstimate],
    value: dict[str, float],
    optimism: float,
    usage: dict[str, float] | None = None,
    first_look: int = 4,
) -> dict[str, float]:
    """Each kernel's share of what measuring the candidates could gain.

    A candidate's value is split over its kernels in proportion to the latency that each
    kernel's next measurement (:func:`next_step`, ``first_look`` trials for a first one) could
    remove (:func:`removable_secs`), scaled by ``1 - usage`` where a
    ``usage`` map (:func:`kernel_usage`) is given: a kernel every architecture in view calls
    gets nothing, since measuring it cannot change which architectures form the front. A kernel
    sums its shares over the candidates that use it.
    """
    gains: dict[str, float] = {}
    for estimate in candidates:
        shares: dict[str, float] = {}
        for key, weight in session.pool.architecture(estimate.sample.id).weights.items():
            distinguishing = 1.0 if usage is None else 1.0 - usage.get(key, 0.0)
            step = next_step(session, key, first_look)
            share = removable_secs(session, key, weight, optimism, step=step) * distinguishing
            if share > 0:
                shares[key] = share
        total = sum(shares.values())
        if total <= 0:
            continue
        for key, share in shares.items():
            gains[key] = gains.get(key, 0.0) + value[estimate.sample.id] * share / total
    return gains


def common_kernel_gains(
    session: SearchSession,
    estimates: list[ArchitectureEstimate],
    usage: dict[str, float],
    optimism: float,
    first_look: int = 4,
    finish_look: int | None = None,
) -> dict[str, float]:
    """What tuning each kernel of the estimated front could add by moving its callers together.

    :func:`kernel_gains` leaves out the share ``usage`` of a kernel's removable latency (what
    all architectures in view share, which cannot change the front's composition). That share
    still lowers every front member that calls the kernel, and with it the final front: the
    gain here is the hypervolume the front gains when each member's latency drops by
    ``usage`` × what the kernel's next step could remove (:func:`removable_secs`), in the
    units of :func:`hypervolume_contributions`.

    ``finish_look``: the trials the finish would give each unmeasured kernel of the front
    anyway (:func:`finish_look`). An unmeasured kernel's first look then gains only what it
    removes beyond that look: nothing while the finish can pay a first look of ``first_look``
    trials for every kernel it still has to measure. The joint search counts these gains only
    when it cannot: counted in full, a front-wide shift outweighs telling architectures apart
    and spends large budgets on one shared kernel.
    """
    if not estimates:
        return {}
    reference = hypervolume_reference(estimates)
    front = [estimates[i] for i in pareto_indices([e.accuracy for e in estimates], [e.latency_ms for e in estimates])]
    accuracies = [e.accuracy for e in front]
    base = hypervolume(accuracies, [e.latency_ms for e in front], reference=reference)
    weights = [session.pool.architecture(e.sample.id).weights for e in front]
    gains: dict[str, float] = {}
    for key in {key for kernels in weights for key in kernels}:
        share = usage.get(key, 0.0)
        step = next_step(session, key, first_look)
        shifted = [
            e.latency_ms
            - (
                removable_secs(session, key, kernels[key], optimism, step=step, finish_look=finish_look) * share * 1e3
                if key in kernels
                else 0.0
            )
            for e, kernels in zip(front, weights, strict=True)
        ]
        gain = hypervolume(accuracies, shifted, reference=reference) - base
        if gain > 0:
            gains[key] = gain
    return gains


def finish_look(missing: int, finish_trials: int, finish_batch: int) -> int:
    """Trials the finish gives each of ``missing`` unmeasured kernels of the front from
    ``finish_trials``: a first look of ``finish_batch`` where they cover it, down to one trial.

    At small budgets they do not: 83 trials, ~24 kernels that every cell of a small
    NAS-Bench-201 subspace shares, one trial each, and a kernel measured once is about e
    (``headroom_log_std(1)``) slower than tuned.
    """
    return max(1, min(finish_batch, finish_trials // max(1, missing)))


def plan_round(gains: dict[str, float], steps: dict[str, int], room: int) -> list[str]:
    """The kernels one round measures: in order of gain per trial (``gains[k] / steps[k]``),
    as many as fit in ``room`` trials; always the first, even if its step does not fit (it is
    then measured with fewer trials)."""
    chosen: list[str] = []
    planned = 0
    for key in sorted(gains, key=lambda k: -gains[k] / steps[k]):
        if chosen and planned + steps[key] > room:
            break
        chosen.append(key)
        planned += steps[key]
    return chosen


def finish_reserve(session: SearchSession, missing: list[list[str]], finish_fraction: float) -> int:
    """Trials the joint search keeps for its finish, given each front member's ``missing``
    (unmeasured) kernels.

    A share ``finish_fraction`` of the budget (of the trials the search expects to spend in
    all, :attr:`~tvm_nacos.cosearch.session.SearchSession.planned_budget`), and at least one trial for each unmeasured
    kernel of the front, so that all of it can be completed, as long as that is at most half
    the budget; else one for each kernel of the member closest to complete (without which the
    front ends empty). Plus, as far as the trials left allow, room for first looks that fail
    at the rate seen so far (Laplace's rule of succession: a few trials without a failure do
    not make failures impossible). When even the trials left cannot complete one member,
    measuring on is all there is. Keeping trials for the closest member only can end a small
    budget with a single complete architecture.
    """
    share = int(session.planned_budget * finish_fraction)
    failure_rate = (session.num_failed + 1) / (session.trials_used + 2)

    def with_margin(kernels: int) -> int:
        return min(kernels + 1 + math.ceil(kernels * failure_rate), session.trials_left) if kernels else 0

    everything = len({key for keys in missing for key in keys})
    closest = min(map(len, missing), default=0)
    if everything <= session.trials_left and with_margin(everything) <= max(share, session.planned_budget // 2):
        return max(share, with_margin(everything))
    return max(share, with_margin(closest) if closest <= session.trials_left else 0)
