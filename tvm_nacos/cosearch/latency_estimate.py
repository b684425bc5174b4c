"""What the search expects a kernel's tuned latency to be before (and while) it is measured.

A kernel's estimate comes from the first of: its own best measurement; the best measurement
of a kernel with the same anchor block (:class:`AnchorSchedules`); the shared cost model's
best prediction over a batch already proposed for it; a FLOP prior fitted on the kernels
measured so far (:class:`FlopPrior`). Each estimate carries a log-space standard deviation,
which the joint search reads as the headroom tuning may still remove.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import tvm

from tvm_nacos._compat import find_anchor_block, meta_schedule, structural_hash
from tvm_nacos.tuning.database import mean_run_secs, transfer_schedule

if TYPE_CHECKING:
    from tvm_nacos.cosearch.session import TaskTuner

ms = meta_schedule()

__all__ = [
    "HEADROOM_LOG_STD",
    "SIBLING_LOG_STD",
    "TUNED_LOG_STD",
    "AnchorSchedules",
    "FlopPrior",
    "KernelLatencyEstimate",
    "headroom_log_std",
    "tuned_log_std",
]

#: Log-space headroom the search assumes left in a kernel measured with one batch ...
TUNED_LOG_STD = 0.3
#: ... and the headroom measured on tuning logs after one trial (``bench/tuning_curve.py``).
HEADROOM_LOG_STD = 1.0
#: Log-space std of an unmeasured kernel estimated by a measured sibling (same anchor block).
SIBLING_LOG_STD = 0.3
#: Added to the cost model's own spread: its predictions rank well but are biased per kernel.
COST_MODEL_EXTRA_LOG_STD = 0.3


def tuned_log_std(trials: int, batch_size: int) -> float:
    """The log-space headroom the joint search assumes left in a kernel after ``trials``
    measurements: :data:`TUNED_LOG_STD` / √(1 + trials / batch_size).

    ``bench/tuning_curve.py`` measures two to four times this on real tuning logs. Assuming
    that much (1/√n) made the joint search spread a small budget over too many architectures:
    this is an exploration setting of the acquisition, not a calibrated uncertainty.
    """
    return TUNED_LOG_STD / math.sqrt(1 + trials / batch_size)


def headroom_log_std(trials: int) -> float:
    """What tuning a kernel further was measured to remove after ``trials`` trials, in log
    space: :data:`HEADROOM_LOG_STD` / √trials.

    ``bench/tuning_curve.py`` on this project's tuning logs (2-core CPU, 26 kernels tuned to
    ≥ 64 trials): log(best of n / best of 64) has median 1.15 / 0.54 / 0.40 / 0.21 / 0.09 after
    1 / 4 / 8 / 16 / 32 trials.
    """
    return HEADROOM_LOG_STD / math.sqrt(max(1, trials))


class FlopPrior:
    """Latency of an unmeasured kernel from its FLOPs: a line of log latency against log FLOPs.

    Fitted by least squares over the kernels measured so far (refitted when their number
    changes), its residual spread as the std. Before three kernels are measured:
    ``flop / 20 GFLOP/s + 5 µs`` with std 1.
    """

    #: Throughput and fixed per-call cost assumed before anything is measured, and their std.
    PRIOR_GFLOPS = 20.0
    PRIOR_OVERHEAD_SECS = 5e-6
    PRIOR_LOG_STD = 1.0
    #: Latency grows with work: the fitted slope is kept in this physical range.
    MIN_SLOPE, MAX_SLOPE = 0.1, 1.5

    def __init__(self) -> None:
        self._fit: tuple[int, float, float, float] | None = None

    def __call__(self, flop: float, measured: Sequence[tuple[float, float]]) -> tuple[float, float]:
        """Seconds and log-space std for a kernel of ``flop`` FLOPs, given the ``(flop, best
        seconds)`` of the measured kernels."""
        if len(measured) < 3:
            return flop / (self.PRIOR_GFLOPS * 1e9) + self.PRIOR_OVERHEAD_SECS, self.PRIOR_LOG_STD
        if self._fit is None or self._fit[0] != len(measured):
            x = np.log([m[0] for m in measured])
            y = np.log([m[1] for m in measured])
            # "Proportional to FLOPs" when the measured kernels span too few sizes to fit a slope.
            slope = float(np.polyfit(x, y, 1)[0]) if np.ptp(x) >= 1.0 else 1.0
            slope = min(max(slope, self.MIN_SLOPE), self.MAX_SLOPE)
            intercept = float(np.mean(y - slope * x))
            spread = float(np.std(y - (intercept + slope * x)))
            self._fit = (len(measured), slope, intercept, max(0.3, spread))
        _, slope, intercept, spread = self._fit
        log_secs = min(max(intercept + slope * math.log(max(flop, 1.0)), -30.0), 5.0)
        return math.exp(log_secs), spread


class AnchorSchedules:
    """The best schedule of every measured kernel, keyed by its anchor block (conv or matmul).

    Fused variants of one convolution (with or without a residual add, another bias or
    activation) share the anchor block: a measured variant's latency estimates an unmeasured
    one, and its schedule, re-applied by MetaSchedule's anchor-trace transfer, gives it a
    first candidate (``MetaScheduleApplyDatabase`` uses the same ``anchor-block`` equality).
    In memory; rebuilt from the tuning database on resume.

    Attributes
    ----------
    transfers : dict
        Kernel key → mean run seconds of its transferred first schedule where that schedule
        cannot be a database record (its trace does not replay on the kernel alone); ``None``
        where it failed. Saved with the checkpoint.
    num_transfers : int
        Transferred first schedules that ran.
    """

    def __init__(self, target: tvm.target.Target) -> None:
        self.target = target
        self.database = ms.database.MemoryDatabase(module_equality="anchor-block")
        #: Bumped whenever a kernel's best schedule is offered to its siblings.
        self.version = 0
        self._sibling_cache: dict[int, tuple[int, float | None]] = {}
        #: id(module) → (the module, kept alive so that its id is not reused; its structural hash).
        self._hash_by_object: dict[int, tuple[tvm.IRModule, int]] = {}
        self.transfers: dict[str, float | None] = {}
        self.num_transfers = 0

    def share(self, mod: tvm.IRModule, trace: Any, run_secs: Iterable[Any], args_info: Any) -> None:
        """Offer a kernel's (new best) schedule to the other kernels with its anchor block."""
        if find_anchor_block(mod) is None:
            return  # elementwise and reduction kernels are tuned as they are
        self.version += 1
        workload = self.database.commit_workload(mod)
        self.database.commit_tuning_record(
            ms.database.TuningRecord(trace, workload, [float(s) for s in run_secs], self.target, args_info)
        )

    def sibling_secs(self, mod: tvm.IRModule) -> float | None:
        """Best run seconds of a measured kernel with ``mod``'s anchor block, or ``None``
        (cached per :attr:`version`)."""
        key = self._hash(mod)
        cached = self._sibling_cache.get(key)
        if cached is not None and cached[0] == self.version:
            return cached[1]
        secs = None
        if find_anchor_block(mod) is not None and self.database.has_workload(mod):
            record = self.database.query_tuning_record(mod, self.target, workload_name="main")
            if record is not None and record.run_secs:
                secs = mean_run_secs(record.run_secs)
        self._sibling_cache[key] = (self.version, secs)
        return secs

    def _hash(self, mod: tvm.IRModule) -> int:
        """``mod``'s structural hash, computed once per module object (the search asks for the
        same kernels' siblings at every estimate: hashing them again was 8 % of its main thread)."""
        known = self._hash_by_object.get(id(mod))
        if known is None or known[0] is not mod:
            known = self._hash_by_object[id(mod)] = (mod, int(structural_hash(mod)))
        return known[1]

    def transferred_schedule(self, mod: tvm.IRModule) -> Any:
        """The best schedule of a measured kernel with ``mod``'s anchor block, applied to ``mod``."""
        return transfer_schedule(mod, self.database, self.target)


