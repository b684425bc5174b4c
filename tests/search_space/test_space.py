"""Tests for ``tvm_nacos.search_space`` (pure Python, no TVM)."""

from __future__ import annotations

import hashlib
import json
import math
import pickle
from collections.abc import Mapping

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tvm_nacos.search_space import (
    ArchSample,
    ChoiceSpec,
    Condition,
    InvalidSampleError,
    SearchSpace,
    SearchSpaceError,
)

# --------------------------------------------------------------------------
# helpers / fixtures
# --------------------------------------------------------------------------


def block(i: int) -> list[ChoiceSpec]:
    """A skippable block: kernel 3/5/7 only matters when the block is kept."""
    return [
        ChoiceSpec(f"b{i}/keep", ("keep", "skip")),
        ChoiceSpec(
            f"b{i}/kernel",
            ("3", "5", "7"),
            condition=Condition(f"b{i}/keep", ("keep",)),
        ),
    ]


@pytest.fixture
def flat() -> SearchSpace:
    return SearchSpace([ChoiceSpec(f"c{i}", ("a", "b", "c", "d", "e")) for i in range(6)])


@pytest.fixture
def cond() -> SearchSpace:
    """Two skippable blocks, a width choice, and a nested condition."""
    return SearchSpace(
        block(0)
        + block(1)
        + [
            ChoiceSpec("width", ("16", "32", "64"), default="32"),
            # nested: only when block 1 is kept AND its kernel is 5 or 7
            ChoiceSpec("b1/dil", ("1", "2"), condition=Condition("b1/kernel", ("5", "7"))),
        ]
    )


def sha_id(d: dict[str, str]) -> str:
    text = json.dumps(d, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


# --------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------


def test_errors_are_value_errors() -> None:
    assert issubclass(SearchSpaceError, ValueError)
    assert issubclass(InvalidSampleError, ValueError)
    assert not issubclass(SearchSpaceError, InvalidSampleError)


# --------------------------------------------------------------------------
# ArchSample
# --------------------------------------------------------------------------


def test_sample_construct_mapping_and_pairs_keep_order() -> None:
    a = ArchSample({"b": "1", "a": "2"})
    b = ArchSample([("b", "1"), ("a", "2")])
    assert list(a) == ["b", "a"] and list(b) == ["b", "a"]
    assert a == b
    assert len(a) == 2 and a["a"] == "2" and "b" in a and "z" not in a
    assert isinstance(a, Mapping)
    assert dict(a) == {"b": "1", "a": "2"}
    assert list(a.items()) == [("b", "1"), ("a", "2")]
    assert a.get("zz") is None
    assert ArchSample() == ArchSample({}) and len(ArchSample()) == 0
    assert ArchSample(a) == a
    with pytest.raises(KeyError):
        a["zz"]


def test_sample_type_errors() -> None:
    with pytest.raises(TypeError, match="labels must be str"):
        ArchSample({1: "a"})  # type: ignore[dict-item]
    with pytest.raises(TypeError, match="must be str.*3"):
        ArchSample({"a": 3})  # type: ignore[dict-item]
    with pytest.raises(TypeError, match="2-tuples"):
        ArchSample([("a", "b", "c")])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="mapping or"):
        ArchSample("ab")  # type: ignore[arg-type]


def test_sample_duplicate_pair_label() -> None:
    with pytest.raises(InvalidSampleError, match="'a'"):
        ArchSample([("a", "x"), ("a", "y")])


def test_sample_eq_hash_order_insensitive() -> None:
    a = ArchSample({"x": "1", "y": "2"})
    b = ArchSample({"y": "2", "x": "1"})
    c = ArchSample({"x": "1", "y": "3"})
    assert a == b and hash(a) == hash(b)
    assert a != c
    assert len({a, b, c}) == 2
    # equal to nothing but ArchSample
    assert a != {"x": "1", "y": "2"}
    assert {"x": "1", "y": "2"} != a
    assert a != (("x", "1"), ("y", "2"))


