"""PyTorch front end: ``Choice`` modules in eager models, imported as Relax choice points.

.. code-block:: python

    from tvm_nacos.frontend.torch import Choice, apply_sample
    import tvm_nacos

    class Block(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.op = Choice("block.op", {"conv3x3": nn.Conv2d(8, 8, 3, padding=1),
                                          "conv5x5": nn.Conv2d(8, 8, 5, padding=2)})
        def forward(self, x):
            return torch.relu(self.op(x))

    mod = tvm_nacos.from_torch(Block(), (torch.randn(1, 8, 16, 16),))   # one choice point
    reference = apply_sample(Block(), {"block.op": "conv5x5"})          # the eager architecture

How the import works: one eager forward pass records, for every ``Choice``, its inputs and the
shape of its output. During ``torch.export`` each ``Choice`` then becomes one opaque marker op
(``nacos::choice``) whose fake kernel returns the recorded shape, so the options' weights do not
enter the exported graph. TVM's importer hands every marker to our converter, which exports and
imports each option on its own (recursively, for ``Choice`` modules nested in options), adds the
options and a stub as private Relax functions (see :mod:`tvm_nacos.ir.choice`), and emits a call
to the stub. Weights are kept as Relax constants. The model is imported in inference mode
(``model.eval()``; its training flag is restored afterwards).
"""

from __future__ import annotations

import contextlib
import contextvars
import copy
import functools
import os
import re
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from tvm_nacos.errors import ChoicePointError, NacosError, UnsupportedModelError
from tvm_nacos.search_space import ArchSample, ChoiceSpec, Condition, SearchSpace

__all__ = ["Choice", "apply_sample", "choices", "from_torch", "torch_search_space"]

def _module_keys(names: Sequence[str], owner: nn.Module) -> dict[str, str]:
    """The ``nn.ModuleDict`` key of each option: its name where PyTorch accepts it as a
    sub-module name (so ``state_dict`` keys stay readable), else a sanitized, unique one."""
    keys: dict[str, str] = {}
    for name in names:
        key = name
        if not key or "." in key or hasattr(owner, key) or key in keys.values():
            key = "option_" + (re.sub(r"\W", "_", name) or "_")
            while key in keys.values():
                key += "_"
        keys[name] = key
    return keys


class Choice(nn.Module):
    """A choice point in a PyTorch model: one of several sub-modules computes the output.

    Parameters
    ----------
    label : str
        Stable label, unique in the model (for example ``"stage2.block1.kernel"``).
    options : Mapping[str, torch.nn.Module]
        Option name → module. Names are any distinct, non-empty strings (``"3x3"``, ``"0"``,
        ``"k=5"``); where one is not a valid sub-module name it is stored under a sanitized key
        (:meth:`option` finds it). Every option takes the same inputs and returns a tensor of the
        same shape and dtype.
    default : str, optional
        The option used when none is selected; the first by default.
    site : str, optional
        Where this module applies the decision ``label``, when several ``Choice`` modules share
        one label (for example the same cell edge repeated at several widths). Sites of one
        label must have the same option names; :func:`apply_sample` sets them all alike.

    Attributes
    ----------
    selected : str or None
        The option that eager ``forward`` runs; ``None`` runs ``default``. Set it with
        :func:`apply_sample`.
    """

    def __init__(
        self,
        label: str,
        options: Mapping[str, nn.Module],
        *,
        default: str | None = None,
        site: str | None = None,
    ) -> None:
        super().__init__()
        names = list(options)
        if len(names) < 2:
            raise ChoicePointError(
                f"Choice {label!r} has {len(names)} option(s) {names}; a choice point needs at least two",
                label=label,
            )
        bad = [n for n in names if not isinstance(n, str) or not n]
        if bad:
            raise ChoicePointError(
                f"Choice {label!r}: option names {bad} are not non-empty strings",
                label=label,
                option=str(bad[0]),
            )
        default = names[0] if default is None else default
        if default not in options:
            raise ChoicePointError(
                f"Choice {label!r}: default {default!r} is not one of its options {names}",
                label=label,
                option=default,
            )
        self.label = label
        self._keys = _module_keys(names, nn.ModuleDict())
        self.options = nn.ModuleDict({self._keys[n]: module for n, module in options.items()})
        self.option_names: tuple[str, ...] = tuple(names)
        self.default = default
        self.site = site
        self.selected: str | None = None

    @property
    def active(self) -> str:
        """The option that ``forward`` runs."""
        return self.selected or self.default

    def option(self, name: str) -> nn.Module:
        """The module of option ``name``."""
        if name not in self._keys:
            raise ChoicePointError(
                f"Choice {self.label!r} has no option {name!r}; valid: {list(self.option_names)}",
                label=self.label,
                option=name,
            )
        return self.options[self._keys[name]]

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        state = _IMPORT_STATE.get()
        if state is not None and state.exporting:
            return _choice_op()(list(inputs), self.label, self.site or "")
        output = self.option(self.active)(*inputs)
        if state is not None:
            state.record(self, inputs, output)
        return output

    def extra_repr(self) -> str:
        site = "" if self.site is None else f", site={self.site!r}"
        return f"label={self.label!r}{site}, options={list(self.option_names)}, active={self.active!r}"


