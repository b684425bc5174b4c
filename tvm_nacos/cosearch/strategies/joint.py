"""The ``joint`` strategy: the NACOS loop, architecture moves and schedule measurements in one.

It starts from the best-ranked of a broad random sample by accuracy and MACs (what two-stage
knows before it measures anything, for the price of an accuracy estimate and a MAC count per
candidate). Each round makes new architectures from the current front (mutation and
crossover), estimates every architecture's tuned latency from the kernels measured so far and
the shared cost model's predictions for the rest, and spends the next batch on the kernels
whose next step promises the largest gain per trial (:mod:`tvm_nacos.cosearch.gains`), summed
over the architectures that could still reach the front, each weighted by the hypervolume it
could add. Kernels that every architecture in view calls cannot change which of them form the
front: they are tuned in the finish, for the front that is kept. The trials that completing
the whole front needs are kept for the end (up to half the budget).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tvm_nacos.cosearch.gains import (
    common_kernel_gains,
    distinguishing_estimate,
    finish_look,
    finish_reserve,
    hypervolume_contributions,
    kernel_gains,
    kernel_usage,
    next_step,
    plan_round,
    removable_secs,
)
from tvm_nacos.cosearch.objectives import pareto_indices
from tvm_nacos.cosearch.session import ArchitectureEstimate, SearchSession
from tvm_nacos.cosearch.strategies.common import fully_measured, rank_by_proxy, unique_samples
from tvm_nacos.search_space import ArchSample

logger = logging.getLogger(__name__)

__all__ = ["DEFAULT_SEED_SECS", "JointSearch", "run_joint", "run_joint_across_targets"]

#: Seconds the seeding may spend on accuracy estimates (:func:`run_joint`'s ``seed_secs``).
#: Synflow on mobilenet-v2 at 32x32 takes ~0.2 s an architecture in a search: 200 candidates
#: took 39 s of a 240 s search.
DEFAULT_SEED_SECS = 20.0
#: With a time budget, the seeding takes at most this share of it.
SEED_SHARE_OF_TIME_BUDGET = 0.1


@dataclass
class JointSearch:
    """One run of the joint strategy over a session (see :func:`run_joint` for the options).

    The session's ``state["population"]`` holds every architecture looked at, so that a
    resumed run continues from the same population.
    """

    session: SearchSession
    initial_population: int = 16
    seed_candidates: int = 200
    seed_secs: float | None = DEFAULT_SEED_SECS
    children_per_round: int = 4
    optimism: float = 1.0
    finish_fraction: float = 0.25
    finish_batch: int = 4

    def __post_init__(self) -> None:
        if self.seed_candidates < 0:
            raise ValueError(f"seed_candidates must be >= 0 (0: a random start), got {self.seed_candidates!r}")
        if self.seed_secs is not None and not self.seed_secs > 0:
            raise ValueError(f"seed_secs must be positive or None (no limit), got {self.seed_secs!r}")
        self.population: dict[str, ArchSample] = {}

    def _start_population(self) -> dict[str, ArchSample]:
        session = self.session
        if "population" in session.state:
            return {s.id: s for s in map(ArchSample.from_dict, session.state["population"])}
        if self.seed_candidates > 0:
            candidates = unique_samples(session, max(self.seed_candidates, self.initial_population))
            candidates = self._affordable_seeds(candidates)
            start = rank_by_proxy(session, candidates, "macs")[: self.initial_population]
        else:
            start = unique_samples(session, self.initial_population)
        population = {s.id: s for s in start}
        session.state["population"] = [s.to_dict() for s in population.values()]
        return population

    def _affordable_seeds(self, candidates: list[ArchSample]) -> list[ArchSample]:
        """The candidates whose accuracy the seeding can afford: all of them with a quick
        estimator; with a slow one, those estimated in chunks of ``initial_population`` until
        ``seed_secs`` (a tenth of a time budget, if less) have passed, at least two chunks.
        A deterministic session estimates all of them (a limit in seconds would make the start
        depend on the machine's speed)."""
        session = self.session
        limit = self.seed_secs
        if session.trial_budget.max_secs is not None:
            limit = min(limit or math.inf, SEED_SHARE_OF_TIME_BUDGET * session.trial_budget.max_secs)
        if limit is None or session.deterministic:
            return candidates
        chunk = max(1, self.initial_population)
        start, scored = time.perf_counter(), 0
        while scored < len(candidates):
            session.accuracy(candidates[scored:scored + chunk])
            scored = min(len(candidates), scored + chunk)
            if scored >= 2 * chunk and time.perf_counter() - start >= limit:
                break
        secs = time.perf_counter() - start
        if scored < len(candidates):
            logger.info("seeding: accuracy of %d of %d candidates in %.1f s (limit %.1f s: the estimator "
                        "takes %.2f s an architecture)", scored, len(candidates), secs, limit, secs / scored)
        return candidates[:scored]

    # -- what the loop asks of the session -------------------------------------------------------

    def unmeasured(self, estimate: ArchitectureEstimate) -> list[str]:
        """Kernels of ``estimate``'s architecture without a measurement (and not exhausted);
        a kernel whose first batch is in flight is not one."""
        session = self.session
        keys = session.pool.architecture(estimate.sample.id).weights
        return [
            k for k in keys
            if session.tuner(k).best_secs is None and not session.tuner(k).exhausted and not session.busy(k)
        ]

    def estimates(self) -> list[ArchitectureEstimate]:
        """Every architecture of the population, estimated."""
        return [self.session.estimate(s, optimism=self.optimism) for s in self.population.values()]

    def current_front(self) -> list[ArchitectureEstimate]:
        """The non-dominated architectures of the population by their estimates."""
        estimates = self.estimates()
        return [estimates[i] for i in pareto_indices([e.accuracy for e in estimates], [e.latency_ms for e in estimates])]

    def reserve(self, front: list[ArchitectureEstimate]) -> int:
        """Trials kept for the finish, given the current front (:func:`~tvm_nacos.cosearch.gains.finish_reserve`)."""
        return finish_reserve(self.session, [self.unmeasured(e) for e in front], self.finish_fraction)

    # -- the loop --------------------------------------------------------------------------------

    def run(self) -> list[ArchSample]:
        """Rounds while the budget exceeds the finish's reserve, then the finish."""
        session = self.session
        self.population = self._start_population()
        rounds = 0
        front = self.current_front()
        smallest = session.pool.fewest_kernels
        if session.trials_left < smallest:
            logger.warning(
                "%d trials left, fewer than the kernels of any architecture of the first population (%d or more, "
                "each needs a trial): the front will likely be empty", session.trials_left, smallest,
            )
        while session.trials_left > self.reserve(front):
            rounds += 1
            chosen = self.round(rounds)
            if chosen is None:
                break
            front = self.current_front()
            if not chosen:  # every kernel worth measuring is in flight: the next round waits for one
                continue
            logger.info(
                "round %d: %d architectures, %d tasks; measured %s; %d/%d trials; finish: %d trials kept",
                rounds, len(self.population), len(session.pool), ", ".join(session.tuner(k).name for k in chosen),
                session.trials_used, session.budget, self.reserve(front),
            )
        self.finish(self.current_front())
        return fully_measured(session)

    def _add_children(self, front: list[ArchitectureEstimate], estimates: list[ArchitectureEstimate]) -> None:
        """Architecture moves: mutations and crossovers of the current front join the population."""
        session, space, rng = self.session, self.session.space, self.session.rng
        for _ in range(self.children_per_round):
            if len(self.population) >= space.size:
                break
            if len(front) >= 2 and rng.random() < 0.5:
                a, b = rng.choice(len(front), size=2, replace=False)
                child = space.crossover(front[a].sample, front[b].sample, rng)
            else:
                child = space.mutate(front[int(rng.integers(len(front)))].sample, rng)
            if child.id not in self.population:
                self.population[child.id] = child
                session.state["population"].append(child.to_dict())
                estimates.append(session.estimate(child, optimism=self.optimism))

    def round(self, number: int, *, wait: bool = True) -> list[str] | None:
        """One round: new architectures, the kernels worth most per trial, one batch measured.

        Returns the kernels measured, or ``None`` when nothing is worth measuring (or no room
        is left before the finish's reserve). Kernels with a batch in flight are passed over;
        when they are all that is worth measuring, the round waits for a batch to land (unless
        not ``wait``: a search over several targets waits for any of them) and returns an
        empty list.
        """
        session, optimism = self.session, self.optimism
        estimates = self.estimates()
        front = [estimates[i] for i in pareto_indices([e.accuracy for e in estimates], [e.latency_ms for e in estimates])]
        self._add_children(front, estimates)
        # Optimism counts only the kernels that set an architecture apart from the others in
        # view: measuring a kernel that all of them call moves them together.
        usage = kernel_usage(session, estimates)
        estimates = [distinguishing_estimate(session, e, usage, optimism) for e in estimates]
        # Which architectures could still reach the front: not dominated even if optimistic.
        promising = [
            e for e in estimates
            if not any(o.accuracy >= e.accuracy and o.latency_ms < e.optimistic_latency_ms and o is not e for o in estimates)
        ]
        # What measuring each kernel is worth: the hypervolume its architectures could add,
        # shared out over their kernels by the latency each could still remove. Without any
        # hypervolume in reach (all estimates agree), the latency itself decides.
        value = hypervolume_contributions(estimates, promising)
        in_hypervolume = any(value.values())
        if not in_hypervolume:
            value = {e.sample.id: 1.0 for e in promising}
        gains = kernel_gains(session, promising, value, optimism, usage, first_look=self.finish_batch)
        gains = {k: g for k, g in gains.items() if g > 0}
        # Shared kernels wait for the finish, unless it is too small to give each kernel of
        # the front a first look: then a first look now is worth what it lifts the whole
        # front by beyond the finish's smaller look.
        look = finish_look(len({k for e in front for k in self.unmeasured(e)}), self.reserve(front), self.finish_batch)
        if in_hypervolume and look < self.finish_batch:
            common = common_kernel_gains(session, estimates, usage, optimism, first_look=self.finish_batch, finish_look=look)
            for key, gain in common.items():
                gains[key] = gains.get(key, 0.0) + gain
        if session.in_flight_trials:
            gains = {k: g for k, g in gains.items() if not session.busy(k)}
            if not gains:
                if wait:
                    session.wait_for_any()
                return []
        if not gains:
            return None
        # Gain per trial: first looks and further steps compete on what each trial buys. A
        # round spends up to one batch: estimating the population again costs seconds, a
        # trial less than one. No step eats into what the finish needs.
        steps = {k: next_step(session, k, self.finish_batch) for k in gains}
        room = min(session.batch_size, session.trials_left - self.reserve(front))
        if room <= 0:
            return None
        chosen = plan_round(gains, steps, room)
        for key in chosen:
            # A first look is a small batch; one trial where a sibling's schedule transfers.
            tuner = session.tuner(key)
            step = (1 if tuner.transfer_candidate() is not None else self.finish_batch) if tuner.best_secs is None else steps[key]
            limit = min(step, session.trials_left - self.reserve(front))
            if limit <= 0:
                break
            session.measure(key, limit)
        logger.debug("round %d: %d promising, finish look %d", number, len(promising), look)
        return chosen

    def finish(self, front: list[ArchitectureEstimate]) -> None:
        """The last phase: complete the estimated front, then tune what it kept.

        The trials left are shared out as first measurements over every unmeasured kernel of
        the front (at most ``finish_batch`` each), and front members are completed in order of
        the hypervolume they could add per kernel still to measure (while no architecture is
        complete, the one closest to complete goes first); one that the trials left cannot
        complete is passed over for a smaller one, and a kernel whose first look failed is
        looked at again. Trials still left then go, a step at a time, to the measured front's
        kernel whose next step is expected to remove the most latency per trial, summed over
        the architectures using it.
        """
        session, unmeasured = self.session, self.unmeasured
        value = hypervolume_contributions(front, front)
        missing_anywhere = {key for estimate in front for key in unmeasured(estimate)}
        per_kernel = finish_look(len(missing_anywhere), session.trials_left, self.finish_batch)
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
            session.wait_all()  # which first looks failed
        while session.trials_left > 0:
            gains: dict[str, float] = {}  # per trial of each kernel's next step
            for point in session.measured_front():  # architectures with every kernel measured
                for key, weight in session.pool.architecture(point.arch_id).weights.items():
                    if session.tuner(key).best_secs is not None:
                        step = next_step(session, key, self.finish_batch)
                        removable = removable_secs(session, key, weight, self.optimism, step=step)
                        gains[key] = gains.get(key, 0.0) + removable / step
            gains = {k: g for k, g in gains.items() if g > 0 and not session.busy(k)}
            if not gains:
                if session.in_flight_trials:
                    session.wait_for_any()
                    continue
                break
            key = max(gains, key=gains.get)
            if session.measure(key, next_step(session, key, self.finish_batch)) == 0 and not session.tuner(key).exhausted:
                break


def run_joint(
    session: SearchSession,
    *,
    initial_population: int = 16,
    seed_candidates: int = 200,
    seed_secs: float | None = DEFAULT_SEED_SECS,
    children_per_round: int = 4,
    optimism: float = 1.0,
    finish_fraction: float = 0.25,
    finish_batch: int = 4,
    shared_population: bool = True,
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
    seed_secs : float or None
        At most about this long for those accuracy estimates (a tenth of a time budget, if
        less; ``None``: no limit): a slow estimator (a zero-cost proxy takes 0.1-0.8 s an
        architecture, 20-160 s for 200) ranks fewer candidates, estimated in chunks of
        ``initial_population``, at least two. A quick one (a table) ranks all of them, and so
        does a deterministic session.
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
    shared_population : bool
        Several targets only (:func:`run_joint_across_targets`): one population for all targets
        (default) or one per target.
    """
    return JointSearch(
        session, initial_population=initial_population, seed_candidates=seed_candidates, seed_secs=seed_secs,
        children_per_round=children_per_round, optimism=optimism, finish_fraction=finish_fraction,
        finish_batch=finish_batch,
    ).run()


def run_joint_across_targets(
    sessions: Mapping[str, SearchSession], *, poll_secs: float = 0.005, **options: Any
) -> dict[str, list[ArchSample]]:
    """The joint strategy for several targets at once: one exploration of the architectures.

    With ``shared_population`` (the default), the targets share one population: each round of
    each target adds children of *its* front to it (``children_per_round`` shared out over the
    targets, so that the population grows as one search's does), and every target estimates
    every architecture in it. Without, each target breeds its own population, as its own search
    would. Either way accuracy is estimated once per architecture (the sessions share their
    accuracies and specializations). Each target spends its own budget on its
    own kernels, rounds taking turns; a target whose kernels worth measuring are all in flight
    passes its turn, and when every target waits, the first batch to land on any of them ends
    the wait. Each then runs its finish.

    Parameters
    ----------
    sessions : Mapping[str, SearchSession]
        One session per target, by name (the first one's seed sets the start population).
    poll_secs : float
        How often a wait looks at the batches in flight.
    **options
        The options of :func:`run_joint`.

    Returns
    -------
    dict[str, list[ArchSample]]
        The fully measured architectures of each target.
    """
    # Children per round are shared out over the targets: the population grows as one search's
    # does (every target lowers and estimates all of it; a population twice as large spread each
    # target's trials over twice the kernels and completed fewer architectures).
    shared_population = options.pop("shared_population", True)
    children = options.pop("children_per_round", 4)
    per_target = max(1, round(children / max(1, len(sessions)))) if shared_population else children
    searches = {name: JointSearch(session, children_per_round=per_target, **options)
                for name, session in sessions.items()}
    if shared_population:
        population: dict[str, ArchSample] = {}
        for search in searches.values():  # resumed: every target's saved population (they may differ by a round)
            if "population" in search.session.state:
                population.update(search._start_population())
        if not population:
            population = next(iter(searches.values()))._start_population()
        shared = [s.to_dict() for s in population.values()]
        for search in searches.values():
            search.population = population
            search.session.state["population"] = shared
    else:
        for search in searches.values():
            search.population = search._start_population()
    active = dict(searches)
    number = 0
    while active:
        number += 1
        waiting = []
        for name, search in list(active.items()):
            session = search.session
            session.collect()
            if session.trials_left <= search.reserve(search.current_front()):
                del active[name]
                continue
            chosen = search.round(number, wait=False)
            if chosen is None:
                del active[name]
            elif not chosen:
                waiting.append(search)
            else:
                logger.info("%s round %d: measured %s; %d/%d trials", name, number,
                            ", ".join(session.tuner(k).name for k in chosen), session.trials_used, session.budget)
        if waiting and len(waiting) == len(active):
            with waiting[0].session.times.phase("run"):
                while not any(search.session.ready() for search in waiting):
                    time.sleep(poll_secs)
    for search in searches.values():
        search.finish(search.current_front())
    return {name: fully_measured(search.session) for name, search in searches.items()}


run_joint.across_targets = run_joint_across_targets  # type: ignore[attr-defined]