def test_sample_id_is_sha256_of_canonical_json() -> None:
    s = ArchSample({"width": "64", "depth": "4"})
    assert s.id == sha_id({"depth": "4", "width": "64"})
    # hard-coded: stable across processes / Python hash seeds
    assert s.id == "61a5700c8aa6"
    assert ArchSample({"depth": "4", "width": "64"}).id == s.id
    assert len(s.id) == 12 and all(ch in "0123456789abcdef" for ch in s.id)
    assert ArchSample({"depth": "4", "width": "32"}).id != s.id
    assert ArchSample({"depth": "4"}).id != s.id
    assert ArchSample().id == sha_id({})


def test_sample_json_and_dict_round_trip_keeps_order() -> None:
    s = ArchSample([("z", "1"), ("a", "2"), ("m", "3")])
    text = s.to_json()
    assert json.loads(text) == {"z": "1", "a": "2", "m": "3"}
    back = ArchSample.from_json(text)
    assert back == s and list(back) == ["z", "a", "m"] and back.to_json() == text
    d = s.to_dict()
    assert list(d) == ["z", "a", "m"]
    d["z"] = "changed"  # a copy
    assert s["z"] == "1"
    assert list(ArchSample.from_dict(s.to_dict())) == ["z", "a", "m"]
    assert ArchSample.from_dict(s.to_dict()) == s


def test_sample_from_json_errors() -> None:
    with pytest.raises(TypeError, match="from_dict"):
        ArchSample.from_json({"a": "b"})  # type: ignore[arg-type]
    with pytest.raises(InvalidSampleError, match=r"\[1, 2\]"):
        ArchSample.from_json("[1, 2]")
    with pytest.raises(ValueError):
        ArchSample.from_json("{not json")
    with pytest.raises(TypeError):
        ArchSample.from_json('{"a": 1}')
    with pytest.raises(TypeError, match="mapping"):
        ArchSample.from_dict([("a", "b")])  # type: ignore[arg-type]