# ----------------------------------------------------------------------------------------------
# Import state: what one eager pass recorded, shared with the marker op and the converter.


@dataclass
class _Recorded:
    choice: Choice
    inputs: tuple[torch.Tensor, ...]
    output_shape: tuple[int, ...]
    output_dtype: torch.dtype


@dataclass
class _ImportState:
    exporting: bool = False
    recorded: dict[tuple[str, str], _Recorded] = field(default_factory=dict)  # (label, site)
    stubs: dict[tuple[str, str], Any] = field(default_factory=dict)  # (label, site) -> GlobalVar
    decomposed: dict[tuple, Any] = field(default_factory=dict)  # structure key -> ExportedProgram

    def record(self, choice: Choice, inputs: Sequence[torch.Tensor], output: torch.Tensor) -> None:
        key = (choice.label, choice.site or "")
        previous = self.recorded.get(key)
        if previous is not None and previous.choice is not choice:
            raise ChoicePointError(
                f"duplicate choice label {choice.label!r}: two different Choice modules use it; "
                "labels must be unique in a model (Choice modules that share a decision need "
                "distinct sites)",
                label=choice.label,
            )
        if not isinstance(output, torch.Tensor):
            raise ChoicePointError(
                f"Choice {choice.label!r}: option {choice.active!r} returns {type(output).__name__}, "
                "a choice must return one tensor",
                label=choice.label,
                option=choice.active,
            )
        shapes = [tuple(t.shape) for t in inputs]
        if previous is not None and [tuple(t.shape) for t in previous.inputs] != shapes:
            raise ChoicePointError(
                f"Choice {choice.label!r} is called with inputs of shapes {shapes} and "
                f"{[tuple(t.shape) for t in previous.inputs]}; a reused choice needs the same shapes",
                label=choice.label,
            )
        self.recorded[key] = _Recorded(
            choice, tuple(t.detach().clone() for t in inputs), tuple(output.shape), output.dtype
        )


_IMPORT_STATE: contextvars.ContextVar[_ImportState | None] = contextvars.ContextVar(
    "tvm_nacos_import_state", default=None
)


@functools.cache
def _choice_op() -> Callable[..., torch.Tensor]:
    """Register (once) the marker op that stands for a ``Choice`` inside ``torch.export``."""

    @torch.library.custom_op("nacos::choice", mutates_args=())
    def choice(inputs: list[torch.Tensor], label: str, site: str) -> torch.Tensor:
        raise RuntimeError("nacos::choice only exists while tvm_nacos.from_torch exports a model")

    @choice.register_fake
    def _(inputs: list[torch.Tensor], label: str, site: str) -> torch.Tensor:
        state = _IMPORT_STATE.get()
        if state is None or (label, site) not in state.recorded:
            raise RuntimeError(f"nacos::choice {label!r} (site {site!r}) was not recorded before export")
        rec = state.recorded[(label, site)]
        return inputs[0].new_empty(rec.output_shape, dtype=rec.output_dtype)

    return choice


@contextlib.contextmanager
def _inference_mode(model: nn.Module) -> Iterator[None]:
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(was_training)


@contextlib.contextmanager
def _exporting(state: _ImportState, value: bool) -> Iterator[None]:
    previous, state.exporting = state.exporting, value
    try:
        yield
    finally:
        state.exporting = previous


def _structure_key(module: nn.Module, args: tuple[torch.Tensor, ...]) -> tuple | None:
    """What makes two option modules import to the same Relax function up to their weights.

    ``repr`` names every submodule's class and hyper-parameters. Options that contain a
    ``Choice`` are not reused (their nested choice points are per site).
    """
    if any(isinstance(m, Choice) for m in module.modules()):
        return None
    return (repr(module), tuple((tuple(a.shape), a.dtype) for a in args))


def _with_weights_of(template: torch.export.ExportedProgram, module: nn.Module) -> torch.export.ExportedProgram | None:
    """``template`` (an exported, decomposed program) with ``module``'s parameters and buffers."""
    tensors = dict(module.state_dict(keep_vars=False))
    tensors.update(dict(module.named_buffers()))  # non-persistent buffers live in ``constants``
    if not set(template.state_dict) <= set(tensors):
        return None
    program = copy.copy(template)
    program._state_dict = {name: tensors[name] for name in template.state_dict}
    program._constants = {
        name: tensors.get(name, value) for name, value in template.constants.items()
    }
    return program


