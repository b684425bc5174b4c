"""NACOSSearchStrategy: MetaSchedule's evolutionary schedule search, made to report what it expects.

Schedule moves are MetaSchedule's own: ``EvolutionarySearch`` mutates traces, guided by the cost
model. What this strategy adds is the bridge to the architecture level: when the cost model is a
:class:`~tvm_nacos.cosearch.cost_model.LatencyCostModel`, every batch it proposes carries the
model's predicted latency (and uncertainty) of each candidate, so the joint search can tell what
measuring this task next would gain for the architectures that use it.

It honours the ``SearchStrategy`` contract as ``EvolutionarySearch`` does, and is checked with
apache/tvm's own tests of it (``tests/meta_schedule/``): it never proposes more than
``max_trials`` in all, proposes full batches (the last one: what is left) while candidates
remain, passes the evolutionary search's empty batches on, and stops when it stops. So it works
in a plain ``ms.tune_tir``, ``ms.tune_tasks`` or ``ms.relax_integration.tune_relax`` session.

It also never proposes a schedule the database already holds. MetaSchedule's evolutionary search
remembers what it measured only within one session, so a resumed search (or a second search on
the same work directory) would measure old candidates again; here the records of the task are
replayed once at ``pre_tuning`` (failed ones included) and every proposal is filtered against
them; what the filter removes is replaced by drawing again.

MetaSchedule's entry points tune clones of the strategy they are given (one per task); the
clones keep every setting, and what they measured is reachable from the object the user passed
(:attr:`NACOSSearchStrategy.clones`, :attr:`NACOSSearchStrategy.trials_measured`).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from tvm.ir.utils import derived_object

from tvm_nacos._compat import meta_schedule, structural_hash, tir_schedule_class
from tvm_nacos.cosearch.cost_model import LatencyCostModel

ms = meta_schedule()

logger = logging.getLogger(__name__)

__all__ = ["NACOSSearchStrategy"]


def _records_of(database: Any, mod: Any) -> list[Any]:
    """Every record of the kernel ``mod`` in ``database``, failed ones included (``get_top_k``
    leaves those out, and a schedule that failed is not worth measuring again either)."""
    if not database.has_workload(mod):
        return []
    workload = database.commit_workload(mod)
    key = int(structural_hash(workload.mod))
    # Records share their workload object: hash each workload once (TVM objects hash by identity).
    same: dict[Any, bool] = {}
    records = list(database.get_all_tuning_records())
    for record in records:
        if record.workload not in same:
            same[record.workload] = record.workload.same_as(workload) or int(structural_hash(record.workload.mod)) == key
    return [r for r in records if same[r.workload]]


@derived_object
class NACOSSearchStrategy(ms.search_strategy.PySearchStrategy):
    """Evolutionary schedule search that exposes predicted latencies of its candidates.

    Parameters
    ----------
    population_size : int
        Population of the evolutionary search (smaller than MetaSchedule's 512: many tasks share
        a small budget here).
    init_min_unmeasured : int
        Random schedules drawn per generation before evolution.
    genetic_num_iters : int
        Evolution rounds per batch.
    eps_greedy : float
        Share of each batch picked at random instead of by the model.
    latency_model : LatencyCostModel, optional
        The model whose predictions to attach to each batch. (The cost model MetaSchedule hands
        to ``pre_tuning`` is an FFI wrapper that hides our Python object, so it is passed here.)
    previous_records : list of TuningRecord, optional
        Every earlier record of this task; by default all the database holds for it, failed
        ones included.
    init_measured_ratio, max_fail_count, genetic_mutate_prob, genetic_max_fail_count
        The other settings of MetaSchedule's ``EvolutionarySearch``, with its defaults.

    Attributes
    ----------
    task_name : str or None
        The task of the tuning context this strategy was given.
    predicted_secs : numpy.ndarray or None
        Predicted run seconds of the last batch proposed, when the cost model can predict them.
    predicted_log_std : numpy.ndarray or None
        Their uncertainty (standard deviation in log space).

    Examples
    --------
    In a MetaSchedule session, with the latency model as its cost model:

    .. code-block:: python

        model = LatencyCostModel()
        strategy = NACOSSearchStrategy(latency_model=model)
        ms.tune_tir(mod, target, work_dir, max_trials_global=64, strategy=strategy, cost_model=model)
        strategy.trials_measured                         # 64, measured by its clone
        {c.task_name: c.predicted_secs for c in strategy.clones}
    """

    def __init__(
        self,
        population_size: int = 64,
        init_min_unmeasured: int = 16,
        genetic_num_iters: int = 2,
        eps_greedy: float = 0.05,
        latency_model: LatencyCostModel | None = None,
        previous_records: list[Any] | None = None,
        *,
        init_measured_ratio: float = 0.2,
        max_fail_count: int = 5,
        genetic_mutate_prob: float = 0.85,
        genetic_max_fail_count: int = 10,
    ) -> None:
        self.latency_model = latency_model
        self.previous_records = previous_records
        self.population_size = population_size
        self.init_measured_ratio = init_measured_ratio
        self.init_min_unmeasured = init_min_unmeasured
        self.max_fail_count = max_fail_count
        self.genetic_num_iters = genetic_num_iters
        self.genetic_mutate_prob = genetic_mutate_prob
        self.genetic_max_fail_count = genetic_max_fail_count
        self.eps_greedy = eps_greedy
        self._inner = ms.search_strategy.EvolutionarySearch(
            population_size=population_size,
            init_measured_ratio=init_measured_ratio,
            init_min_unmeasured=init_min_unmeasured,
            max_fail_count=max_fail_count,
            genetic_num_iters=genetic_num_iters,
            genetic_mutate_prob=genetic_mutate_prob,
            genetic_max_fail_count=genetic_max_fail_count,
            eps_greedy=eps_greedy,
        )
        self._context: Any = None
        self.task_name: str | None = None
        self.predicted_secs: np.ndarray | None = None
        self.predicted_log_std: np.ndarray | None = None
        self._trials_measured = 0
        self._num_skipped = 0
        # Clones register with the strategy the user made, so that it reports what they did.
        self._origin: NACOSSearchStrategy = self
        self._clones: list[NACOSSearchStrategy] = []
        # Per tuning (pre_tuning to post_tuning):
        self._measured: set[int] = set()
        self._max_trials = 0
        self._num_trials_per_iter = 0
        self._trials_notified = 0
        self._spares: list[Any] = []
        self._inner_done = False

    # -- what it reports -------------------------------------------------------------------

    @property
    def clones(self) -> list[NACOSSearchStrategy]:
        """The strategies cloned from this one, and from those, in order (empty on a clone).

        ``ms.tune_tir``, ``ms.tune_tasks`` through ``TuneContext.clone`` and ``tune_relax`` tune
        clones (one per task): their ``task_name``, ``predicted_secs`` and counts are here.
        """
        return list(self._clones)

    @property
    def trials_measured(self) -> int:
        """Candidates whose results came back, here and in every clone of this strategy."""
        return self._trials_measured + sum(c._trials_measured for c in self._clones)

    @property
    def num_skipped(self) -> int:
        """Proposals dropped because the database already held them, here and in every clone."""
        return self._num_skipped + sum(c._num_skipped for c in self._clones)

    # -- the SearchStrategy contract -------------------------------------------------------

    def _initialize_with_tune_context(self, context: Any) -> None:
        self._context = context
        self.task_name = None if context.task_name is None else str(context.task_name)
        self._inner._initialize_with_tune_context(context)

    def pre_tuning(
        self,
        max_trials: int,
        num_trials_per_iter: int,
        design_spaces: list[Any],
        database: Any = None,
        cost_model: Any = None,
    ) -> None:
        self._inner.pre_tuning(max_trials, num_trials_per_iter, design_spaces, database, cost_model)
        self._max_trials = int(max_trials)
        self._num_trials_per_iter = int(num_trials_per_iter)
        self._trials_notified = 0
        self._spares = []
        self._inner_done = False
        self._measured = set()
        records = self.previous_records
        if records is None and database is not None and self._context is not None:
            records = _records_of(database, self._context.mod)
        if records:
            schedule_class = tir_schedule_class()
            for record in records:
                sch = schedule_class(record.workload.mod)
                try:
                    record.trace.apply_to_schedule(sch, remove_postproc=False)
                except Exception:
                    continue  # a record this TVM cannot replay: it cannot be proposed again either
                self._measured.add(int(structural_hash(sch.mod)))

    def post_tuning(self) -> None:
        self._spares = []
        self._inner.post_tuning()

    def generate_measure_candidates(self) -> list[Any] | None:
        """The next batch: ``None`` when done, ``[]`` when the evolutionary search found
        nothing new this time (it stops after a few of those).

        At most what is left of ``max_trials``, and as many as the evolutionary search proposes
        (a full batch unless it runs short); proposals the database already held are replaced
        by drawing again.
        """
        left = self._max_trials - self._trials_notified
        if left <= 0:
            return None
        want = min(self._num_trials_per_iter, left)
        spares = self._fresh(self._spares)
        batch, self._spares = spares[:want], spares[want:]
        batch, stop = self._draw(batch, want)
        if stop and not batch:
            return None
        self.predicted_secs = self.predicted_log_std = None
        if batch and self.latency_model is not None and self.latency_model.is_trained:
            self.predicted_secs, self.predicted_log_std = self.latency_model.predict_secs(self._context, batch)
        return batch

    def _draw(self, batch: list[Any], want: int) -> tuple[list[Any], bool]:
        """Fill ``batch`` towards ``want`` from the evolutionary search; also whether it is done.

        The evolutionary search samples what is left of the trials on its first draw per batch,
        as it would alone; a draw made only to replace filtered proposals may sample more, and
        the rest is kept for the next batch (the search never proposes a schedule twice).
        """
        # A draw is repeated only when the previous one proposed schedules the database held,
        # and the evolutionary search never proposes a schedule twice: at most len(_measured)
        # repeats.
        for draw in range(1 + len(self._measured)):
            if len(batch) >= want or self._inner_done:
                break
            proposal = self._inner.generate_measure_candidates()
            if proposal is None:
                self._inner_done = True
                break
            proposal = list(proposal)
            fresh = self._fresh(proposal)
            room = want - len(batch)
            batch = batch + fresh[:room]
            self._spares.extend(fresh[room:])
            if len(fresh) == len(proposal):
                break  # nothing filtered: the evolutionary search's own batch, short or empty
            logger.debug("%s: %d of %d proposals measured before (draw %d)",
                         self.task_name, len(proposal) - len(fresh), len(proposal), draw)
        return batch, self._inner_done and not self._spares

    def _fresh(self, candidates: list[Any]) -> list[Any]:
        """``candidates`` without those measured before."""
        if not candidates or not self._measured:
            return list(candidates)
        fresh = [c for c in candidates if int(structural_hash(c.sch.mod)) not in self._measured]
        self._num_skipped += len(candidates) - len(fresh)
        return fresh

    def notify_runner_results(self, measure_candidates: list[Any], results: list[Any]) -> None:
        self._measured.update(int(structural_hash(c.sch.mod)) for c in measure_candidates)
        self._trials_measured += len(results)
        self._trials_notified += len(results)
        self._inner.notify_runner_results(measure_candidates, results)

    def clone(self) -> NACOSSearchStrategy:
        copy = NACOSSearchStrategy(
            self.population_size,
            self.init_min_unmeasured,
            self.genetic_num_iters,
            self.eps_greedy,
            self.latency_model,
            self.previous_records,
            init_measured_ratio=self.init_measured_ratio,
            max_fail_count=self.max_fail_count,
            genetic_mutate_prob=self.genetic_mutate_prob,
            genetic_max_fail_count=self.genetic_max_fail_count,
        )
        copy._origin = self._origin
        self._origin._clones.append(copy)
        return copy
