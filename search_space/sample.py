"""Immutable architecture samples.

An :class:`ArchSample` maps each choice label of a search space to the name
of the option picked for it.  It is a read-only, hashable
:class:`collections.abc.Mapping` whose equality and hash ignore insertion
order, and whose :attr:`ArchSample.id` is a short content hash that is stable
across processes and Python versions.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, NoReturn

from .errors import InvalidSampleError

__all__ = ["ArchSample"]

_ID_LENGTH = 12


class ArchSample(Mapping[str, str]):
    """A frozen, hashable mapping from choice label to option name.

    Parameters
    ----------
    choices : Mapping[str, str] or Iterable[tuple[str, str]], optional
        The picked options, either as a mapping or as ``(label, option)``
        pairs.  Insertion order is kept for iteration, printing and JSON, but
        is ignored by equality, hashing and :attr:`id`.

    Raises
    ------
    TypeError
        If a label or option is not a ``str``, or a pair is not a 2-item
        sequence.
    InvalidSampleError
        If the same label appears twice among the pairs.

    Examples
    --------
    >>> s = ArchSample({"depth": "4", "width": "64"})
    >>> s["depth"]
    '4'
    >>> s == ArchSample([("width", "64"), ("depth", "4")])
    True
    """

    __slots__ = ("_choices", "_hash")

    _choices: dict[str, str]
    _hash: int | None

    def __init__(
        self, choices: Mapping[str, str] | Iterable[tuple[str, str]] = ()
    ) -> None:
        if isinstance(choices, (str, bytes)):
            raise TypeError(
                "ArchSample expects a mapping or (label, option) pairs, "
                f"got {type(choices).__name__} {choices!r}"
            )
        items: Iterable[Any]
        if isinstance(choices, Mapping):
            items = choices.items()
        else:
            items = choices
        data: dict[str, str] = {}
        for pair in items:
            try:
                label, option = pair
            except (TypeError, ValueError):
                raise TypeError(
                    f"ArchSample pairs must be (label, option) 2-tuples, got {pair!r}"
                ) from None
            if not isinstance(label, str):
                raise TypeError(
                    f"ArchSample labels must be str, got {type(label).__name__} {label!r}"
                )
            if not isinstance(option, str):
                raise TypeError(
                    f"ArchSample option for label {label!r} must be str, "
                    f"got {type(option).__name__} {option!r}"
                )
            if label in data:
                raise InvalidSampleError(
                    f"duplicate label {label!r} in ArchSample pairs "
                    f"(options {data[label]!r} and {option!r})"
                )
            data[label] = option
        object.__setattr__(self, "_choices", data)
        object.__setattr__(self, "_hash", None)

    # -- immutability -----------------------------------------------------

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError(f"ArchSample is immutable; cannot set {name!r}")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError(f"ArchSample is immutable; cannot delete {name!r}")

    def __reduce__(self) -> tuple[type[ArchSample], tuple[tuple[tuple[str, str], ...]]]:
        return (type(self), (tuple(self._choices.items()),))

    # -- Mapping protocol -------------------------------------------------

    def __getitem__(self, label: str) -> str:
        return self._choices[label]

    def __iter__(self) -> Iterator[str]:
        return iter(self._choices)

    def __len__(self) -> int:
        return len(self._choices)

    def __contains__(self, label: object) -> bool:
        return label in self._choices

    # -- value semantics --------------------------------------------------

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ArchSample):
            return NotImplemented
        return self._choices == other._choices

    def __ne__(self, other: object) -> bool:
        if not isinstance(other, ArchSample):
            return NotImplemented
        return self._choices != other._choices

    def __hash__(self) -> int:
        cached = self._hash
        if cached is None:
            cached = hash(frozenset(self._choices.items()))
            object.__setattr__(self, "_hash", cached)
        return cached

    def __repr__(self) -> str:
        return f"ArchSample({self._choices!r})"

    @property
    def id(self) -> str:
        """Stable short identifier of the sample's content.

        Returns
        -------
        str
            The first 12 hex digits of the SHA-256 of the canonical JSON
            ``json.dumps(dict(self), sort_keys=True, separators=(",", ":"))``.
            Independent of insertion order, process and Python hash seed.
        """
        canonical = json.dumps(self._choices, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:_ID_LENGTH]

    # -- conversion -------------------------------------------------------

    def to_dict(self) -> dict[str, str]:
        """Return the choices as a new plain ``dict`` in insertion order.

        Returns
        -------
        dict[str, str]
            A fresh copy; mutating it does not affect the sample.
        """
        return dict(self._choices)

    @classmethod
    def from_dict(cls, data: Mapping[str, str]) -> ArchSample:
        """Build a sample from a mapping, keeping its order.

        Parameters
        ----------
        data : Mapping[str, str]
            Label to option name.

        Returns
        -------
        ArchSample
            The sample.

        Raises
        ------
        TypeError
            If ``data`` is not a mapping of ``str`` to ``str``.
        """
        if not isinstance(data, Mapping):
            raise TypeError(
                f"ArchSample.from_dict expects a mapping, got {type(data).__name__} {data!r}"
            )
        return cls(data)

    def to_json(self) -> str:
        """Serialize to a JSON object string, keeping insertion order.

        Returns
        -------
        str
            Compact JSON such as ``'{"a":"x","b":"y"}'``.
        """
        return json.dumps(self._choices, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> ArchSample:
        """Parse a sample written by :meth:`to_json`.

        Parameters
        ----------
        text : str
            A JSON object whose values are all strings.

        Returns
        -------
        ArchSample
            The sample, in the order the JSON lists its keys.

        Raises
        ------
        TypeError
            If ``text`` is not a ``str`` or an option is not a string.
        json.JSONDecodeError
            If ``text`` is not valid JSON (a :class:`ValueError`).
        InvalidSampleError
            If the JSON value is not an object.
        """
        if not isinstance(text, str):
            raise TypeError(
                f"ArchSample.from_json expects str, got {type(text).__name__} {text!r}; "
                "use ArchSample.from_dict for mappings"
            )
        data = json.loads(text)
        if not isinstance(data, dict):
            raise InvalidSampleError(
                f"ArchSample JSON must be an object mapping label to option, got {data!r}"
            )
        return cls(data)

    # -- derived samples --------------------------------------------------

    def with_choice(self, label: str, option: str) -> ArchSample:
        """Return a new sample with ``label`` set to ``option``.

        Parameters
        ----------
        label : str
            The label to set; an existing label keeps its position, a new one
            is appended.
        option : str
            The option name.

        Returns
        -------
        ArchSample
            A new sample; ``self`` is unchanged.
        """
        data = dict(self._choices)
        if not isinstance(label, str):
            raise TypeError(
                f"ArchSample labels must be str, got {type(label).__name__} {label!r}"
            )
        data[label] = option
        return ArchSample(data)

    def without(self, labels: str | Iterable[str]) -> ArchSample:
        """Return a new sample without the given labels.

        Parameters
        ----------
        labels : str or Iterable[str]
            One label or several.  Labels not in the sample are ignored.

        Returns
        -------
        ArchSample
            A new sample with the remaining labels in their original order.
        """
        drop = {labels} if isinstance(labels, str) else set(labels)
        return ArchSample((k, v) for k, v in self._choices.items() if k not in drop)