#: The modules of PyTorch that call ``_collect_all_valid_cia_ops`` by the name they imported.
_CIA_OPS_USERS = ("torch.export.exported_program", "torch.export.decomp_utils")


@contextlib.contextmanager
def _cia_ops_collected_once() -> Iterator[None]:
    """Within the block, PyTorch lists its CompositeImplicitAutograd ops once, not per export.

    Every ``run_decompositions`` walks every op namespace to list those ops again (a third of
    a mobilenet-v2 supernet's import: 139 options, each exported and decomposed). No op is
    registered while a model is imported, so the list is the same each time. Where this
    PyTorch does not have the function, nothing changes.
    """
    import importlib

    modules = [importlib.import_module(name) for name in _CIA_OPS_USERS]
    originals = [getattr(m, "_collect_all_valid_cia_ops", None) for m in modules]
    if any(f is None for f in originals):
        yield
        return
    collected: list[frozenset[Any]] = []

    def collect_once() -> frozenset[Any]:
        if not collected:
            collected.append(frozenset(originals[0]()))
        return collected[0]

    for module in modules:
        module._collect_all_valid_cia_ops = collect_once
    try:
        yield
    finally:
        for module, original in zip(modules, originals, strict=True):
            module._collect_all_valid_cia_ops = original


def _export_and_import(module: nn.Module, args: tuple[torch.Tensor, ...], state: _ImportState, root_bb: Any) -> Any:
    """Record ``module``'s choices with one eager pass, export it, import it; returns the IRModule.

    Most of an import is PyTorch's decomposition to core ATen. Options of identical structure
    (NAS-Bench-201 repeats 5 ops at 3 widths over 90 sites) are decomposed once; later ones
    reuse that program with their own weights.
    """
    from tvm.relax.frontend.torch import from_exported_program

    with _exporting(state, False):
        module(*args)
    convert = functools.partial(_convert_choice, state=state, root_bb=root_bb)
    key = _structure_key(module, args)
    with warnings.catch_warnings():
        # torch 2.13 warns about its own pytree internals during export and decomposition.
        warnings.filterwarnings("ignore", message=".*LeafSpec.*", category=FutureWarning)
        program = None
        if key is not None and key in state.decomposed:
            program = _with_weights_of(state.decomposed[key], module)
        if program is None:
            with _exporting(state, True):
                program = torch.export.export(module, args).run_decompositions()
            if key is not None:
                state.decomposed[key] = program
        try:
            return from_exported_program(
                program,
                unwrap_unit_return_tuple=True,
                custom_convert_map={"choice.default": convert},
                run_ep_decomposition=False,
            )
        except NacosError:
            raise  # from a nested option: it already names its op or choice
        except AssertionError as err:
            match = re.search(r"Unsupported function types? (\[.*\])", str(err))
            if match is None:
                raise
            raise UnsupportedModelError(
                f"TVM's PyTorch importer cannot convert the op(s) {match.group(1)} of "
                f"{type(module).__name__}; replace them or register a converter with TVM"
            ) from err
        except Exception as err:
            # A converter exists but fails on this use of the op (dtype, arguments): name the op.
            node = _failing_node(err)
            if node is None:
                raise
            lines = [line.strip() for line in str(err).strip().splitlines() if line.strip()]
            raise UnsupportedModelError(
                f"TVM's PyTorch importer cannot convert the op {node.target} (node {node.name!r}) of "
                f"{type(module).__name__}: {type(err).__name__}: {lines[-1] if lines else ''}; "
                "rewrite that part of the model or register a converter with TVM"
            ) from err


def _failing_node(err: BaseException) -> Any:
    """The ``torch.fx.Node`` TVM's importer was converting when ``err`` was raised, if any.

    ``None`` when the error did not come from converting an op (for example when exporting a
    nested option failed inside our own ``nacos::choice`` converter).
    """
    node = None
    tb = err.__traceback__
    while tb is not None:
        candidate = tb.tb_frame.f_locals.get("node")
        in_importer = "relax/frontend/torch" in tb.tb_frame.f_code.co_filename.replace(os.sep, "/")
        if in_importer and isinstance(candidate, torch.fx.Node):
            node = candidate  # the innermost frame converting a node wins
        tb = tb.tb_next
    if node is None or "nacos" in str(node.target):
        return None
    return node


def _convert_choice(node: Any, importer: Any, *, state: _ImportState, root_bb: Any) -> Any:
    """Converter for ``nacos::choice``: import every option, add the choice point, call its stub."""
    from tvm import relax

    from tvm_nacos.ir.builder import add_choice_point

    inputs = [importer.env[arg] for arg in node.args[0]]
    key = (str(node.args[1]), str(node.args[2]))
    if key not in state.stubs:
        rec = state.recorded[key]
        options = {}
        for name in rec.choice.option_names:
            option_mod = _export_and_import(rec.choice.option(name), rec.inputs, state, root_bb)
            options[name] = option_mod["main"]
        state.stubs[key] = add_choice_point(
            root_bb, rec.choice.label, options, default=rec.choice.default, site=rec.choice.site
        )
    return importer.block_builder.emit(relax.Call(state.stubs[key], inputs))


