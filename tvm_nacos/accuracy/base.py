"""The interface of accuracy estimators: score architectures, higher is better, cached by sample id."""

from __future__ import annotations

import abc
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import ClassVar

from tvm_nacos.search_space import ArchSample, InvalidSampleError, SearchSpace

__all__ = ["AccuracyEstimator"]

logger = logging.getLogger(__name__)


class AccuracyEstimator(abc.ABC):
    """Estimates the accuracy of architectures; higher is better.

    Subclasses set :attr:`is_cheap`, implement :attr:`name` and :meth:`estimate`. This class
    validates the samples against the estimator's space (when it has one), canonicalizes them
    and caches every score by :attr:`ArchSample.id <tvm_nacos.search_space.ArchSample.id>`, so
    an architecture is estimated once per estimator.

    Parameters
    ----------
    space : SearchSpace, optional
        The space the estimator covers; samples outside it are rejected. Without a space,
        samples are taken as given.
    """

    #: Whether :meth:`evaluate` is cheap enough to call on every candidate of a search (a table
    #: lookup or a proxy on one mini-batch), as opposed to training or fine-tuning networks.
    is_cheap: ClassVar[bool]

    def __init__(self, space: SearchSpace | None = None) -> None:
        if not isinstance(getattr(type(self), "is_cheap", None), bool):
            raise TypeError(f"{type(self).__name__} must set the class attribute is_cheap to True or False")
        if space is not None and not isinstance(space, SearchSpace):
            raise TypeError(f"space must be a SearchSpace or None, got {type(space).__name__} {space!r}")
        self._space = space
        self._cache: dict[str, float] = {}

    @property
    @abc.abstractmethod
    def name(self) -> str:
        """A short name of the estimator and its setting, for logs and reports."""

    @property
    def space(self) -> SearchSpace | None:
        """The space the estimator covers, if it checks one."""
        return self._space

    @abc.abstractmethod
    def estimate(self, samples: Sequence[ArchSample]) -> Sequence[float]:
        """Score architectures, one score per sample, higher is better: what a subclass implements.

        :meth:`evaluate` calls it with canonical, valid samples that are not cached yet; call
        :meth:`evaluate` rather than this.
        """

    def evaluate(self, samples: Iterable[Mapping[str, str]]) -> list[float]:
        """Estimate the accuracy of architectures.

        Parameters
        ----------
        samples : Iterable[Mapping[str, str]]
            Architectures (``ArchSample`` or label → option mappings).

        Returns
        -------
        list[float]
            One score per sample, in order; higher is better. Scores come from the cache when the
            same architecture was evaluated before.

        Raises
        ------
        TypeError
            If ``samples`` is a single mapping rather than a collection of them.
        InvalidSampleError
            If a sample is not an architecture of :attr:`space` (the message names the estimator,
            the bad label or option and the valid ones).
        """
        if isinstance(samples, Mapping):
            raise TypeError(
                f"{self.name}: evaluate takes a sequence of samples, got the single mapping {samples!r}; "
                "wrap it in a list"
            )
        canonical = [self._canonical(sample) for sample in samples]
        pending: dict[str, ArchSample] = {}
        for sample in canonical:
            if sample.id not in self._cache:
                pending.setdefault(sample.id, sample)
        if pending:
            scores = list(self.estimate(list(pending.values())))
            if len(scores) != len(pending):
                raise RuntimeError(
                    f"{self.name}: estimate returned {len(scores)} scores for {len(pending)} samples"
                )
            for key, score in zip(pending, scores, strict=True):
                self._cache[key] = float(score)
        logger.debug("%s: %d samples, %d newly evaluated", self.name, len(canonical), len(pending))
        return [self._cache[sample.id] for sample in canonical]

    def _canonical(self, sample: Mapping[str, str]) -> ArchSample:
        if self._space is None:
            return sample if isinstance(sample, ArchSample) else ArchSample(sample)
        try:
            return self._space.canonicalize(sample)
        except InvalidSampleError as err:
            raise InvalidSampleError(f"{self.name}: {err}") from None

    @property
    def cache_size(self) -> int:
        """Number of architectures whose score is cached."""
        return len(self._cache)

    def clear_cache(self) -> None:
        """Forget every cached score."""
        self._cache.clear()
