"""Lowering and task extraction kept across the searches of one work directory.

A search lowers every architecture it looks at (specialize, fold batch norms, fuse: about half a
second for a NAS-Bench-201 network) to learn its kernels. What it learns depends only on the
searched module, the target and the toolchain, so it is kept: a later search in the same work
directory (a resumed run, a larger budget, another strategy or seed) takes each architecture's
kernels from here instead of lowering it again. Only the architectures compiled in the end (the
front, timed end to end) are lowered again.

Layout, beside the target's tuning database::

    tuning/<kind>-<hash>/extraction/<digest>/
      architectures.jsonl   {"arch_id", "kernels": [[file, name, calls], ...]}, one line per architecture
      kernels/<file>.json   each kernel's module (tvm.ir.save_json; the kernels hold no weights)

``<digest>`` covers the searched module, whether batch norms were folded, and the TVM and
tvm-nacos versions: a changed model or toolchain gets a directory of its own. A line cut short
by a crash is skipped.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import tvm

from tvm_nacos._compat import structural_hash

__all__ = ["EXTRACTION_DIR", "ExtractionCache"]

logger = logging.getLogger(__name__)

#: The folder of the caches in a target's tuning directory.
EXTRACTION_DIR = "extraction"
_ARCHITECTURES = "architectures.jsonl"
_KERNELS = "kernels"


class ExtractionCache:
    """Each architecture's kernels (modules, names, calls) found by lowering, on disk.

    Parameters
    ----------
    directory : path
        The cache of one searched module on one target (see :meth:`for_module`).
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self._entries: dict[str, list[tuple[str, str, int]]] | None = None
        self._modules: dict[str, tvm.IRModule] = {}  # kernel files read so far: shared kernels are read once
        self.hits = 0

    @classmethod
    def for_module(cls, tuning_dir: str | os.PathLike[str], mod: tvm.IRModule, *, fold_batch_norm: bool = True) -> ExtractionCache:
        """The cache of ``mod`` in a target's tuning directory (``WorkDir.tuning_dir(target)``)."""
        from tvm_nacos import __version__

        identity = f"{int(structural_hash(mod)) & 0xFFFFFFFFFFFFFFFF:016x}|{fold_batch_norm}|{tvm.__version__}|{__version__}"
        digest = hashlib.sha256(identity.encode()).hexdigest()[:16]
        return cls(Path(tuning_dir) / EXTRACTION_DIR / digest)

    def _load(self) -> dict[str, list[tuple[str, str, int]]]:
        if self._entries is None:
            entries: dict[str, list[tuple[str, str, int]]] = {}
            path = self.directory / _ARCHITECTURES
            if path.is_file():
                for line in path.read_text().splitlines():
                    try:
                        entry = json.loads(line)
                        entries[str(entry["arch_id"])] = [(str(f), str(n), int(c)) for f, n, c in entry["kernels"]]
                    except (ValueError, KeyError, TypeError):
                        continue  # a line cut short by a crash
            self._entries = entries
        return self._entries

    def __contains__(self, arch_id: str) -> bool:
        return arch_id in self._load()

    def __len__(self) -> int:
        return len(self._load())

    def kernels(self, arch_id: str) -> list[tuple[tvm.IRModule, str, int]] | None:
        """``(kernel module, name, calls)`` of each kernel of architecture ``arch_id``, or ``None``
        when it is not cached (or a kernel file is missing or unreadable)."""
        entry = self._load().get(arch_id)
        if entry is None:
            return None
        found = []
        for file, name, calls in entry:
            if file not in self._modules:
                try:
                    self._modules[file] = tvm.ir.load_json((self.directory / _KERNELS / f"{file}.json").read_text())
                except Exception as err:  # noqa: BLE001 - a missing or damaged file: lower again
                    logger.debug("extraction cache: kernel %s of %s unreadable (%s)", file, arch_id, err)
                    return None
            found.append((self._modules[file], name, calls))
        self.hits += 1
        return found

    def put(self, arch_id: str, kernels: list[tuple[str, tvm.IRModule, str, int]]) -> None:
        """Keep architecture ``arch_id``'s kernels, each ``(key, module, name, calls)`` (the key
        names its file: :func:`~tvm_nacos.tuning.tasks.task_key`); a kernel file is written once.
        No fsync: a file lost or cut short in a crash is read as missing, and lowered again."""
        entries = self._load()
        if arch_id in entries:
            return
        (self.directory / _KERNELS).mkdir(parents=True, exist_ok=True)
        line = []
        for file, mod, name, calls in kernels:
            if file not in self._modules:
                path = self.directory / _KERNELS / f"{file}.json"
                if not path.is_file():
                    tmp = path.with_name(path.name + ".tmp")
                    tmp.write_text(tvm.ir.save_json(mod))
                    os.replace(tmp, path)
                self._modules[file] = mod
            line.append((file, name, int(calls)))
        with open(self.directory / _ARCHITECTURES, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"arch_id": arch_id, "kernels": line}) + "\n")
        entries[arch_id] = line
