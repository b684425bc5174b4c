"""Measurement: fast builders, runners (local and RPC), task extraction and pooling, tuning."""

from tvm_nacos.tuning.builder import PersistentBuilder, build_candidate
from tvm_nacos.tuning.database import database_dir, open_database
from tvm_nacos.tuning.intrin import register_tensor_intrinsics
from tvm_nacos.tuning.runner import MeasureConfig, RPCEndpoint, make_runner
from tvm_nacos.tuning.tasks import TaskPool, extract_tasks, lower_for_tuning, simplify_for_inference
from tvm_nacos.tuning.tune import TaskResult, TunedArchitecture, finish_architecture, tune_architecture, tune_kernels

__all__ = [
    "MeasureConfig",
    "PersistentBuilder",
    "RPCEndpoint",
    "TaskPool",
    "TaskResult",
    "TunedArchitecture",
    "build_candidate",
    "database_dir",
    "extract_tasks",
    "finish_architecture",
    "lower_for_tuning",
    "make_runner",
    "open_database",
    "register_tensor_intrinsics",
    "simplify_for_inference",
    "tune_architecture",
    "tune_kernels",
]
