"""Print bench result files side by side: provenance, config, and figures with ratios to the first.

By default the figures are each file's ``summary`` (the headline figures the benchmark picks);
``--all`` compares every number of the full ``result`` instead, ``--match REGEX`` keeps the
figures whose name matches. A ratio is the later file's value over the first file's.

Usage::

    python bench/compare.py bench/results/search_overhead/81cc093.json bench/results/search_overhead/8326378.json
    python bench/compare.py A.json B.json --all --match 'runs\\[0\\]' --markdown
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from harness import UNKNOWN, load_result

#: Lists longer than this are left out of ``--all`` (per-architecture and per-cell records).
MAX_LIST = 32


def flatten(value: Any, prefix: str = "", *, max_list: int = MAX_LIST) -> dict[str, Any]:
    """Scalars of a nested result by dotted name (``runs[0].hv``); lists longer than ``max_list`` are skipped."""
    out: dict[str, Any] = {}
    if isinstance(value, Mapping):
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}.{key}" if prefix else str(key), max_list=max_list))
    elif isinstance(value, list):
        if len(value) <= max_list:
            for i, item in enumerate(value):
                out.update(flatten(item, f"{prefix}[{i}]", max_list=max_list))
    else:
        out[prefix] = value
    return out


def figures(document: Mapping[str, Any], *, everything: bool = False) -> dict[str, Any]:
    """The figures compared: the ``summary``, or the flattened ``result`` (``everything``, or no summary)."""
    if not everything and isinstance(document.get("summary"), Mapping):
        return dict(document["summary"])
    return flatten(document["result"])


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def ratio(first: Any, other: Any) -> str:
    """``other / first`` as text: ``1.23x``; ``same`` / ``differs`` for non-numbers; blank if either is missing."""
    a, b = _number(first), _number(other)
    if first is None or other is None:
        return ""
    if a is None or b is None:
        return "same" if first == other else "differs"
    if a == 0:
        return "same" if b == 0 else ""
    return f"{b / a:.2f}x"


def format_value(value: Any) -> str:
    """A figure as text: floats to 4 significant digits, missing as ``—``."""
    if value is None:
        return "—"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return f"{value:.4g}" if abs(value) < 1e6 else f"{value:,.0f}"
    return str(value)


def header_rows(documents: Sequence[Mapping[str, Any]], paths: Sequence[str]) -> list[list[str]]:
    """What was run where: file, benchmark, label, commit, date, machine, versions, command."""

    def prov(doc: Mapping[str, Any], *keys: str) -> Any:
        value: Any = doc.get("provenance", {})
        for key in keys:
            value = value.get(key, UNKNOWN) if isinstance(value, Mapping) else UNKNOWN
        return value

    def commit(doc: Mapping[str, Any]) -> str:
        short = prov(doc, "commit_short")
        short = prov(doc, "commit")[:7] if short == UNKNOWN and prov(doc, "commit") != UNKNOWN else short
        dirty = prov(doc, "dirty")
        return f"{short} (dirty)" if dirty is True else f"{short}" + (" (dirty: unknown)" if dirty == UNKNOWN else "")

    def machine(doc: Mapping[str, Any]) -> str:
        return f"{prov(doc, 'machine', 'cpu_model')}, {prov(doc, 'machine', 'cores')} cores"

    rows = [
        ["file", *paths],
        ["benchmark", *(str(d.get("benchmark")) for d in documents)],
        ["label", *(str(d.get("label") or "") for d in documents)],
        ["commit", *(commit(d) for d in documents)],
        ["date", *(str(prov(d, "date")) for d in documents)],
        ["machine", *(machine(d) for d in documents)],
        ["load average at start", *(str(prov(d, "machine", "load_average")) for d in documents)],
    ]
    tables = [prov(d, "versions") for d in documents]
    versions = sorted({key for table in tables if isinstance(table, Mapping) for key in table})
    for key in versions:
        values = [str(prov(d, "versions", key)) for d in documents]
        if len(set(values)) > 1:
            rows.append([f"version: {key}", *values])
    configs = [d.get("config") if isinstance(d.get("config"), Mapping) else {} for d in documents]
    for key in sorted({k for c in configs for k in c}):
        values = [format_value(c.get(key)) if c else UNKNOWN for c in configs]
        if len(set(values)) > 1:
            rows.append([f"config: {key}", *values])
    rows.append(["command", *(str(prov(d, "command")) for d in documents)])
    return rows


def figure_rows(documents: Sequence[Mapping[str, Any]], *, everything: bool = False,
                match: str | None = None) -> list[list[str]]:
    """One row per figure: its value in each file, and each later file's ratio to the first."""
    tables = [figures(d, everything=everything) for d in documents]
    names = list(dict.fromkeys(name for table in tables for name in table))
    if match:
        pattern = re.compile(match)
        names = [n for n in names if pattern.search(n)]
    header = ["figure", *(f"[{i + 1}]" for i in range(len(documents)))]
    header += [f"[{i + 1}]/[1]" for i in range(1, len(documents))]
    rows = [header]
    for name in names:
        values = [t.get(name) for t in tables]
        rows.append([name, *(format_value(v) for v in values), *(ratio(values[0], v) for v in values[1:])])
    return rows


def render(rows: Sequence[Sequence[str]], *, markdown: bool = False) -> str:
    """Rows as aligned text columns, or as a Markdown table (first row the header)."""
    if markdown:
        lines = ["| " + " | ".join(rows[0]) + " |", "|" + "|".join("---" for _ in rows[0]) + "|"]
        lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows[1:]]
        return "\n".join(lines)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows)


def compare(paths: Sequence[str], *, everything: bool = False, match: str | None = None,
            markdown: bool = False) -> str:
    """The side-by-side text of the result files at ``paths``."""
    documents = [load_result(p) for p in paths]
    names = [f"[{i + 1}] {p}" for i, p in enumerate(paths)]
    parts = [render(header_rows(documents, names), markdown=markdown)]
    if len({d.get("benchmark") for d in documents}) > 1:
        parts.append("note: the files are of different benchmarks")
    parts.append(render(figure_rows(documents, everything=everything, match=match), markdown=markdown))
    return "\n\n".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="+", type=Path, help="two or more result files; ratios are to the first")
    parser.add_argument("--all", action="store_true", dest="everything",
                        help=f"every number of the full results (lists longer than {MAX_LIST} left out), "
                        "not only the summaries")
    parser.add_argument("--match", default=None, metavar="REGEX", help="only the figures whose name matches")
    parser.add_argument("--markdown", action="store_true", help="Markdown tables")
    args = parser.parse_args(argv)
    if len(args.files) < 2:
        parser.error("give at least two result files")
    try:
        print(compare([str(p) for p in args.files], everything=args.everything, match=args.match,
                      markdown=args.markdown))
    except (OSError, ValueError) as err:
        print(f"bench/compare.py: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
