"""The import layering of tvm-nacos, read from the source of every module.

``tests/test_import_light.py`` checks what one import loads at run time; this module reads the
AST of every library module and checks every import in it, lazy ones inside functions and
``TYPE_CHECKING`` blocks included, plus the two other ways a module reaches another: a string
naming a module of ours (``importlib.import_module("tvm_nacos.x")``, ``"tvm_nacos.x:attr"``
registries) and a lazy attribute of the package root (``from tvm_nacos import search``).

The rules are the tables below; STYLE.md ("Conventions") gives the direction.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib.util
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

import tvm_nacos

ROOT = "tvm_nacos"

#: The layers, top to bottom. A module may import modules of its own layer and of the layers
#: below it, never above. A name matches a module and its submodules (the longest name wins).
#: ``tvm_nacos.testing`` (test doubles) sits on top so that no library module can import it.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("testing", ("tvm_nacos.testing",)),
    ("cli", ("tvm_nacos.cli",)),
    ("interface", ("tvm_nacos.interface", "tvm_nacos.export", "tvm_nacos.pipeline")),
    ("search", ("tvm_nacos.cosearch", "tvm_nacos.accuracy", "tvm_nacos.report", "tvm_nacos.targets_report")),
    ("tuning", ("tvm_nacos.tuning",)),
    ("frontend", ("tvm_nacos.frontend", "tvm_nacos.models", "tvm_nacos.examples")),
    ("passes", ("tvm_nacos.passes",)),
    ("ir", ("tvm_nacos.ir", "tvm_nacos.analysis")),
    ("base", ("tvm_nacos._compat", "tvm_nacos.errors", "tvm_nacos.target", "tvm_nacos.workdir", "tvm_nacos.data")),
    ("search_space", ("tvm_nacos.search_space",)),
)

#: TVM paths that moved in 0.27 (``tvm.tir`` → ``tvm.tirx``, schedules and MetaSchedule →
#: ``tvm.s_tir``, structural equality → ``tvm_ffi``, struct info → ``TensorType``, Relax
#: constants → ``GenericConst``), in an import, an attribute chain of the code or a string that
#: is not a docstring; and, in strings only, the names that moved with them (global functions
#: ``s_tir.meta_schedule.*``, attributes ``tirx.*``). Only ``tvm_nacos._compat`` names them.
MOVED_TVM_PATHS = r"(tvm\.s_tir|tvm\.tirx|tvm_ffi|(tvm\.)?relax\.TensorType|(tvm\.)?ir\.GenericConst)(\.|$)"
MOVED_TVM_NAMES = r"(s_tir|tirx)\."


@dataclasses.dataclass(frozen=True)
class Rule:
    """No module under ``importer`` imports a name that ``forbidden`` matches (except ``allowed``)."""

    name: str
    importer: str
    forbidden: str
    why: str
    allowed: str = r"(?!)"


#: The rules besides the direction of the layers (regular expressions over dotted names).
RULES: tuple[Rule, ...] = (
    Rule(
        "search_space is pure",
        importer=r"tvm_nacos\.search_space",
        forbidden=r"(tvm_nacos|tvm|tvm_ffi|torch|tests)(\.|$)",
        allowed=r"tvm_nacos\.search_space(\.|$)",
        why="space definitions only: numpy and the standard library; tvm_nacos registers the builders",
    ),
    Rule(
        "moved TVM paths only in _compat",
        importer=r"tvm_nacos(?!\._compat$)",
        forbidden=f"{MOVED_TVM_PATHS}|{MOVED_TVM_NAMES}",
        why="a TVM upgrade touches one file (tvm_nacos/_compat.py)",
    ),
    Rule(
        "passes and ir stay below the search",
        importer=r"tvm_nacos\.(passes|ir)(\.|$)",
        forbidden=r"tvm_nacos\.(cosearch|tuning|cli|interface)(\.|$)",
        why="IR and passes compose in tvm.transform.Sequential without the search",
    ),
    Rule(
        "no test code in the library",
        importer=r"tvm_nacos(?!\.testing(\.|$))",
        forbidden=r"(tests|tvm_nacos\.testing|pytest|hypothesis)(\.|$)",
        why="test doubles live in tvm_nacos.testing, which only tests import",
    ),
)


@dataclasses.dataclass(frozen=True)
class Reference:
    """One dotted name a module reaches, with the line that reaches it."""

    name: str
    line: int
    how: str  # "import", "string" or "attribute"


def _library_files() -> dict[str, Path]:
    """Every library module by dotted name (``tvm_nacos.passes`` lives in ``passes/``...)."""
    files: dict[str, Path] = {}
    todo = [ROOT]
    while todo:
        package = todo.pop()
        spec = importlib.util.find_spec(package)
        assert spec is not None and spec.submodule_search_locations, package
        for directory in map(Path, spec.submodule_search_locations):
            for path in sorted(directory.glob("*.py")):
                files[package if path.stem == "__init__" else f"{package}.{path.stem}"] = path
            for sub in sorted(directory.iterdir()):
                if (sub / "__init__.py").is_file() and f"{package}.{sub.name}" not in files:
                    todo.append(f"{package}.{sub.name}")
        for name in ("passes", "search_space") if package == ROOT else ():
            todo.append(f"{ROOT}.{name}")
    return files


FILES = _library_files()


def _docstrings(tree: ast.AST) -> set[int]:
    """Ids of the string constants that document (module, class and function docstrings, bare strings)."""
    return {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
    }


def _dotted(node: ast.expr) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return ".".join([node.id, *reversed(parts)])


def references(source: str, module: str, *, is_package: bool = False) -> Iterator[Reference]:
    """Every dotted name that a module's source reaches, wherever in the file.

    ``from a import b`` gives ``a.b`` (a submodule or a name of ``a``: both are reached through
    ``a``); relative imports are resolved against ``module``; a lazy attribute of the package
    root gives the module that defines it.
    """
    tree = ast.parse(source)
    docs = _docstrings(tree)
    lazy_attrs = getattr(tvm_nacos, "_LAZY_ATTRS", {})
    package = module if is_package else module.rpartition(".")[0]
    # ``tvm.tirx.PrimFunc`` is one reference, not also ``tvm.tirx``.
    inner = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Reference(alias.name, node.lineno, "import")
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            for alias in node.names:
                if base == ROOT and alias.name in lazy_attrs:
                    yield Reference(lazy_attrs[alias.name][0], node.lineno, "import")
                elif alias.name == "*" or (base == ROOT and alias.name.startswith("__")):
                    yield Reference(base, node.lineno, "import")
                else:
                    yield Reference(f"{base}.{alias.name}", node.lineno, "import")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            target = node.value.partition(":")[0]
            if target in FILES or re.match(f"{MOVED_TVM_PATHS}|{MOVED_TVM_NAMES}", node.value):
                yield Reference(target if target in FILES else node.value, node.lineno, "string")
        elif isinstance(node, ast.Attribute) and id(node) not in inner:
            dotted = _dotted(node)
            if dotted is not None and re.match(MOVED_TVM_PATHS, dotted):
                yield Reference(dotted, node.lineno, "attribute")


def _ours(name: str) -> str | None:
    """The library module a dotted name falls in (the longest module prefix), or ``None``."""
    while name:
        if name in FILES:
            return name
        name = name.rpartition(".")[0]
    return None


def layer_of(module: str) -> int:
    """Index of the layer of a module in :data:`LAYERS` (0 is the top)."""
    best = max(
        ((len(prefix), index) for index, (_, prefixes) in enumerate(LAYERS) for prefix in prefixes
         if module == prefix or module.startswith(prefix + ".")),
        default=None,
    )
    if best is None:
        raise LookupError(f"module {module} is in no layer of LAYERS; add it to the table")
    return best[1]


def _all_references() -> list[tuple[str, Reference]]:
    found = []
    for module, path in FILES.items():
        for ref in references(path.read_text(encoding="utf-8"), module, is_package=path.stem == "__init__"):
            found.append((module, ref))
    return found


REFERENCES = _all_references()


def _where(module: str, ref: Reference) -> str:
    return f"{FILES[module].relative_to(FILES[ROOT].parent.parent)}:{ref.line} ({module}) {ref.how} {ref.name}"


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.name)
def test_rule(rule: Rule) -> None:
    violations = [
        _where(module, ref)
        for module, ref in REFERENCES
        if re.match(rule.importer, module)
        and re.match(rule.forbidden, _ours(ref.name) or ref.name)
        and not re.match(rule.allowed, _ours(ref.name) or ref.name)
    ]
    assert not violations, f"{rule.name} ({rule.why}):\n" + "\n".join(violations)


def test_every_module_has_a_layer() -> None:
    unplaced = []
    for module in FILES:
        if module == ROOT:
            continue
        try:
            layer_of(module)
        except LookupError:
            unplaced.append(module)
    assert not unplaced, f"modules in no layer of LAYERS: {unplaced}"


def test_imports_point_down() -> None:
    """A module imports its own layer or lower ones; the package root (a lazy facade) is exempt."""
    violations = []
    for module, ref in REFERENCES:
        target = _ours(ref.name)
        if module == ROOT or target is None or target == ROOT:
            continue
        if layer_of(target) < layer_of(module):
            upward = f"layer {LAYERS[layer_of(module)][0]} imports layer {LAYERS[layer_of(target)][0]}"
            violations.append(f"{_where(module, ref)}: {upward}")
    assert not violations, "imports against the direction of the layers:\n" + "\n".join(violations)


class TestScanner:
    """The scanner sees every kind of reference (a blind scanner would pass every rule)."""

    source = '''
"""Docstring naming tvm.s_tir.schedule and tvm_nacos.cosearch.search, which is not a reference."""
from typing import TYPE_CHECKING
from . import sibling
from ..ir import choice
from tvm_nacos import search, __version__

if TYPE_CHECKING:
    import torch

_REGISTRY = {"joint": "tvm_nacos.cosearch.strategies.joint:run_joint"}

def lazy():
    from tvm.s_tir.meta_schedule import runner
    return tvm.tirx.PrimFunc, f"s_tir.meta_schedule.{runner}"
'''

    def test_references(self) -> None:
        found = {(ref.name, ref.how) for ref in references(self.source, "tvm_nacos.passes.example")}
        assert found == {
            ("typing.TYPE_CHECKING", "import"),
            ("tvm_nacos.passes.sibling", "import"),
            ("tvm_nacos.ir.choice", "import"),
            ("tvm_nacos.cosearch.search", "import"),  # lazy attribute of the root
            ("tvm_nacos", "import"),  # __version__
            ("torch", "import"),  # under TYPE_CHECKING
            ("tvm_nacos.cosearch.strategies.joint", "string"),
            ("tvm.s_tir.meta_schedule.runner", "import"),  # inside a function
            ("tvm.tirx.PrimFunc", "attribute"),
            ("s_tir.meta_schedule.", "string"),  # the constant part of the f-string
        }

    def test_relative_import_in_package(self) -> None:
        source = "from .builtin import BuiltinSpace"
        found = {ref.name for ref in references(source, "tvm_nacos.search_space", is_package=True)}
        assert found == {"tvm_nacos.search_space.builtin.BuiltinSpace"}

    def test_finds_the_library(self) -> None:
        assert {"tvm_nacos._compat", "tvm_nacos.passes", "tvm_nacos.search_space.space"} <= set(FILES)
        assert FILES["tvm_nacos.passes"].parent.name == "passes"
        assert _ours("tvm_nacos.search_space.builtin.BuiltinSpace") == "tvm_nacos.search_space.builtin"
        assert _ours("tvm.s_tir") is None

    def test_sees_lazy_imports_of_the_library(self) -> None:
        edges = {(module, _ours(ref.name)) for module, ref in REFERENCES}
        # Inside a function of tvm_nacos.models, and the package root registering the builders.
        assert ("tvm_nacos.models", "tvm_nacos.models.nas_bench_201") in edges
        assert ("tvm_nacos", "tvm_nacos.models") in edges
        # The strategies' "module:function" registry.
        assert ("tvm_nacos.cosearch.strategies", "tvm_nacos.cosearch.strategies.joint") in edges

    def test_direction(self) -> None:
        assert layer_of("tvm_nacos.cli") < layer_of("tvm_nacos.cosearch.search") < layer_of("tvm_nacos.tuning.tasks")
        assert layer_of("tvm_nacos.passes.expose_base") < layer_of("tvm_nacos.ir.choice")
        assert layer_of("tvm_nacos.ir.choice") < layer_of("tvm_nacos._compat")
        assert layer_of("tvm_nacos.search_space.space") == len(LAYERS) - 1
        with pytest.raises(LookupError, match="tvm_nacos.elsewhere"):
            layer_of("tvm_nacos.elsewhere")