class KernelLatencyEstimate:
    """A kernel's expected best latency: measured, else a sibling's, else the cost model's,
    else the FLOP prior (see the module docstring).

    Parameters
    ----------
    anchors : AnchorSchedules
    tuners : Mapping[str, TaskTuner]
        The session's kernels; the FLOP prior is fitted on those measured.
    batch_size : int
        Candidates per measured batch (the headroom of a measured kernel shrinks per batch).
    """

    def __init__(self, anchors: AnchorSchedules, tuners: Mapping[str, TaskTuner], batch_size: int) -> None:
        self.anchors = anchors
        self.tuners = tuners
        self.batch_size = batch_size
        self.prior = FlopPrior()

    def flop_prior(self, flop: float) -> tuple[float, float]:
        """Seconds and log-space std of an unmeasured kernel of ``flop`` FLOPs."""
        measured = [(t.flop, t.best_secs) for t in self.tuners.values() if t.best_secs is not None]
        return self.prior(flop, measured)

    def __call__(self, tuner: TaskTuner) -> tuple[float, float]:
        """Seconds and log-space std of ``tuner``'s kernel at its best.

        Proposing a batch runs an evolutionary search (about a second per kernel here), so the
        cost model is consulted only for a kernel whose batch is already proposed.
        """
        if tuner.best_secs is not None:
            return tuner.best_secs, tuned_log_std(tuner.trials, self.batch_size)
        if tuner.trials == 0:
            sibling = self.anchors.sibling_secs(tuner.mod)
            if sibling is not None:
                return sibling, SIBLING_LOG_STD
        predicted = tuner.proposal_prediction()
        if predicted is not None:
            return predicted[0], predicted[1] + COST_MODEL_EXTRA_LOG_STD
        return self.flop_prior(tuner.flop)
