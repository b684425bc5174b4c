"""Arguments that several subcommands share, their parsing, and how results are listed."""

from __future__ import annotations

import argparse
import json
from typing import Any

__all__ = [
    "DEFAULT_WORK_DIR",
    "add_space_or_model",
    "add_subparser",
    "add_target",
    "add_work_dir",
    "parse_duration",
    "parse_sample",
    "parse_space_options",
    "print_files",
]

DEFAULT_WORK_DIR = "nacos-work"


def add_subparser(commands: Any, name: str, help_text: str, description: str, epilog: str) -> argparse.ArgumentParser:
    """A subcommand's parser, its epilog (the examples) printed as written."""
    return commands.add_parser(
        name, help=help_text, description=description, epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def add_target(parser: argparse.ArgumentParser) -> None:
    """``--target JSON``."""
    parser.add_argument("--target", metavar="JSON", help="TVM target as JSON; the host CPU by default")


def add_work_dir(parser: argparse.ArgumentParser, help_text: str = f"default ./{DEFAULT_WORK_DIR}") -> None:
    """``--work-dir DIR``."""
    parser.add_argument("--work-dir", default=DEFAULT_WORK_DIR, metavar="DIR", help=help_text)


def add_space_or_model(parser: argparse.ArgumentParser) -> None:
    """``--space NAME`` or ``--model FILE``, and ``--space-option KEY=VALUE``."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--space", metavar="NAME",
                       help="a built-in space (see `tvm-nacos spaces`); nas-bench-201 by default")
    group.add_argument("--model", metavar="FILE", help="an IRModule with choice points saved with tvm.ir.save_json")
    parser.add_argument(
        "--space-option", action="append", default=[], metavar="KEY=VALUE", dest="space_options",
        help="an option of the built-in space, e.g. resolution=32 for mobilenet-v2 (repeatable)",
    )


def parse_sample(text: str | None, option: str = "--sample") -> dict[str, str] | None:
    """``--sample``'s JSON object ``{label: option}``, or ``None`` when not given.

    Raises
    ------
    ValueError
        Not JSON, or not an object of strings.
    """
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"{option} must be a JSON object {{label: option}}: {err}") from err
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise ValueError(f"{option} must be a JSON object of strings {{label: option}}, got {text!r}")
    return value


_SECONDS_PER_UNIT = {"s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str | None, option: str = "--time-budget") -> float | None:
    """``"90"``, ``"90s"``, ``"15m"``, ``"1.5h"`` → seconds; ``None`` when not given.

    Raises
    ------
    ValueError
        Not a positive number with an optional unit ``s``, ``m`` or ``h`` (the message names
        ``option`` and the valid forms).
    """
    if text is None:
        return None
    value = text.strip().lower()
    unit = value[-1] if value[-1:] in _SECONDS_PER_UNIT else "s"
    number = value[:-1] if value[-1:] in _SECONDS_PER_UNIT else value
    try:
        secs = float(number) * _SECONDS_PER_UNIT[unit]
    except ValueError:
        secs = float("nan")
    if not secs > 0 or secs == float("inf"):
        raise ValueError(f"{option} takes a positive duration: seconds, or a number with s, m or h "
                         f"(90, 90s, 15m, 1.5h); got {text!r}")
    return secs


def parse_space_options(items: list[str], option: str = "--space-option", example: str = "resolution=32") -> dict[str, Any]:
    """``["resolution=32", "width_mult=0.75"]`` → ``{"resolution": 32, "width_mult": 0.75}``.

    A value is read as an int, else a float, else kept as text; the space (or, for
    ``--schedule-option``, the search) checks the names and values (its error lists the valid ones).

    Raises
    ------
    ValueError
        An item is not ``KEY=VALUE`` (the message names ``option`` and shows ``example``).
    """
    options: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip() or not text.strip():
            raise ValueError(f"{option} takes KEY=VALUE, for example {example}; got {item!r}")
        value: Any = text.strip()
        for convert in (int, float):
            try:
                value = convert(value)
                break
            except ValueError:
                continue
        options[key.strip()] = value
    return options


def print_files(files: dict[str, Any]) -> None:
    """The result and report files, one a line, labelled."""
    labels = {"json": "result", "csv": "table", "png": "plot", "md": "report"}
    for key in ("json", "csv", "png", "md"):
        if key in files:
            print(f"  {labels[key]:<7}{files[key]}")
