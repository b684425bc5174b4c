"""Search strategies: the NACOS joint search and the baselines it is compared with.

All of them spend the same kind of budget (measured schedule candidates) through one
:class:`~tvm_nacos.cosearch.session.SearchSession`, and return the architectures whose kernels
were all measured; :func:`tvm_nacos.cosearch.api.search` then measures the front end to end.

- ``joint``: one loop over architectures and schedules. It starts from the best-ranked of a
  broad random sample by accuracy and MACs (what two-stage knows before it measures anything,
  for the price of an accuracy estimate and a MAC count per candidate). Each round makes new
  architectures from the current front (mutation and crossover), estimates every
  architecture's tuned latency from the kernels measured so far and the shared cost model's
  predictions for the rest, and spends the next batch on the kernels whose next step promises
  the largest gain per trial, summed over the architectures that could still reach the front,
  each weighted by the hypervolume it could add (so both ends of the front get measured, not
  only the fastest architectures). A step is a first look of a few trials, then as many trials
  as the kernel has had (tuning removes about as much per doubling). Only what sets
  architectures apart counts: a kernel that every architecture in view calls (the stem, the
  classifier) moves them all together, so it cannot change which of them form the front, and
  it is tuned in the finish, for the front that is kept. Where the finish is too small to give
  each kernel of the front a first look (small budgets, or fronts of many kernels), a first
  look now is also worth what lowering the whole front by the latency it removes beyond the
  finish's smaller look adds to the hypervolume. The trials that completing the whole front
  needs are kept for the end (up to half the budget).
- ``two-stage``: hardware-aware NAS as practitioners run it. Rank candidates by a latency the
  compiler did not tune (MACs, untuned TVM latency, or PyTorch eager latency), keep the
  accuracy–proxy front in order of non-dominated rank, then tune those architectures one after
  the other with the budget.
- ``random``: random architectures, each tuned in full, until the budget is spent.
- ``exhaustive``: every architecture of a small space, in order.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import replace

from tvm_nacos.cosearch.latency_proxies import TWO_STAGE_PROXIES, count_macs
from tvm_nacos.cosearch.objectives import hypervolume, pareto_indices
from tvm_nacos.cosearch.session import ArchitectureEstimate, SearchSession, headroom_log_std
from tvm_nacos.search_space import ArchSample

logger = logging.getLogger(__name__)

__all__ = ["STRATEGIES", "TWO_STAGE_PROXIES", "run_exhaustive", "run_joint", "run_random", "run_two_stage"]

#: Trials per kernel when a baseline tunes an architecture in full.
DEFAULT_TRIALS_PER_TASK = 16


def _fully_measured(session: SearchSession) -> list[ArchSample]:
    return [
        arch.sample
        for arch in session.pool.architectures.values()
        if all(key in session.tuners and session.tuners[key].best_secs is not None for key in arch.weights)
    ]


def _unique_samples(session: SearchSession, count: int) -> list[ArchSample]:
    if session.space.size <= count:
        return list(session.space.enumerate())
    seen: dict[str, ArchSample] = {}
    for _ in range(20 * count):  # bounded: the space is larger than count
        sample = session.space.sample(session.rng)
        seen.setdefault(sample.id, sample)
        if len(seen) == count:
            break
    return list(seen.values())


def run_random(session: SearchSession, *, trials_per_task: int = DEFAULT_TRIALS_PER_TASK) -> list[ArchSample]:
    """Tune random architectures in full until the budget is spent."""
    # ``session.state["seen"]``: the architectures drawn so far, in order (restored on resume,
    # when the last of them may be half tuned).
    drawn = session.state.setdefault("seen", [])
    seen = {ArchSample.from_dict(d).id for d in drawn}
    for data in list(drawn):
        if session.trials_left <= 0:
            break
        session.tune_architecture_tasks(ArchSample.from_dict(data), trials_per_task)
    stalled = 0
    while session.trials_left > 0 and len(seen) < session.space.size and stalled < 100:
        sample = session.space.sample(session.rng)
        if sample.id in seen:
            stalled += 1
            continue
        seen.add(sample.id)
        drawn.append(sample.to_dict())
        session.tune_architecture_tasks(sample, trials_per_task)
    return _fully_measured(session)


def run_exhaustive(session: SearchSession, *, trials_per_task: int = DEFAULT_TRIALS_PER_TASK) -> list[ArchSample]:
    """Tune every architecture of the space, in enumeration order, as far as the budget goes."""
    for sample in session.space.enumerate():
        if session.trials_left <= 0:
            break
        session.tune_architecture_tasks(sample, trials_per_task)
    return _fully_measured(session)


def _rank_by_proxy(session: SearchSession, candidates: list[ArchSample], proxy: str) -> list[ArchSample]:
    """``candidates`` in order of non-dominated rank on (accuracy, ``proxy``), the best first."""
    accuracy = session.accuracy(candidates)
    values = TWO_STAGE_PROXIES[proxy](session, candidates)
    remaining = list(range(len(candidates)))
    order: list[int] = []
    while remaining:  # peel off non-dominated fronts of (accuracy, proxy)
        front = pareto_indices([accuracy[i] for i in remaining], [values[i] for i in remaining])
        order.extend(remaining[i] for i in front)
        front_set = {remaining[i] for i in front}
        remaining = [i for i in remaining if i not in front_set]
    return [candidates[i] for i in order]


def run_two_stage(
    session: SearchSession,
    *,
    proxy: str = "macs",
    num_candidates: int = 200,
    trials_per_task: int = DEFAULT_TRIALS_PER_TASK,
) -> list[ArchSample]:
    """Rank by an untuned latency proxy, then tune the proxy's front in order of rank."""
    if proxy not in TWO_STAGE_PROXIES:
        raise ValueError(f"unknown two-stage proxy {proxy!r}; valid: {sorted(TWO_STAGE_PROXIES)}")
    # ``session.state["order"]``: the ranked plan (restored on resume, not ranked again).
    if "order" not in session.state:
        ranked = _rank_by_proxy(session, _unique_samples(session, num_candidates), proxy)
        session.state["order"] = [s.to_dict() for s in ranked]
    for data in session.state["order"]:
        if session.trials_left <= 0:
            break
        session.tune_architecture_tasks(ArchSample.from_dict(data), trials_per_task)
    return _fully_measured(session)


