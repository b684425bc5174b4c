"""Discrete, conditional architecture search spaces.

A :class:`SearchSpace` is an ordered sequence of choice points
(:class:`ChoiceSpec`).  Each choice point has a unique *label*, two or more
named *options* and a *default* option.  An architecture is described by an
:class:`~.sample.ArchSample` mapping labels to option names.

Conditional choices
-------------------
A choice may carry a :class:`Condition` naming a *parent* choice defined
earlier in the space and a subset of the parent's options.  The choice is
*active* only when its parent is active and takes one of those options;
otherwise it is *inactive* and has no effect on the network.  For example a
block that may be skipped has a ``block1/keep`` choice with options
``("keep", "skip")`` and a kernel-size choice ``block1/kernel`` with options
``("3", "5", "7")`` conditioned on ``Condition("block1/keep", ("keep",))``:
the kernel only matters when the block is kept.

Because each choice has at most one parent and parents come first, the
conditions form a forest, which makes counting (:attr:`SearchSpace.size`)
exact and cheap without enumeration: that block contributes ``3 + 1 = 4``
distinct architectures, not ``2 * 3 = 6``.

Canonical samples
-----------------
A *canonical* sample holds exactly the active labels, in space order.
:meth:`SearchSpace.canonicalize` drops inactive labels, so two samples that
build the same network canonicalize to equal samples with the same
:attr:`~.sample.ArchSample.id`.  Every sample produced by this module
(:meth:`~SearchSpace.sample`, :meth:`~SearchSpace.mutate`,
:meth:`~SearchSpace.crossover`, :meth:`~SearchSpace.decode`,
:meth:`~SearchSpace.enumerate`, :meth:`~SearchSpace.default_sample`) is
canonical.

Randomness always comes from a caller-supplied
:class:`numpy.random.Generator`; the module never touches global random state.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn

import numpy as np

from .errors import InvalidSampleError, SearchSpaceError, _quote_list
from .sample import ArchSample

__all__ = ["Condition", "ChoiceSpec", "SearchSpace"]


def _to_str_tuple(values: Iterable[str], what: str) -> tuple[str, ...]:
    """Convert ``values`` to a tuple of ``str``, rejecting a bare string.

    Parameters
    ----------
    values : Iterable[str]
        The values.
    what : str
        Description used in error messages.

    Returns
    -------
    tuple[str, ...]
        The values as a tuple.

    Raises
    ------
    TypeError
        If ``values`` is a bare string, not iterable, or holds a non-str.
    """
    if isinstance(values, (str, bytes)):
        raise TypeError(
            f"{what} must be a sequence of option names, not a single string {values!r}"
        )
    try:
        result = tuple(values)
    except TypeError:
        raise TypeError(
            f"{what} must be a sequence of option names, got {type(values).__name__} {values!r}"
        ) from None
    for value in result:
        if not isinstance(value, str):
            raise TypeError(
                f"{what} must all be str, got {type(value).__name__} {value!r}"
            )
    return result


def _check_rng(rng: object) -> np.random.Generator:
    """Return ``rng`` if it is a numpy Generator, else raise TypeError."""
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"rng must be a numpy.random.Generator, got {type(rng).__name__} {rng!r}"
        )
    return rng


def _require_keys(data: Mapping[str, Any], keys: tuple[str, ...], what: str) -> None:
    """Raise SearchSpaceError if ``data`` is not a mapping holding ``keys``."""
    if not isinstance(data, Mapping):
        raise SearchSpaceError(
            f"{what} must be a mapping with keys {_quote_list(keys)}, got {data!r}"
        )
    missing = [k for k in keys if k not in data]
    if missing:
        raise SearchSpaceError(
            f"{what} {data!r} is missing keys {_quote_list(missing)}; "
            f"required keys: {_quote_list(keys)}"
        )


@dataclass(frozen=True)
class Condition:
    """Activation condition of a choice on an earlier (parent) choice.

    Parameters
    ----------
    label : str
        Label of the parent choice; it must be defined earlier in the space.
    options : tuple[str, ...]
        Parent options under which the conditioned choice is active.  Any
        iterable of ``str`` is accepted and normalized to a tuple.

    Raises
    ------
    TypeError
        If ``label`` or an option is not a ``str``.
    SearchSpaceError
        If ``options`` is empty or repeats an option.
    """

    label: str
    options: tuple[str, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.label, str):
            raise TypeError(
                f"Condition label must be str, got {type(self.label).__name__} {self.label!r}"
            )
        options = _to_str_tuple(self.options, f"Condition({self.label!r}) options")
        object.__setattr__(self, "options", options)
        if not options:
            raise SearchSpaceError(
                f"Condition on {self.label!r} has no options (got {options!r}); "
                "it needs at least one of the parent's options"
            )
        seen: set[str] = set()
        for option in options:
            if option in seen:
                raise SearchSpaceError(
                    f"Condition on {self.label!r} repeats option {option!r}; "
                    f"options: {_quote_list(options)}"
                )
            seen.add(option)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-able dict ``{"label": ..., "options": [...]}``."""
        return {"label": self.label, "options": list(self.options)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Condition:
        """Inverse of :meth:`to_dict`.

        Parameters
        ----------
        data : Mapping[str, Any]
            A mapping with keys ``"label"`` and ``"options"``.

        Returns
        -------
        Condition
            The condition.

        Raises
        ------
        SearchSpaceError
            If a key is missing.
        """
        _require_keys(data, ("label", "options"), "condition")
        return cls(label=data["label"], options=data["options"])


@dataclass(frozen=True)
class ChoiceSpec:
    """One choice point of a search space.

    Parameters
    ----------
    label : str
        Unique name of the choice within its space.
    options : tuple[str, ...]
        Two or more distinct option names; any iterable of ``str`` is
        accepted and normalized to a tuple.  Order matters for encoding.
    default : str or None, optional
        The default option; ``None`` resolves to ``options[0]``, so after
        construction ``default`` is always a ``str``.
    condition : Condition or None, optional
        When given, the choice is active only if the condition holds.

    Raises
    ------
    TypeError
        If a field has the wrong type.
    SearchSpaceError
        If there are fewer than two options, an option is repeated, or
        ``default`` is not among the options.
    """

    label: str
    options: tuple[str, ...]
    default: str | None = None
    condition: Condition | None = field(default=None)

    def __post_init__(self) -> None:
        if not isinstance(self.label, str):
            raise TypeError(
                f"ChoiceSpec label must be str, got {type(self.label).__name__} {self.label!r}"
            )
        options = _to_str_tuple(self.options, f"ChoiceSpec({self.label!r}) options")
        object.__setattr__(self, "options", options)
        if len(options) < 2:
            raise SearchSpaceError(
                f"choice {self.label!r} needs at least two options, got {len(options)}: "
                f"{_quote_list(options)}"
            )
        seen: set[str] = set()
        for option in options:
            if option in seen:
                raise SearchSpaceError(
                    f"choice {self.label!r} repeats option {option!r}; "
                    f"options: {_quote_list(options)}"
                )
            seen.add(option)
        if self.default is None:
            object.__setattr__(self, "default", options[0])
        elif not isinstance(self.default, str):
            raise TypeError(
                f"ChoiceSpec({self.label!r}) default must be str or None, "
                f"got {type(self.default).__name__} {self.default!r}"
            )
        elif self.default not in seen:
            raise SearchSpaceError(
                f"default {self.default!r} of choice {self.label!r} is not among "
                f"its options: {_quote_list(options)}"
            )
        if self.condition is not None and not isinstance(self.condition, Condition):
            raise TypeError(
                f"ChoiceSpec({self.label!r}) condition must be a Condition or None, "
                f"got {type(self.condition).__name__} {self.condition!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-able dict of all fields (condition may be ``None``)."""
        return {
            "label": self.label,
            "options": list(self.options),
            "default": self.default,
            "condition": None if self.condition is None else self.condition.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ChoiceSpec:
        """Inverse of :meth:`to_dict`.

        Parameters
        ----------
        data : Mapping[str, Any]
            Keys ``"label"`` and ``"options"`` are required; ``"default"``
            and ``"condition"`` are optional.

        Returns
        -------
        ChoiceSpec
            The choice specification.

        Raises
        ------
        SearchSpaceError
            If a required key is missing or a value is invalid.
        """
        _require_keys(data, ("label", "options"), "choice")
        condition = data.get("condition")
        return cls(
            label=data["label"],
            options=data["options"],
            default=data.get("default"),
            condition=None if condition is None else Condition.from_dict(condition),
        )


class SearchSpace:
    """An ordered, possibly conditional, discrete architecture search space.

    Parameters
    ----------
    choices : Iterable[ChoiceSpec]
        The choice points in label order.  A choice's condition must refer to
        a choice listed before it.

    Raises
    ------
    TypeError
        If an element is not a :class:`ChoiceSpec`.
    SearchSpaceError
        If a label is repeated, or a condition names an unknown or
        later-defined parent, or an option the parent does not have.

    Notes
    -----
    ``label in space`` tests whether a *label* belongs to the space, while
    :meth:`contains` tests whether a *sample* is valid for it.

    Examples
    --------
    >>> space = SearchSpace([
    ...     ChoiceSpec("keep", ("keep", "skip")),
    ...     ChoiceSpec("kernel", ("3", "5", "7"),
    ...                condition=Condition("keep", ("keep",))),
    ... ])
    >>> space.size
    4
    >>> space.canonicalize({"keep": "skip", "kernel": "5"})
    ArchSample({'keep': 'skip'})
    """

    __slots__ = (
        "_choices",
        "_labels",
        "_index",
        "_parent",
        "_cond_sets",
        "_option_index",
        "_offsets",
        "_encoding_length",
        "_size",
        "_hash",
    )

    _choices: tuple[ChoiceSpec, ...]
    _labels: tuple[str, ...]
    _index: dict[str, int]
    _parent: tuple[int, ...]
    _cond_sets: tuple[frozenset[str], ...]
    _option_index: tuple[dict[str, int], ...]
    _offsets: tuple[int, ...]
    _encoding_length: int
    _size: int
    _hash: int

    def __init__(self, choices: Iterable[ChoiceSpec]) -> None:
        if isinstance(choices, (ChoiceSpec, str, bytes, Mapping)):
            raise TypeError(
                "SearchSpace expects a sequence of ChoiceSpec, "
                f"got {type(choices).__name__} {choices!r}"
            )
        specs = tuple(choices)
        index: dict[str, int] = {}
        all_labels = [s.label for s in specs if isinstance(s, ChoiceSpec)]
        parent: list[int] = []
        cond_sets: list[frozenset[str]] = []
        for i, spec in enumerate(specs):
            if not isinstance(spec, ChoiceSpec):
                raise TypeError(
                    f"SearchSpace choices must be ChoiceSpec, "
                    f"got {type(spec).__name__} {spec!r} at position {i}"
                )
            if spec.label in index:
                raise SearchSpaceError(
                    f"duplicate label {spec.label!r} at positions "
                    f"{index[spec.label]} and {i}; labels must be unique"
                )
            cond = spec.condition
            if cond is None:
                parent.append(-1)
                cond_sets.append(frozenset())
            else:
                if cond.label not in index:
                    if cond.label in all_labels:
                        problem = "is defined later (or is the choice itself)"
                    else:
                        problem = "is unknown"
                    raise SearchSpaceError(
                        f"condition of choice {spec.label!r}: parent {cond.label!r} "
                        f"{problem}; a parent must be defined earlier, valid parents: "
                        f"{_quote_list(index)}"
                    )
                parent_spec = specs[index[cond.label]]
                for option in cond.options:
                    if option not in parent_spec.options:
                        raise SearchSpaceError(
                            f"condition of choice {spec.label!r}: option {option!r} is "
                            f"not among the options of parent {cond.label!r}: "
                            f"{_quote_list(parent_spec.options)}"
                        )
                parent.append(index[cond.label])
                cond_sets.append(frozenset(cond.options))
            index[spec.label] = i

        offsets: list[int] = []
        total = 0
        for spec in specs:
            offsets.append(total)
            total += len(spec.options)

        setattr_ = object.__setattr__
        setattr_(self, "_choices", specs)
        setattr_(self, "_labels", tuple(s.label for s in specs))
        setattr_(self, "_index", index)
        setattr_(self, "_parent", tuple(parent))
        setattr_(self, "_cond_sets", tuple(cond_sets))
        setattr_(
            self,
            "_option_index",
            tuple({o: j for j, o in enumerate(s.options)} for s in specs),
        )
        setattr_(self, "_offsets", tuple(offsets))
        setattr_(self, "_encoding_length", total)
        setattr_(self, "_size", self._count())
        setattr_(self, "_hash", hash(specs))

    def _count(self) -> int:
        """Count canonical samples over the condition forest (exact int)."""
        n = len(self._choices)
        children: list[list[int]] = [[] for _ in range(n)]
        for i, p in enumerate(self._parent):
            if p >= 0:
                children[p].append(i)
        counts = [0] * n
        # Children always come after their parent, so reverse order works.
        for i in range(n - 1, -1, -1):
            counts[i] = sum(
                math.prod(counts[c] for c in children[i] if option in self._cond_sets[c])
                for option in self._choices[i].options
            )
        return math.prod(counts[i] for i in range(n) if self._parent[i] < 0)

    # -- immutability / value semantics -----------------------------------

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError(f"SearchSpace is immutable; cannot set {name!r}")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError(f"SearchSpace is immutable; cannot delete {name!r}")

    def __reduce__(self) -> tuple[type[SearchSpace], tuple[tuple[ChoiceSpec, ...]]]:
        return (type(self), (self._choices,))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SearchSpace):
            return NotImplemented
        return self._choices == other._choices

    def __hash__(self) -> int:
        return self._hash

    def __repr__(self) -> str:
        return f"SearchSpace({list(self._choices)!r})"

    # -- container protocol -----------------------------------------------

    def __len__(self) -> int:
        return len(self._choices)

    def __iter__(self) -> Iterator[ChoiceSpec]:
        return iter(self._choices)

    def __contains__(self, label: object) -> bool:
        return isinstance(label, str) and label in self._index

    def __getitem__(self, label: str) -> ChoiceSpec:
        return self._choices[self._label_index(label)]

    def _label_index(self, label: str) -> int:
        """Position of ``label``; InvalidSampleError listing labels if unknown."""
        try:
            return self._index[label]
        except (KeyError, TypeError):
            raise InvalidSampleError(
                f"unknown label {label!r}; valid labels: {_quote_list(self._labels)}"
            ) from None

    # -- basic properties -------------------------------------------------

    @property
    def labels(self) -> tuple[str, ...]:
        """Labels of all choice points, in space order."""
        return self._labels

    @property
    def choices(self) -> tuple[ChoiceSpec, ...]:
        """All choice specifications, in space order."""
        return self._choices

    def options(self, label: str) -> tuple[str, ...]:
        """Return the options of choice ``label``.

        Parameters
        ----------
        label : str
            A label of this space.

        Returns
        -------
        tuple[str, ...]
            The option names.

        Raises
        ------
        InvalidSampleError
            If ``label`` is unknown (the message lists valid labels).
        """
        return self._choices[self._label_index(label)].options

    @property
    def size(self) -> int:
        """Exact number of distinct architectures (canonical samples).

        An inactive choice contributes nothing, so a ``keep``/``skip`` block
        whose 3-way kernel is conditioned on ``keep`` counts ``3 + 1 = 4``.
        The empty space has size 1 (the empty sample).
        """
        return self._size

    @property
    def encoding_length(self) -> int:
        """Length of :meth:`encode` vectors: total number of options."""
        return self._encoding_length

    # -- activity -----------------------------------------------------------

    def _active_mask(self, sample: Mapping[str, str]) -> list[bool]:
        """Activity of every choice under ``sample`` (no validation).

        A parent absent from ``sample`` takes none of its options, so its
        conditioned children are inactive.
        """
        active: list[bool] = []
        for i, p in enumerate(self._parent):
            if p < 0:
                active.append(True)
            else:
                active.append(
                    active[p] and sample.get(self._labels[p]) in self._cond_sets[i]
                )
        return active

    def is_active(self, label: str, sample: Mapping[str, str]) -> bool:
        """Whether choice ``label`` matters under ``sample``.

        Parameters
        ----------
        label : str
            A label of this space.
        sample : Mapping[str, str]
            Options picked so far; it is not validated.  A missing parent
            counts as taking none of its options.

        Returns
        -------
        bool
            True if every condition on the path from the root holds.

        Raises
        ------
        InvalidSampleError
            If ``label`` is unknown.
        """
        i = self._label_index(label)
        while self._parent[i] >= 0:
            p = self._parent[i]
            if sample.get(self._labels[p]) not in self._cond_sets[i]:
                return False
            i = p
        return True

    def active_labels(self, sample: Mapping[str, str]) -> tuple[str, ...]:
        """Labels active under ``sample``, in space order (not validated).

        Parameters
        ----------
        sample : Mapping[str, str]
            Picked options.

        Returns
        -------
        tuple[str, ...]
            The active labels.
        """
        mask = self._active_mask(sample)
        return tuple(label for label, on in zip(self._labels, mask, strict=True) if on)

    # -- validation ---------------------------------------------------------

    def validate(self, sample: Mapping[str, str]) -> None:
        """Check that ``sample`` describes an architecture of this space.

        Inactive labels may be absent or present; when present their option
        must still be valid.

        Parameters
        ----------
        sample : Mapping[str, str]
            The sample to check.

        Raises
        ------
        TypeError
            If ``sample`` is not a mapping.
        InvalidSampleError
            For an unknown label (message lists valid labels), an unknown
            option (message lists that label's options), or missing active
            labels (message names them).
        """
        if not isinstance(sample, Mapping):
            raise TypeError(
                f"sample must be a mapping of label to option, "
                f"got {type(sample).__name__} {sample!r}"
            )
        for label in sample:
            if not isinstance(label, str) or label not in self._index:
                raise InvalidSampleError(
                    f"unknown label {label!r} in sample; valid labels: "
                    f"{_quote_list(self._labels)}"
                )
        for label, option in sample.items():
            i = self._index[label]
            if not isinstance(option, str) or option not in self._option_index[i]:
                raise InvalidSampleError(
                    f"unknown option {option!r} for label {label!r}; valid options: "
                    f"{_quote_list(self._choices[i].options)}"
                )
        mask = self._active_mask(sample)
        missing = [
            label for label, on in zip(self._labels, mask, strict=True) if on and label not in sample
        ]
        if missing:
            raise InvalidSampleError(
                f"sample misses active labels {_quote_list(missing)}"
            )

    def contains(self, sample: object) -> bool:
        """Whether ``sample`` is valid for this space; never raises.

        Parameters
        ----------
        sample : object
            Anything; non-mappings are simply not contained.

        Returns
        -------
        bool
            True iff :meth:`validate` would succeed.
        """
        try:
            self.validate(sample)  # type: ignore[arg-type]
        except (InvalidSampleError, TypeError):
            return False
        return True

    def canonicalize(self, sample: Mapping[str, str]) -> ArchSample:
        """Validate ``sample`` and keep only its active labels in space order.

        Parameters
        ----------
        sample : Mapping[str, str]
            A valid sample, possibly with inactive labels or in any order.

        Returns
        -------
        ArchSample
            The canonical sample; samples building the same network
            canonicalize to equal samples with equal ids.

        Raises
        ------
        TypeError, InvalidSampleError
            As :meth:`validate`.
        """
        self.validate(sample)
        mask = self._active_mask(sample)
        return ArchSample(
            (label, sample[label]) for label, on in zip(self._labels, mask, strict=True) if on
        )

    # -- construction of samples --------------------------------------------

    def _build(
        self,
        pick: Mapping[str, str],
        rng: np.random.Generator | None,
    ) -> ArchSample:
        """Canonical sample: active choices from ``pick``, else random/default.

        Walks the space in order; an active label found in ``pick`` keeps that
        option, an active label missing from it gets a uniform random option
        (or the default when ``rng`` is None); inactive labels are dropped.
        """
        out: dict[str, str] = {}
        active: list[bool] = []
        for i, spec in enumerate(self._choices):
            p = self._parent[i]
            on = p < 0 or (active[p] and out.get(self._labels[p]) in self._cond_sets[i])
            active.append(on)
            if not on:
                continue
            option = pick.get(spec.label)
            if option is None:
                if rng is None:
                    option = spec.default
                else:
                    option = spec.options[int(rng.integers(len(spec.options)))]
            out[spec.label] = option  # type: ignore[assignment]
        return ArchSample(out)

    def default_sample(self) -> ArchSample:
        """Canonical sample taking every active choice's default option."""
        return self._build({}, None)

    def sample(self, rng: np.random.Generator) -> ArchSample:
        """Draw a random canonical sample.

        Choices are drawn in space order; each active choice is uniform over
        its options.  (Architectures are therefore not uniform over
        :attr:`size` when conditions are present.)

        Parameters
        ----------
        rng : numpy.random.Generator
            Source of randomness.

        Returns
        -------
        ArchSample
            A canonical sample contained in the space.

        Raises
        ------
        TypeError
            If ``rng`` is not a Generator.
        """
        return self._build({}, _check_rng(rng))

    def mutate(
        self,
        sample: Mapping[str, str],
        rng: np.random.Generator,
        num_mutations: int = 1,
    ) -> ArchSample:
        """Change randomly chosen active choices to different options.

        ``min(num_mutations, number of active choices)`` distinct active
        choices of the canonicalized input are each set to a uniformly chosen
        *different* option.  Choices that become active get random options;
        choices that become inactive are dropped.  The earliest mutated
        choice stays active, so the result differs from the input whenever
        the space has any choice (an empty space returns the empty sample).

        Parameters
        ----------
        sample : Mapping[str, str]
            A valid sample of this space.
        rng : numpy.random.Generator
            Source of randomness.
        num_mutations : int, optional
            Number of choices to change, at least 1 (default 1).

        Returns
        -------
        ArchSample
            A canonical sample contained in the space.

        Raises
        ------
        TypeError
            If ``rng`` is not a Generator or ``num_mutations`` not an int.
        ValueError
            If ``num_mutations < 1``.
        InvalidSampleError
            If ``sample`` is invalid.
        """
        _check_rng(rng)
        if isinstance(num_mutations, bool) or not isinstance(
            num_mutations, (int, np.integer)
        ):
            raise TypeError(
                f"num_mutations must be an int, got {type(num_mutations).__name__} "
                f"{num_mutations!r}"
            )
        if num_mutations < 1:
            raise ValueError(
                f"num_mutations must be >= 1, got {num_mutations!r}; "
                "valid values: 1, 2, ..."
            )
        base = self.canonicalize(sample)
        active = list(base)
        k = min(int(num_mutations), len(active))
        if k == 0:
            return base
        picked = rng.choice(len(active), size=k, replace=False)
        changed = base.to_dict()
        for j in sorted(int(x) for x in picked):
            label = active[j]
            i = self._index[label]
            opts = self._choices[i].options
            current = self._option_index[i][changed[label]]
            new = int(rng.integers(len(opts) - 1))
            if new >= current:
                new += 1
            changed[label] = opts[new]
        return self._build(changed, rng)

    def crossover(
        self,
        a: Mapping[str, str],
        b: Mapping[str, str],
        rng: np.random.Generator,
    ) -> ArchSample:
        """Uniform crossover of two samples.

        Walking the space in order, each choice active in the child takes its
        option from ``a`` or ``b`` with equal probability when both parents
        have it, and from the only parent that has it otherwise.

        Parameters
        ----------
        a, b : Mapping[str, str]
            Valid samples of this space.
        rng : numpy.random.Generator
            Source of randomness.

        Returns
        -------
        ArchSample
            A canonical sample contained in the space.

        Raises
        ------
        TypeError
            If ``rng`` is not a Generator.
        InvalidSampleError
            If ``a`` or ``b`` is invalid.
        """
        _check_rng(rng)
        ca = self.canonicalize(a)
        cb = self.canonicalize(b)
        out: dict[str, str] = {}
        active: list[bool] = []
        for i, spec in enumerate(self._choices):
            p = self._parent[i]
            on = p < 0 or (active[p] and out.get(self._labels[p]) in self._cond_sets[i])
            active.append(on)
            if not on:
                continue
            label = spec.label
            in_a, in_b = label in ca, label in cb
            if in_a and in_b:
                out[label] = ca[label] if rng.integers(2) == 0 else cb[label]
            elif in_a:
                out[label] = ca[label]
            elif in_b:
                out[label] = cb[label]
            else:  # pragma: no cover - unreachable: an active child's parent came from a or b
                out[label] = spec.default  # type: ignore[assignment]
        return ArchSample(out)

    # -- vector encoding ----------------------------------------------------

    def encode(self, sample: Mapping[str, str]) -> np.ndarray:
        """One-hot encode a sample.

        Parameters
        ----------
        sample : Mapping[str, str]
            A valid sample; inactive labels are ignored.

        Returns
        -------
        numpy.ndarray
            float32 vector of length :attr:`encoding_length`: the one-hot
            blocks of all choices concatenated in label order, all zeros for
            an inactive choice.

        Raises
        ------
        InvalidSampleError
            If ``sample`` is invalid.
        """
        canon = self.canonicalize(sample)
        vec = np.zeros(self._encoding_length, dtype=np.float32)
        for label, option in canon.items():
            i = self._index[label]
            vec[self._offsets[i] + self._option_index[i][option]] = 1.0
        return vec

    def decode(self, vector: Any) -> ArchSample:
        """Decode a vector by taking the argmax of each active choice's block.

        Parameters
        ----------
        vector : array_like
            1-D, length :attr:`encoding_length`, finite values (e.g. scores or
            a one-hot encoding).  Ties go to the earlier option.

        Returns
        -------
        ArchSample
            A canonical sample; ``decode(encode(s)) == canonicalize(s)``.

        Raises
        ------
        ValueError
            If the shape is wrong or a value is not finite.
        """
        vec = np.asarray(vector, dtype=np.float64)
        if vec.shape != (self._encoding_length,):
            raise ValueError(
                f"vector has shape {vec.shape}, expected ({self._encoding_length},) "
                "(encoding_length)"
            )
        if not np.all(np.isfinite(vec)):
            raise ValueError(f"vector has non-finite values: {vector!r}")
        pick: dict[str, str] = {}
        for i, spec in enumerate(self._choices):
            start = self._offsets[i]
            block = vec[start : start + len(spec.options)]
            pick[spec.label] = spec.options[int(np.argmax(block))]
        return self._build(pick, None)

    # -- enumeration --------------------------------------------------------

    def enumerate(self) -> Iterator[ArchSample]:
        """Yield every canonical sample exactly once.

        The order is deterministic: lexicographic by option index in space
        order, the last choice varying fastest.  The number of samples
        yielded equals :attr:`size`.

        Yields
        ------
        ArchSample
            Canonical samples.
        """
        n = len(self._choices)
        idx = [-1] * n
        active = [False] * n
        specs = self._choices

        def refill(start: int) -> None:
            for j in range(start, n):
                p = self._parent[j]
                on = p < 0 or (
                    active[p] and specs[p].options[idx[p]] in self._cond_sets[j]
                )
                active[j] = on
                idx[j] = 0 if on else -1

        refill(0)
        more = True
        while more:
            yield ArchSample(
                (specs[j].label, specs[j].options[idx[j]]) for j in range(n) if active[j]
            )
            j = n - 1
            while j >= 0 and not (active[j] and idx[j] < len(specs[j].options) - 1):
                j -= 1
            if j < 0:
                more = False
            else:
                idx[j] += 1
                refill(j + 1)

    # -- serialization ------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-able description ``{"choices": [...]}``.

        Returns
        -------
        dict[str, Any]
            One :meth:`ChoiceSpec.to_dict` per choice, in order.
        """
        return {"choices": [spec.to_dict() for spec in self._choices]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SearchSpace:
        """Inverse of :meth:`to_dict`.

        Parameters
        ----------
        data : Mapping[str, Any]
            A mapping with key ``"choices"``: a list of choice dicts.

        Returns
        -------
        SearchSpace
            The space.

        Raises
        ------
        SearchSpaceError
            If the description is malformed.
        """
        _require_keys(data, ("choices",), "search space")
        raw = data["choices"]
        if isinstance(raw, (str, bytes, Mapping)) or not isinstance(raw, Iterable):
            raise SearchSpaceError(
                f"search space 'choices' must be a list of choice dicts, got {raw!r}"
            )
        return cls(ChoiceSpec.from_dict(item) for item in raw)
