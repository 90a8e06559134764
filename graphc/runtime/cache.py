"""The disk cache of generated kernels.

Numba only caches functions whose source lives in a file, so the generated source is
written to ``<cache dir>/graphc_<hash>.py`` and imported from there; Numba's own cache
(``cache=True`` in the source) then keeps the machine code beside it in __pycache__.
The hash covers the source and every version that changes what it compiles to, so a
file's name vouches for its content: a file whose content does not match its name is
damaged or foreign and is rewritten, never imported blindly. Writes go to a temporary
file first and are renamed into place, so two processes compiling the same graph at
once both succeed and neither sees half a file.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import sys
import tempfile
import threading
from pathlib import Path
from types import ModuleType

import numba
import numpy as np

PREFIX = "graphc_"
_loaded: dict[str, ModuleType] = {}
_lock = threading.Lock()


def cache_dir() -> Path:
    """$GRAPHC_CACHE_DIR, else the user's cache directory (XDG on Linux)."""
    if os.environ.get("GRAPHC_CACHE_DIR"):
        return Path(os.environ["GRAPHC_CACHE_DIR"])
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "graphc"
    if os.name == "nt":
        return Path(os.environ.get("LOCALAPPDATA", Path.home())) / "graphc" / "Cache"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "graphc"


def _versions() -> str:
    import graphc

    return f"graphc {graphc.__version__} numba {numba.__version__} numpy {np.__version__} helpers {_helpers_hash()}"


@functools.cache
def _helpers_hash() -> str:
    """The helper modules that generated source imports decide its machine code too, and
    Numba's cache checks the kernel file only: an edited helper must change the file's
    name. Read once per process."""
    from graphc.codegen.kernel import helper_modules

    return hashlib.sha256(b"".join(Path(m.__file__).read_bytes() for m in helper_modules())).hexdigest()


def key_of(source: str) -> str:
    return hashlib.sha256((_versions() + "\n" + source).encode()).hexdigest()[:32]


def load(source: str, cache: bool = True) -> ModuleType:
    """The module of ``source``: from memory, from the disk cache, or written and imported."""
    key = key_of(source)
    with _lock:
        if key in _loaded:
            return _loaded[key]
        if cache:
            module = _import(_ensure_file(cache_dir(), key, source), key)
        else:
            # no disk cache: a private file (Numba needs one for its error messages) and
            # cache=False kernels, so nothing is written beside it
            private = Path(tempfile.mkdtemp(prefix="graphc-nocache-"))
            module = _import(_ensure_file(private, key, source.replace("cache=True", "cache=False")), key)
        if cache:
            _loaded[key] = module
        return module


def _ensure_file(directory: Path, key: str, source: str) -> Path:
    path = directory / f"{PREFIX}{key}.py"
    try:
        if path.read_text() == source:
            return path
    except (OSError, UnicodeDecodeError):
        pass  # missing, unreadable or damaged: (re)write it
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{PREFIX}{key}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(source)
        os.replace(tmp, path)  # atomic: readers see the old file or the whole new one
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _import(path: Path, key: str) -> ModuleType:
    name = f"{PREFIX}kernels_{key}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # Numba finds a cached kernel's globals by importing its module by name on load
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def purge(module: ModuleType) -> ModuleType:
    """Drop a module whose Numba cache entries failed to load, delete those entries, and
    import the source afresh (Numba then recompiles and rewrites them)."""
    path = Path(module.__file__ or "")
    key = path.stem[len(PREFIX):]
    for entry in (path.parent / "__pycache__").glob(f"{path.stem}.*"):
        entry.unlink(missing_ok=True)
    with _lock:
        fresh = _import(path, key)
        _loaded[key] = fresh
    return fresh