def _hypervolume_reference(estimates: list[ArchitectureEstimate]) -> tuple[float, float]:
    """The joint search's hypervolume reference: the lowest accuracy and 1.1 × the highest
    latency in view."""
    return min(e.accuracy for e in estimates), 1.1 * max(e.latency_ms for e in estimates)


def _hypervolume_contributions(
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
    reference = _hypervolume_reference(estimates)
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


def _kernel_usage(session: SearchSession, estimates: list[ArchitectureEstimate]) -> dict[str, float]:
    """The share of the architectures in ``estimates`` that call each kernel."""
    counts: dict[str, int] = {}
    for estimate in estimates:
        for key in session.pool.architectures[estimate.sample.id].weights:
            counts[key] = counts.get(key, 0) + 1
    return {key: count / len(estimates) for key, count in counts.items()}


def _next_step(session: SearchSession, key: str, first_look: int) -> int:
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


def _removable_secs(
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
    (:func:`~tvm_nacos.cosearch.session.headroom_log_std`) before them minus after them. Its
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


def _distinguishing_estimate(
    session: SearchSession, estimate: ArchitectureEstimate, usage: dict[str, float], optimism: float
) -> ArchitectureEstimate:
    """``estimate`` with an optimistic latency that counts only what sets it apart.

    A kernel that every architecture in view calls moves all of them together when it is
    measured: it cannot change which of them form the front. Each kernel's optimism is
    therefore scaled by the share of the architectures in view that do *not* call it
    (``1 - usage``), so common kernels (stem, classifier, shared first blocks) do not make every
    architecture look as if it could still reach the front.
    """
    weights = session.pool.architectures[estimate.sample.id].weights
    slack = sum(
        _removable_secs(session, key, weight, optimism) * (1.0 - usage.get(key, 0.0)) for key, weight in weights.items()
    )
    return replace(estimate, optimistic_latency_ms=estimate.latency_ms - slack * 1e3)


def _kernel_gains(
    session: SearchSession,
    candidates: list[ArchitectureEstimate],
    value: dict[str, float],
    optimism: float,
    usage: dict[str, float] | None = None,
    first_look: int = 4,
) -> dict[str, float]:
    """Each kernel's share of what measuring the candidates could gain.

    A candidate's value is split over its kernels in proportion to the latency that each
    kernel's next measurement (:func:`_next_step`, ``first_look`` trials for a first one) could
    remove (:func:`_removable_secs`), scaled by ``1 - usage`` where a
    ``usage`` map (:func:`_kernel_usage`) is given: a kernel every architecture in view calls
    gets nothing, since measuring it cannot change which architectures form the front. A kernel
    sums its shares over the candidates that use it.
    """
    gains: dict[str, float] = {}
    for estimate in candidates:
        shares: dict[str, float] = {}
        for key, weight in session.pool.architectures[estimate.sample.id].weights.items():
            distinguishing = 1.0 if usage is None else 1.0 - usage.get(key, 0.0)
            step = _next_step(session, key, first_look)
            share = _removable_secs(session, key, weight, optimism, step=step) * distinguishing
            if share > 0:
                shares[key] = share
        total = sum(shares.values())
        if total <= 0:
            continue
        for key, share in shares.items():
            gains[key] = gains.get(key, 0.0) + value[estimate.sample.id] * share / total
    return gains


def _common_kernel_gains(
    session: SearchSession,
    estimates: list[ArchitectureEstimate],
    usage: dict[str, float],
    optimism: float,
    first_look: int = 4,
    finish_look: int | None = None,
) -> dict[str, float]:
    """What tuning each kernel of the estimated front could add by moving its callers together.

    :func:`_kernel_gains` leaves out the share ``usage`` of a kernel's removable latency (what
    all architectures in view share, which cannot change the front's composition). That share
    still lowers every front member that calls the kernel, and with it the final front: the
    gain here is the hypervolume the front gains when each member's latency drops by
    ``usage`` × what the kernel's next step could remove (:func:`_removable_secs`), in the
    units of :func:`_hypervolume_contributions`.

    ``finish_look``: the trials the finish would give each unmeasured kernel of the front
    anyway (:func:`_finish_look`). An unmeasured kernel's first look then gains only what it
    removes beyond that look: nothing while the finish can pay a first look of ``first_look``
    trials for every kernel it still has to measure. The joint search counts these gains only
    when it cannot: counted in full at 500 trials, a front-wide shift outweighed telling
    architectures apart (mobilenet-v2: up to 94 trials on one shared kernel, one seed of three
    behind two-stage).
    """
    if not estimates:
        return {}
    reference = _hypervolume_reference(estimates)
    front = [estimates[i] for i in pareto_indices([e.accuracy for e in estimates], [e.latency_ms for e in estimates])]
    accuracies = [e.accuracy for e in front]
    base = hypervolume(accuracies, [e.latency_ms for e in front], reference=reference)
    weights = [session.pool.architectures[e.sample.id].weights for e in front]
    gains: dict[str, float] = {}
    for key in {key for kernels in weights for key in kernels}:
        share = usage.get(key, 0.0)
        step = _next_step(session, key, first_look)
        shifted = [
            e.latency_ms
            - (
                _removable_secs(session, key, kernels[key], optimism, step=step, finish_look=finish_look) * share * 1e3
                if key in kernels
                else 0.0
            )
            for e, kernels in zip(front, weights)
        ]
        gain = hypervolume(accuracies, shifted, reference=reference) - base
        if gain > 0:
            gains[key] = gain
    return gains


def _finish_look(missing: int, finish_trials: int, finish_batch: int) -> int:
    """Trials the finish gives each of ``missing`` unmeasured kernels of the front from
    ``finish_trials``: a first look of ``finish_batch`` where they cover it, down to one trial.

    At small budgets they do not: 83 trials, ~24 kernels that every cell of a small
    NAS-Bench-201 subspace shares, one trial each, and a kernel measured once is about e
    (``headroom_log_std(1)``) slower than tuned.
    """
    return max(1, min(finish_batch, finish_trials // max(1, missing)))


def _plan_round(gains: dict[str, float], steps: dict[str, int], room: int) -> list[str]:
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


def _finish_reserve(session: SearchSession, missing: list[list[str]], finish_fraction: float) -> int:
    """Trials the joint search keeps for its finish, given each front member's ``missing``
    (unmeasured) kernels.

    A share ``finish_fraction`` of the budget, and at least one trial for each unmeasured
    kernel of the front, so that all of it can be completed, as long as that is at most half
    the budget; else one for each kernel of the member closest to complete (without which the
    front ends empty). Plus, as far as the trials left allow, room for first looks that fail
    at the rate seen so far (Laplace's rule of succession: a few trials without a failure do
    not make failures impossible). When even the trials left cannot complete one member,
    measuring on is all there is. Keeping trials for the closest member only left the
    81-cell subspace benchmark (83 trials) with one complete architecture on one seed of six,
    before and after :func:`_finish_look` (54 and 58 % of the exhaustive hypervolume).
    """
    share = int(session.budget * finish_fraction)
    failure_rate = (session.num_failed + 1) / (session.trials_used + 2)

    def with_margin(kernels: int) -> int:
        return min(kernels + 1 + math.ceil(kernels * failure_rate), session.trials_left) if kernels else 0

    everything = len({key for keys in missing for key in keys})
    closest = min(map(len, missing), default=0)
    if everything <= session.trials_left and with_margin(everything) <= max(share, session.budget // 2):
        return max(share, with_margin(everything))
    return max(share, with_margin(closest) if closest <= session.trials_left else 0)


def run_joint(
    session: SearchSession,
    *,
    initial_population: int = 16,
    seed_candidates: int = 200,
    children_per_round: int = 4,
    optimism: float = 1.0,
    finish_fraction: float = 0.25,
    finish_batch: int = 4,
) -> list[ArchSample]:
    """The NACOS loop: architecture moves and schedule measurements in one loop.

    Parameters
    ----------
    session : SearchSession
    initial_population : int
        Architectures to start from.
    seed_candidates : int
        Random architectures ranked as two-stage ranks them (non-dominated fronts of accuracy
        and MACs); the search starts from the best ``initial_population`` of them. It costs an
        accuracy estimate and a MAC count per candidate, no measurement. ``0``: start from
        ``initial_population`` random architectures.
    children_per_round : int
        New architectures (mutations and crossovers of the current front) per round.
    optimism : float
        How many standard deviations below its estimate a kernel could still go; drives both
        which architectures count as promising and the gain of measuring a kernel.
    finish_fraction : float
        Share of the budget kept to measure the unmeasured kernels of the final front (more
        when completing the estimated front needs more, up to half the budget); what that
        leaves over tunes the completed front further.
    finish_batch : int
        Candidates per unmeasured kernel in that last phase (a first measurement, not a tuning).
    """
    if seed_candidates < 0:
        raise ValueError(f"seed_candidates must be >= 0 (0: a random start), got {seed_candidates!r}")
    space, rng = session.space, session.rng
    # ``session.state["population"]``: every architecture looked at (restored on resume).
    if "population" in session.state:
        population = {s.id: s for s in map(ArchSample.from_dict, session.state["population"])}
    else:
        if seed_candidates > 0:
            ranked = _rank_by_proxy(session, _unique_samples(session, max(seed_candidates, initial_population)), "macs")
            start = ranked[:initial_population]
        else:
            start = _unique_samples(session, initial_population)
        population = {s.id: s for s in start}
        session.state["population"] = [s.to_dict() for s in population.values()]

    def unmeasured(estimate: ArchitectureEstimate) -> list[str]:
        keys = session.pool.architectures[estimate.sample.id].weights
        return [k for k in keys if session.tuner(k).best_secs is None and not session.tuner(k).exhausted]

    def current_front() -> list[ArchitectureEstimate]:
        estimates = [session.estimate(s, optimism=optimism) for s in population.values()]
        return [estimates[i] for i in pareto_indices([e.accuracy for e in estimates], [e.latency_ms for e in estimates])]

    def reserve(front: list[ArchitectureEstimate]) -> int:
        return _finish_reserve(session, [unmeasured(e) for e in front], finish_fraction)

    rounds = 0
    front = current_front()
    while session.trials_left > reserve(front):
        rounds += 1
        estimates = [session.estimate(s, optimism=optimism) for s in population.values()]
        front = [estimates[i] for i in pareto_indices([e.accuracy for e in estimates], [e.latency_ms for e in estimates])]
        # Architecture moves: children of the current front.
        for _ in range(children_per_round):
            if len(population) >= space.size:
                break
            if len(front) >= 2 and rng.random() < 0.5:
                a, b = rng.choice(len(front), size=2, replace=False)
                child = space.crossover(front[a].sample, front[b].sample, rng)
            else:
                child = space.mutate(front[int(rng.integers(len(front)))].sample, rng)
            if child.id not in population:
                population[child.id] = child
                session.state["population"].append(child.to_dict())
                estimates.append(session.estimate(child, optimism=optimism))
        # Optimism counts only the kernels that set an architecture apart from the others in
        # view: measuring a kernel that all of them call moves them together (it is tuned in
        # the finish, for the front that is kept).
        usage = _kernel_usage(session, estimates)
        estimates = [_distinguishing_estimate(session, e, usage, optimism) for e in estimates]
        # Which architectures could still reach the front: not dominated even if optimistic.
        promising = [
            e for e in estimates
            if not any(o.accuracy >= e.accuracy and o.latency_ms < e.optimistic_latency_ms and o is not e for o in estimates)
        ]
        # What measuring each kernel is worth: the hypervolume its architectures could add,
        # shared out over their kernels by the latency each could still remove. Without any
        # hypervolume in reach (all estimates agree), the latency itself decides.
        value = _hypervolume_contributions(estimates, promising)
        in_hypervolume = any(value.values())
        if not in_hypervolume:
            value = {e.sample.id: 1.0 for e in promising}
        gains = _kernel_gains(session, promising, value, optimism, usage, first_look=finish_batch)
        gains = {k: g for k, g in gains.items() if g > 0}
        # Shared kernels wait for the finish, unless it is too small to give each kernel of
        # the front a first look: then a first look now is worth what it lifts the whole
        # front by beyond the finish's smaller look (the same hypervolume unit), and a
        # further step on a measured one what that step lifts it by.
        look = _finish_look(len({k for e in front for k in unmeasured(e)}), reserve(front), finish_batch)
        if in_hypervolume and look < finish_batch:
            common = _common_kernel_gains(session, estimates, usage, optimism, first_look=finish_batch, finish_look=look)
            for key, gain in common.items():
                gains[key] = gains.get(key, 0.0) + gain
        if not gains:
            break
        # Gain per trial: a first look of a few trials and a further step on a measured kernel
        # compete on what each trial buys. A round spends up to one batch, on the kernels with
        # the most gain per trial: estimating the population again costs seconds, a trial less
        # than one. No step eats into what the finish needs.
        steps = {k: _next_step(session, k, finish_batch) for k in gains}
        room = min(session.batch_size, session.trials_left - reserve(front))
        if room <= 0:
            break
        chosen = _plan_round(gains, steps, room)
        for key in chosen:
            # A kernel's first look is a small batch: enough to replace the prior by a
            # measurement; one trial where the best schedule of a variant with the same anchor
            # block transfers.
            tuner = session.tuner(key)
            step = (1 if tuner.transfer_candidate() is not None else finish_batch) if tuner.best_secs is None else steps[key]
            limit = min(step, session.trials_left - reserve(front))
            if limit <= 0:
                break
            session.measure(key, limit)
        front = current_front()
        logger.info(
            "round %d: %d architectures, %d promising, %d tasks; measured %s; %d/%d trials; finish: %d trials kept, "
            "look %d",
            rounds, len(population), len(promising), len(session.pool),
            ", ".join(session.tuner(k).name for k in chosen), session.trials_used, session.budget, reserve(front), look,
        )
    _finish_front(session, current_front(), unmeasured, finish_batch=finish_batch, optimism=optimism)
    return _fully_measured(session)


def _finish_front(
    session: SearchSession,
    front: list[ArchitectureEstimate],
    unmeasured: Callable[[ArchitectureEstimate], list[str]],
    *,
    finish_batch: int,
    optimism: float,
) -> None:
    """The joint search's last phase: complete the estimated front, then tune what it kept.

    The trials left are shared out as first measurements over every unmeasured kernel of the
    front (at most ``finish_batch`` each), and front members are completed in order of the
    hypervolume they could add per kernel still to measure (while no architecture is
    complete, the one closest to complete goes first); one that the trials left cannot
    complete is passed over for a smaller one, and a kernel whose first look failed is looked
    at again. Trials still left then go, a step at a time (:func:`_next_step`), to the measured
    front's kernel whose next step is expected to remove the most latency per trial, summed
    over the architectures using it (:func:`_removable_secs`).
    """
    value = _hypervolume_contributions(front, front)
    missing_anywhere = {key for estimate in front for key in unmeasured(estimate)}
    per_kernel = _finish_look(len(missing_anywhere), session.trials_left, finish_batch)
    order = sorted(front, key=lambda e: -value.get(e.sample.id, 0.0) / max(1, len(unmeasured(e))))
    if order and not session.measured_front():
        # Nothing complete yet: the member closest to complete goes first, so that a tight
        # finish (a small budget, failed first looks) still ends with a measured front.
        closest = min(order, key=lambda e: len(unmeasured(e)))
        order = [closest] + [e for e in order if e is not closest]
    spent = 1
    while spent and session.trials_left > 0:  # again while a kernel's first look failed
        spent = 0
        for estimate in order:
            missing = unmeasured(estimate)
            if not missing or session.trials_left < len(missing):
                continue
            for key in missing:  # one trial where a schedule transfers from the same anchor block
                transfer = session.tuner(key).transfer_candidate() is not None
                spent += session.measure(key, 1 if transfer else per_kernel)
    while session.trials_left > 0:
        gains: dict[str, float] = {}  # per trial of each kernel's next step
        for point in session.measured_front():  # architectures with every kernel measured
            for key, weight in session.pool.architectures[point.arch_id].weights.items():
                if session.tuner(key).best_secs is not None:
                    step = _next_step(session, key, finish_batch)
                    removable = _removable_secs(session, key, weight, optimism, step=step)
                    gains[key] = gains.get(key, 0.0) + removable / step
        gains = {k: g for k, g in gains.items() if g > 0}
        if not gains:
            break
        key = max(gains, key=gains.get)
        if session.measure(key, _next_step(session, key, finish_batch)) == 0 and not session.tuner(key).exhausted:
            break


STRATEGIES: dict[str, Callable[..., list[ArchSample]]] = {
    "joint": run_joint,
    "two-stage": run_two_stage,
    "random": run_random,
    "exhaustive": run_exhaustive,
}
