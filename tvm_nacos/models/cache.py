"""Built-in supernets kept on disk, so that a process does not import one again from PyTorch.

Importing a supernet exports and converts every option of every site (nas-bench-201: ~8 s here,
mobilenet-v2: ~30 s); loading the module it gave from ``tvm.ir.save_json`` takes a fraction of
a second. Every command on a work directory (``search``, ``compile``, ``report``...) builds its
supernet, so the built modules are kept in a cache folder, one JSON file per space, options and
seed, named by a key that also holds the versions of TVM and PyTorch and a digest of this
package's source code: a change to any of them builds again.

The folder is ``$TVM_NACOS_CACHE_DIR`` if set (``off`` turns the cache off), else
``$XDG_CACHE_HOME/tvm-nacos/supernets`` (``~/.cache/tvm-nacos/supernets``). It keeps the
:data:`MAX_FILES` newest files. A file that cannot be read is built again, and replaced.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - typing only
    import tvm

logger = logging.getLogger(__name__)

__all__ = ["CACHE_DIR_ENV", "cache_dir", "load", "save", "supernet_key"]

#: The environment variable that names the cache folder (``off``: no cache).
CACHE_DIR_ENV = "TVM_NACOS_CACHE_DIR"
#: Files the folder keeps (the newest; each is one supernet, 10-100 MB).
MAX_FILES = 8
_OFF = ("off", "none", "0", "false")


def cache_dir() -> Path | None:
    """The cache folder, or ``None`` when ``$TVM_NACOS_CACHE_DIR`` turns the cache off."""
    value = os.environ.get(CACHE_DIR_ENV)
    if value is not None:
        return None if value.strip().lower() in _OFF or not value.strip() else Path(value).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "tvm-nacos" / "supernets"


@functools.cache
def code_digest() -> str:
    """A digest of the source of ``tvm_nacos`` and the folders it maps in (``passes``,
    ``search_space``): every file a supernet's import may run."""
    import tvm_nacos
    import tvm_nacos.passes
    import tvm_nacos.search_space

    digest = hashlib.sha256()
    for package in (tvm_nacos, tvm_nacos.passes, tvm_nacos.search_space):
        root = Path(package.__file__).parent
        for path in sorted(root.rglob("*.py")):
            digest.update(str(path.relative_to(root)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def supernet_key(space: Any, seed: int) -> str:
    """The file name of a built-in space's supernet: what it is, and what built it."""
    import torch
    import tvm

    what = {
        "space": f"{type(space).__module__}.{type(space).__qualname__}",
        "name": space.name,
        "options": sorted((k, repr(v)) for k, v in space.options().items()),
        "seed": seed,
        "tvm": tvm.__version__,
        "torch": torch.__version__,
        "code": code_digest(),
    }
    digest = hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:20]
    return f"{space.name}-{digest}.json"


def load(space: Any, seed: int) -> tvm.IRModule | None:
    """The cached supernet of ``space``, or ``None`` (no cache, not built yet, unreadable)."""
    folder = cache_dir()
    if folder is None:
        return None
    path = folder / supernet_key(space, seed)
    if not path.is_file():
        return None
    import tvm

    try:
        mod = tvm.ir.load_json(path.read_text())
    except Exception as err:  # noqa: BLE001 - a damaged file is built again
        logger.warning("cannot read the cached supernet %s (%s); building it again", path, err)
        return None
    if not isinstance(mod, tvm.IRModule):
        logger.warning("the cached supernet %s is not an IRModule; building it again", path)
        return None
    os.utime(path)  # recently used: kept longest
    return mod


def save(space: Any, seed: int, mod: tvm.IRModule) -> Path | None:
    """Write ``mod`` as the cached supernet of ``space`` (atomically); returns the file, or
    ``None`` when there is no cache or it cannot be written (a warning, nothing else)."""
    folder = cache_dir()
    if folder is None:
        return None
    import tvm

    path = folder / supernet_key(space, seed)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=folder, suffix=".tmp", delete=False) as f:
            f.write(tvm.ir.save_json(mod))
        os.replace(f.name, path)
    except OSError as err:
        logger.warning("cannot keep the supernet in %s (%s); it will be built again next time", folder, err)
        return None
    _prune(folder)
    return path


def _prune(folder: Path) -> None:
    """Keep the :data:`MAX_FILES` most recently used supernets (and no stray temporary files)."""
    files = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    for path in files[MAX_FILES:]:
        path.unlink(missing_ok=True)
