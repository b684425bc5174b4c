"""Choice points in Relax IR: their representation, discovery and construction."""

from tvm_nacos.ir.builder import add_choice_point, emit_choice
from tvm_nacos.ir.choice import (
    ATTR_CHOICE,
    ATTR_DEFAULT,
    ATTR_OPTION,
    ATTR_OPTION_FUNCS,
    ATTR_OPTION_OF,
    ATTR_OPTIONS,
    ATTR_SITE,
    ChoicePoint,
    find_choice_points,
    is_choice_function,
)

__all__ = [
    "ATTR_CHOICE",
    "ATTR_DEFAULT",
    "ATTR_OPTION",
    "ATTR_OPTION_FUNCS",
    "ATTR_OPTION_OF",
    "ATTR_OPTIONS",
    "ATTR_SITE",
    "ChoicePoint",
    "add_choice_point",
    "emit_choice",
    "find_choice_points",
    "is_choice_function",
]