def from_torch(model: nn.Module, example_args: Sequence[torch.Tensor]) -> Any:
    """Import a PyTorch model whose ``Choice`` modules become Relax choice points.

    Parameters
    ----------
    model : torch.nn.Module
        Any model; its ``Choice`` modules (at any depth, nested ones included) become choice
        points with the same labels and option names. It is imported in inference mode.
    example_args : Sequence[torch.Tensor]
        Inputs of one forward call; they fix the static shapes of the module.

    Returns
    -------
    tvm.IRModule
        ``main`` takes the model's inputs; weights are Relax constants.

    Raises
    ------
    ChoicePointError
        Options that disagree on their output shape or dtype, duplicate labels.
    UnsupportedModelError
        An op that TVM's importer cannot convert (named in the message).
    """
    from tvm import relax

    from tvm_nacos.passes import CheckChoicePoints

    args = tuple(example_args)
    state = _ImportState()
    root_bb = relax.BlockBuilder()
    token = _IMPORT_STATE.set(state)
    try:
        with _inference_mode(model), _cia_ops_collected_once():
            top = _export_and_import(model, args, state, root_bb)
    finally:
        _IMPORT_STATE.reset(token)
    for gv, func in top.functions_items():
        root_bb.add_func(func, gv.name_hint)
    return CheckChoicePoints()(root_bb.get())


# ----------------------------------------------------------------------------------------------
# Eager side: the space of a model and the reference of one architecture.


def choices(model: nn.Module) -> list[Choice]:
    """The ``Choice`` modules of ``model``, in module order (parents before nested ones)."""
    return [m for m in model.modules() if isinstance(m, Choice)]


def torch_search_space(model: nn.Module) -> SearchSpace:
    """The search space of the ``Choice`` modules of an eager model.

    A ``Choice`` inside an option of another ``Choice`` is conditional on that option; the sites
    of one label are active when any of them is (their conditions are united, as
    :func:`tvm_nacos.analysis.search_space` does on the IR). Unlike that function, this walks
    modules, not the forward pass: a ``Choice`` that ``forward`` never calls still counts.
    """
    first: dict[str, Choice] = {}
    contexts: dict[str, list[tuple[str, str] | None]] = {}
    sites: set[tuple[str, str | None]] = set()

    def walk(module: nn.Module, context: tuple[str, str] | None) -> None:
        if isinstance(module, Choice):
            if (module.label, module.site) in sites:
                raise ChoicePointError(
                    f"duplicate choice label {module.label!r}: labels must be unique in a model "
                    "(Choice modules that share a decision need distinct sites)",
                    label=module.label,
                )
            sites.add((module.label, module.site))
            reference = first.setdefault(module.label, module)
            if (reference.option_names, reference.default) != (module.option_names, module.default):
                raise ChoicePointError(
                    f"choice {module.label!r}: site {module.site!r} has options {list(module.option_names)} "
                    f"but site {reference.site!r} has {list(reference.option_names)}; sites of one choice must agree",
                    label=module.label,
                )
            contexts.setdefault(module.label, []).append(context)
            for name in module.option_names:
                walk(module.option(name), (module.label, name))
            return
        for child in module.children():
            walk(child, context)

    walk(model, None)
    specs = []
    for label, choice in first.items():
        where = contexts[label]
        condition = None
        if None not in where:
            parents = sorted({parent for parent, _ in where})
            if len(parents) > 1:
                raise ChoicePointError(
                    f"choice {label!r} is nested inside options of several choices {parents}; "
                    "a choice may depend on one parent only",
                    label=label,
                )
            parent = first[parents[0]]
            condition = Condition(parent.label, tuple(o for o in parent.option_names if (parent.label, o) in where))
        specs.append(ChoiceSpec(label, choice.option_names, choice.default, condition))
    return SearchSpace(specs)


def apply_sample(model: nn.Module, sample: ArchSample | Mapping[str, str]) -> nn.Module:
    """Fix every ``Choice`` of an eager model to the option ``sample`` selects.

    The model is changed in place and returned: it is then the PyTorch reference of that
    architecture. Choices that the sample leaves out because they are inactive run their
    default.

    Raises
    ------
    InvalidSampleError
        A label or option the model does not have (the message lists the valid ones), or a
        missing active label.
    """
    sample = sample if isinstance(sample, ArchSample) else ArchSample(sample)
    torch_search_space(model).validate(sample)
    for choice in choices(model):
        choice.selected = sample.get(choice.label)
    return model