def test_sample_with_choice_and_without() -> None:
    s = ArchSample({"a": "1", "b": "2", "c": "3"})
    t = s.with_choice("b", "9")
    assert list(t.items()) == [("a", "1"), ("b", "9"), ("c", "3")]
    assert s["b"] == "2"  # unchanged
    u = s.with_choice("d", "4")
    assert list(u) == ["a", "b", "c", "d"]
    assert list(s.without(["a", "c", "zz"]).items()) == [("b", "2")]
    assert list(s.without("b")) == ["a", "c"]
    with pytest.raises(TypeError):
        s.with_choice("x", 5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        s.with_choice(5, "x")  # type: ignore[arg-type]


def test_sample_repr_immutable_pickle() -> None:
    s = ArchSample({"a": "x", "b": "y"})
    assert repr(s) == "ArchSample({'a': 'x', 'b': 'y'})"
    assert eval(repr(s)) == s
    with pytest.raises(AttributeError):
        s.foo = 1  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        s._choices = {}  # type: ignore[misc]
    with pytest.raises(TypeError):
        s["a"] = "z"  # type: ignore[index]
    back = pickle.loads(pickle.dumps(s))
    assert back == s and list(back) == ["a", "b"] and back.id == s.id


# --------------------------------------------------------------------------
# Condition / ChoiceSpec
# --------------------------------------------------------------------------


def test_condition_normalizes_and_validates() -> None:
    c = Condition("p", ["a", "b"])  # type: ignore[arg-type]
    assert c.options == ("a", "b") and c == Condition("p", ("a", "b"))
    assert hash(c) == hash(Condition("p", ("a", "b")))
    with pytest.raises(SearchSpaceError, match="'p'"):
        Condition("p", ())
    with pytest.raises(SearchSpaceError, match="repeats option 'a'"):
        Condition("p", ("a", "a"))
    with pytest.raises(TypeError):
        Condition("p", "ab")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Condition(1, ("a",))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Condition("p", (1,))  # type: ignore[arg-type]
    assert Condition.from_dict(c.to_dict()) == c
    with pytest.raises(SearchSpaceError, match="'options'"):
        Condition.from_dict({"label": "p"})
    with pytest.raises(dataclass_frozen_error()):
        c.label = "q"  # type: ignore[misc]


def dataclass_frozen_error() -> type[Exception]:
    import dataclasses

    return dataclasses.FrozenInstanceError


def test_choice_spec_normalizes_and_resolves_default() -> None:
    spec = ChoiceSpec("k", ["3", "5"])  # type: ignore[arg-type]
    assert spec.options == ("3", "5") and spec.default == "3" and spec.condition is None
    assert spec == ChoiceSpec("k", ("3", "5"), default="3")
    assert ChoiceSpec("k", ("3", "5"), default="5").default == "5"
    assert hash(spec) == hash(ChoiceSpec("k", ("3", "5"), default="3"))
    with pytest.raises(dataclass_frozen_error()):
        spec.default = "5"  # type: ignore[misc]


def test_choice_spec_errors_name_value_and_choices() -> None:
    with pytest.raises(SearchSpaceError) as e:
        ChoiceSpec("k", ("3",))
    assert "'k'" in str(e.value) and "'3'" in str(e.value) and "two" in str(e.value)
    with pytest.raises(SearchSpaceError):
        ChoiceSpec("k", ())
    with pytest.raises(SearchSpaceError) as e:
        ChoiceSpec("k", ("3", "5", "3"))
    assert "'3'" in str(e.value) and "'3', '5', '3'" in str(e.value)
    with pytest.raises(SearchSpaceError) as e:
        ChoiceSpec("k", ("3", "5"), default="7")
    assert "'7'" in str(e.value) and "'3', '5'" in str(e.value)
    with pytest.raises(TypeError):
        ChoiceSpec("k", "35")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        ChoiceSpec("k", (3, 5))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        ChoiceSpec(1, ("3", "5"))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        ChoiceSpec("k", ("3", "5"), default=3)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        ChoiceSpec("k", ("3", "5"), condition=("p", ("a",)))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        ChoiceSpec("k", 5)  # type: ignore[arg-type]


def test_choice_spec_dict_round_trip() -> None:
    spec = ChoiceSpec("k", ("3", "5"), default="5", condition=Condition("p", ("a",)))
    assert ChoiceSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    assert ChoiceSpec.from_dict({"label": "k", "options": ["3", "5"]}) == ChoiceSpec(
        "k", ("3", "5")
    )
    with pytest.raises(SearchSpaceError, match="'label'"):
        ChoiceSpec.from_dict({"options": ["3", "5"]})
    with pytest.raises(SearchSpaceError, match="mapping"):
        ChoiceSpec.from_dict(["k"])  # type: ignore[arg-type]


# --------------------------------------------------------------------------
# SearchSpace construction
# --------------------------------------------------------------------------


def test_space_duplicate_label() -> None:
    with pytest.raises(SearchSpaceError, match="duplicate label 'a'"):
        SearchSpace([ChoiceSpec("a", ("x", "y")), ChoiceSpec("a", ("x", "z"))])


def test_space_unknown_parent_lists_valid_parents() -> None:
    with pytest.raises(SearchSpaceError) as e:
        SearchSpace(
            [
                ChoiceSpec("a", ("x", "y")),
                ChoiceSpec("b", ("x", "y"), condition=Condition("nope", ("x",))),
            ]
        )
    msg = str(e.value)
    assert "'nope'" in msg and "unknown" in msg and "'a'" in msg


def test_space_later_parent() -> None:
    with pytest.raises(SearchSpaceError) as e:
        SearchSpace(
            [
                ChoiceSpec("b", ("x", "y"), condition=Condition("a", ("x",))),
                ChoiceSpec("a", ("x", "y")),
            ]
        )
    assert "'a'" in str(e.value) and "later" in str(e.value)
    with pytest.raises(SearchSpaceError, match="later"):
        SearchSpace([ChoiceSpec("a", ("x", "y"), condition=Condition("a", ("x",)))])


def test_space_condition_option_not_in_parent() -> None:
    with pytest.raises(SearchSpaceError) as e:
        SearchSpace(
            [
                ChoiceSpec("a", ("x", "y")),
                ChoiceSpec("b", ("x", "y"), condition=Condition("a", ("x", "w"))),
            ]
        )
    msg = str(e.value)
    assert "'w'" in msg and "'x', 'y'" in msg


def test_space_type_errors() -> None:
    with pytest.raises(TypeError):
        SearchSpace([("a", ("x", "y"))])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        SearchSpace(ChoiceSpec("a", ("x", "y")))  # type: ignore[arg-type]


def test_space_container_protocol(cond: SearchSpace) -> None:
    assert cond.labels == ("b0/keep", "b0/kernel", "b1/keep", "b1/kernel", "width", "b1/dil")
    assert len(cond) == 6
    assert tuple(cond) == cond.choices
    assert [c.label for c in cond.choices] == list(cond.labels)
    assert cond["width"].default == "32"
    assert "width" in cond and "nope" not in cond and 3 not in cond
    assert cond.options("b0/kernel") == ("3", "5", "7")
    with pytest.raises(InvalidSampleError) as e:
        cond["nope"]
    assert "'nope'" in str(e.value) and "'b0/keep'" in str(e.value) and "'width'" in str(e.value)
    with pytest.raises(InvalidSampleError, match="'nope'.*'width'"):
        cond.options("nope")
    with pytest.raises(AttributeError):
        cond.foo = 1  # type: ignore[attr-defined]


def test_space_eq_hash_repr_pickle(cond: SearchSpace) -> None:
    same = SearchSpace(list(cond.choices))
    assert same == cond and hash(same) == hash(cond)
    assert cond != SearchSpace(list(cond.choices)[:2])
    assert cond != list(cond.choices)
    assert repr(cond).startswith("SearchSpace([ChoiceSpec(label='b0/keep'")
    assert eval(repr(cond)) == cond
    assert pickle.loads(pickle.dumps(cond)) == cond


def test_space_dict_round_trip(cond: SearchSpace) -> None:
    d = cond.to_dict()
    back = SearchSpace.from_dict(json.loads(json.dumps(d)))
    assert back == cond and back.labels == cond.labels
    assert back["b1/dil"].condition == Condition("b1/kernel", ("5", "7"))
    assert back.to_dict() == d
    with pytest.raises(SearchSpaceError, match="'choices'"):
        SearchSpace.from_dict({})
    with pytest.raises(SearchSpaceError, match="list"):
        SearchSpace.from_dict({"choices": "abc"})
    with pytest.raises(SearchSpaceError, match="duplicate"):
        SearchSpace.from_dict({"choices": [d["choices"][0], d["choices"][0]]})


# --------------------------------------------------------------------------
# size / enumerate
# --------------------------------------------------------------------------


def test_size_independent(flat: SearchSpace) -> None:
    assert flat.size == 5**6 == 15625
    assert sum(1 for _ in flat.enumerate()) == 15625


def test_size_conditional_block() -> None:
    one = SearchSpace(block(0))
    assert one.size == 4  # 3 kernels when kept + 1 when skipped
    assert list(one.enumerate()) == [
        ArchSample({"b0/keep": "keep", "b0/kernel": "3"}),
        ArchSample({"b0/keep": "keep", "b0/kernel": "5"}),
        ArchSample({"b0/keep": "keep", "b0/kernel": "7"}),
        ArchSample({"b0/keep": "skip"}),
    ]
    three = SearchSpace(block(0) + block(1) + block(2))
    assert three.size == 4**3 == len(list(three.enumerate()))


def test_size_nested_and_enumerate_distinct_canonical(cond: SearchSpace) -> None:
    # block0: 4; block1: keep -> kernel 3 (1) + 5,7 with dil x2 (4) = 5, skip 1 -> 6; width 3
    assert cond.size == 4 * 6 * 3 == 72
    samples = list(cond.enumerate())
    assert len(samples) == cond.size
    assert len(set(samples)) == len(samples)
    assert len({s.id for s in samples}) == len(samples)
    for s in samples:
        assert cond.contains(s)
        assert cond.canonicalize(s) == s and list(cond.canonicalize(s)) == list(s)
    assert samples == list(cond.enumerate())  # deterministic


def test_size_exact_big_int_and_empty() -> None:
    big = SearchSpace([ChoiceSpec(f"c{i}", tuple(str(j) for j in range(10))) for i in range(30)])
    assert big.size == 10**30 and isinstance(big.size, int)
    multi = SearchSpace(
        [
            ChoiceSpec("p", ("a", "b", "c")),
            ChoiceSpec("x", ("1", "2"), condition=Condition("p", ("a", "b"))),
            ChoiceSpec("y", ("1", "2", "3"), condition=Condition("p", ("b",))),
            ChoiceSpec("z", ("1", "2"), condition=Condition("y", ("3",))),
        ]
    )
    # a: x(2)=2 ; b: x(2) * y(1+1+2=4) = 8 ; c: 1
    assert multi.size == 11 == len(list(multi.enumerate()))
    empty = SearchSpace([])
    assert empty.size == 1 and list(empty.enumerate()) == [ArchSample()]
    assert empty.encoding_length == 0 and empty.default_sample() == ArchSample()


# --------------------------------------------------------------------------
# activity / validation / canonicalization
# --------------------------------------------------------------------------


def test_is_active_and_active_labels(cond: SearchSpace) -> None:
    s = {"b0/keep": "skip", "b1/keep": "keep", "b1/kernel": "5", "width": "16", "b1/dil": "2"}
    assert cond.is_active("b0/keep", s)
    assert not cond.is_active("b0/kernel", s)
    assert cond.is_active("b1/kernel", s) and cond.is_active("b1/dil", s)
    assert cond.active_labels(s) == ("b0/keep", "b1/keep", "b1/kernel", "width", "b1/dil")
    t = dict(s, **{"b1/keep": "skip"})
    # grandchild inactive when grandparent skips, even though kernel is listed
    assert not cond.is_active("b1/dil", t)
    assert cond.active_labels(t) == ("b0/keep", "b1/keep", "width")
    # a missing parent counts as taking none of its options
    assert not cond.is_active("b0/kernel", {})
    with pytest.raises(InvalidSampleError, match="'zz'.*'b0/keep'"):
        cond.is_active("zz", s)


def test_validate_ok_with_inactive_present_or_absent(cond: SearchSpace) -> None:
    base = {"b0/keep": "skip", "b1/keep": "skip", "width": "16"}
    cond.validate(base)
    cond.validate(dict(base, **{"b0/kernel": "7"}))  # inactive but valid -> fine
    cond.validate(ArchSample(base))


def test_validate_unknown_label(cond: SearchSpace) -> None:
    with pytest.raises(InvalidSampleError) as e:
        cond.validate({"b0/keep": "skip", "bogus": "1"})
    msg = str(e.value)
    assert "'bogus'" in msg
    for label in cond.labels:
        assert repr(label) in msg


def test_validate_unknown_option(cond: SearchSpace) -> None:
    with pytest.raises(InvalidSampleError) as e:
        cond.validate({"b0/keep": "keep", "b0/kernel": "9", "b1/keep": "skip", "width": "16"})
    msg = str(e.value)
    assert "'9'" in msg and "'b0/kernel'" in msg and "'3', '5', '7'" in msg
    # inactive present label must still be valid
    with pytest.raises(InvalidSampleError, match="'9'.*'3', '5', '7'"):
        cond.validate({"b0/keep": "skip", "b0/kernel": "9", "b1/keep": "skip", "width": "16"})


def test_validate_missing_active(cond: SearchSpace) -> None:
    with pytest.raises(InvalidSampleError) as e:
        cond.validate({"b0/keep": "keep", "b1/keep": "skip"})
    msg = str(e.value)
    assert "'b0/kernel'" in msg and "'width'" in msg and "'b1/kernel'" not in msg
    with pytest.raises(TypeError):
        cond.validate([("b0/keep", "keep")])  # type: ignore[arg-type]


def test_contains_never_raises(cond: SearchSpace) -> None:
    assert cond.contains({"b0/keep": "skip", "b1/keep": "skip", "width": "16"})
    assert not cond.contains({"b0/keep": "skip"})
    assert not cond.contains({"b0/keep": "nope", "b1/keep": "skip", "width": "16"})
    assert not cond.contains({"zz": "1"})
    assert not cond.contains(None)
    assert not cond.contains([1, 2])
    assert not cond.contains("abc")
    assert not cond.contains({1: 2})
    assert not cond.contains({"b0/keep": 1, "b1/keep": "skip", "width": "16"})


def test_canonicalize(cond: SearchSpace) -> None:
    messy = {"width": "16", "b0/kernel": "7", "b1/keep": "skip", "b0/keep": "skip", "b1/dil": "1"}
    c = cond.canonicalize(messy)
    assert list(c.items()) == [("b0/keep", "skip"), ("b1/keep", "skip"), ("width", "16")]
    other = {"b0/keep": "skip", "b1/keep": "skip", "width": "16", "b0/kernel": "3"}
    assert cond.canonicalize(other) == c and cond.canonicalize(other).id == c.id
    with pytest.raises(InvalidSampleError):
        cond.canonicalize({"b0/keep": "skip"})


def test_default_sample(cond: SearchSpace) -> None:
    d = cond.default_sample()
    assert list(d.items()) == [
        ("b0/keep", "keep"),
        ("b0/kernel", "3"),
        ("b1/keep", "keep"),
        ("b1/kernel", "3"),
        ("width", "32"),
    ]
    assert cond.contains(d) and cond.canonicalize(d) == d


# --------------------------------------------------------------------------
# sample / mutate / crossover
# --------------------------------------------------------------------------


def test_sample_canonical_deterministic_and_covers(cond: SearchSpace) -> None:
    rng = np.random.default_rng(0)
    draws = [cond.sample(rng) for _ in range(300)]
    for s in draws:
        assert cond.contains(s) and list(cond.canonicalize(s)) == list(s)
    assert len(set(draws)) > 30
    r1, r2 = np.random.default_rng(42), np.random.default_rng(42)
    assert [cond.sample(r1) for _ in range(20)] == [cond.sample(r2) for _ in range(20)]
    with pytest.raises(TypeError, match="Generator"):
        cond.sample(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Generator"):
        cond.sample(np.random.RandomState(0))  # type: ignore[arg-type]


def test_sample_uniform_per_choice(flat: SearchSpace) -> None:
    rng = np.random.default_rng(1)
    counts = {o: 0 for o in "abcde"}
    for _ in range(1000):
        counts[flat.sample(rng)["c0"]] += 1
    assert all(150 < c < 250 for c in counts.values())


def test_mutate(cond: SearchSpace) -> None:
    rng = np.random.default_rng(3)
    for _ in range(200):
        s = cond.sample(rng)
        m = cond.mutate(s, rng)
        assert m != s and cond.contains(m) and list(cond.canonicalize(m)) == list(m)
    # single independent choice changes exactly one label
    flat = SearchSpace([ChoiceSpec(f"c{i}", ("a", "b", "c")) for i in range(5)])
    s = flat.default_sample()
    m = flat.mutate(s, rng)
    assert sum(s[k] != m[k] for k in s) == 1
    m3 = flat.mutate(s, rng, num_mutations=3)
    assert sum(s[k] != m3[k] for k in s) == 3
    # more mutations than choices: clamped to all choices
    m_all = flat.mutate(s, rng, num_mutations=99)
    assert all(s[k] != m_all[k] for k in s)
    # non-canonical input is accepted (canonicalized first)
    messy = {"b0/keep": "skip", "b0/kernel": "5", "b1/keep": "skip", "width": "16"}
    assert cond.contains(cond.mutate(messy, rng))
    # newly activated choice gets an option
    one = SearchSpace(block(0))
    m = one.mutate({"b0/keep": "skip"}, rng)
    assert m["b0/keep"] == "keep" and m["b0/kernel"] in ("3", "5", "7")
    assert one.mutate({"b0/keep": "keep", "b0/kernel": "5"}, np.random.default_rng(0)) != (
        ArchSample({"b0/keep": "keep", "b0/kernel": "5"})
    )
    # empty space: nothing to change
    assert SearchSpace([]).mutate({}, rng) == ArchSample()


def test_mutate_deterministic_and_errors(cond: SearchSpace) -> None:
    s = cond.default_sample()
    a = [cond.mutate(s, np.random.default_rng(7), 2) for _ in range(3)]
    assert a[0] == a[1] == a[2]
    with pytest.raises(ValueError, match="num_mutations.*0"):
        cond.mutate(s, np.random.default_rng(0), num_mutations=0)
    with pytest.raises(TypeError):
        cond.mutate(s, np.random.default_rng(0), num_mutations=1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        cond.mutate(s, np.random.default_rng(0), num_mutations=True)
    with pytest.raises(TypeError, match="Generator"):
        cond.mutate(s, None)  # type: ignore[arg-type]
    with pytest.raises(InvalidSampleError, match="'bogus'"):
        cond.mutate({"bogus": "1"}, np.random.default_rng(0))


def test_crossover(cond: SearchSpace) -> None:
    rng = np.random.default_rng(5)
    for _ in range(200):
        a, b = cond.sample(rng), cond.sample(rng)
        c = cond.crossover(a, b, rng)
        assert cond.contains(c) and list(cond.canonicalize(c)) == list(c)
        for label, option in c.items():
            assert option in (a.get(label), b.get(label))
    x = cond.default_sample()
    assert cond.crossover(x, x, rng) == x
    # a choice active in only one parent is taken from it
    one = SearchSpace(block(0))
    kept = ArchSample({"b0/keep": "keep", "b0/kernel": "7"})
    skipped = ArchSample({"b0/keep": "skip"})
    children = {one.crossover(kept, skipped, rng) for _ in range(50)}
    assert children == {kept, skipped}
    r1, r2 = np.random.default_rng(9), np.random.default_rng(9)
    assert one.crossover(kept, skipped, r1) == one.crossover(kept, skipped, r2)
    with pytest.raises(InvalidSampleError):
        one.crossover(kept, {"b0/keep": "keep"}, rng)
    with pytest.raises(TypeError, match="Generator"):
        one.crossover(kept, skipped, 0)  # type: ignore[arg-type]


# --------------------------------------------------------------------------
# encode / decode
# --------------------------------------------------------------------------


def test_encode(cond: SearchSpace) -> None:
    assert cond.encoding_length == 2 + 3 + 2 + 3 + 3 + 2
    s = {"b0/keep": "skip", "b0/kernel": "7", "b1/keep": "keep", "b1/kernel": "5",
         "width": "64", "b1/dil": "2"}
    v = cond.encode(s)
    assert v.dtype == np.float32 and v.shape == (15,)
    expected = [0, 1, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 1, 0, 1]  # b0/kernel inactive -> zeros
    assert v.tolist() == expected
    with pytest.raises(InvalidSampleError):
        cond.encode({"b0/keep": "skip"})


def test_encode_decode_inverse_over_all(cond: SearchSpace) -> None:
    vectors = set()
    for s in cond.enumerate():
        v = cond.encode(s)
        d = cond.decode(v)
        assert d == s and list(d) == list(s)
        vectors.add(v.tobytes())
    assert len(vectors) == cond.size


def test_decode_argmax_and_errors(cond: SearchSpace) -> None:
    scores = np.arange(cond.encoding_length, dtype=np.float64)[::-1].copy()
    d = cond.decode(scores)  # descending -> first option everywhere
    assert d == cond.canonicalize({"b0/keep": "keep", "b0/kernel": "3", "b1/keep": "keep",
                                   "b1/kernel": "3", "width": "16"})
    d2 = cond.decode(list(np.arange(cond.encoding_length)))  # ascending -> last options
    assert d2 == ArchSample({"b0/keep": "skip", "b1/keep": "skip", "width": "64"})
    with pytest.raises(ValueError, match=r"\(14,\).*\(15,\)"):
        cond.decode(np.zeros(14))
    with pytest.raises(ValueError, match="shape"):
        cond.decode(np.zeros((3, 5)))
    bad = np.zeros(15)
    bad[0] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        cond.decode(bad)


# --------------------------------------------------------------------------
# hypothesis properties over random small spaces
# --------------------------------------------------------------------------


@st.composite
def small_spaces(draw: st.DrawFn) -> SearchSpace:
    n = draw(st.integers(1, 5))
    specs: list[ChoiceSpec] = []
    for i in range(n):
        k = draw(st.integers(2, 4))
        options = tuple(f"o{j}" for j in range(k))
        condition = None
        if specs and draw(st.booleans()):
            parent = specs[draw(st.integers(0, len(specs) - 1))]
            subset = draw(
                st.lists(st.sampled_from(parent.options), min_size=1, unique=True)
            )
            condition = Condition(parent.label, tuple(subset))
        specs.append(ChoiceSpec(f"c{i}", options, condition=condition))
    return SearchSpace(specs)


_HSETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@_HSETTINGS
@given(space=small_spaces(), seed=st.integers(0, 2**32 - 1))
def test_prop_sample_contained_mutate_differs(space: SearchSpace, seed: int) -> None:
    rng = np.random.default_rng(seed)
    s = space.sample(rng)
    assert space.contains(s) and space.canonicalize(s) == s
    m = space.mutate(s, rng, num_mutations=int(rng.integers(1, 4)))
    assert m != s and space.contains(m) and list(space.canonicalize(m)) == list(m)
    c = space.crossover(s, m, rng)
    assert space.contains(c) and list(space.canonicalize(c)) == list(c)


@_HSETTINGS
@given(space=small_spaces(), seed=st.integers(0, 2**32 - 1))
def test_prop_decode_encode_roundtrip(space: SearchSpace, seed: int) -> None:
    s = space.sample(np.random.default_rng(seed))
    assert space.decode(space.encode(s)) == s
    assert SearchSpace.from_dict(json.loads(json.dumps(space.to_dict()))) == space


@_HSETTINGS
@given(space=small_spaces())
def test_prop_size_matches_enumeration(space: SearchSpace) -> None:
    samples = list(space.enumerate())
    assert len(samples) == space.size == len(set(samples))
    assert all(space.contains(s) for s in samples)
    # brute force over the full product, canonicalized
    import itertools

    full = {
        space.canonicalize(dict(zip(space.labels, combo, strict=True)))
        for combo in itertools.product(*(c.options for c in space.choices))
    }
    assert full == set(samples)
    assert space.size <= math.prod(len(c.options) for c in space.choices)
