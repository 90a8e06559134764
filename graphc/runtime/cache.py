"""The disk cache of generated kernels, and what it trusts.

Numba only caches functions whose source lives in a file, so the generated source is
written to ``<cache dir>/graphc_<hash>.py``; Numba's cache then keeps the machine code
beside it in ``__pycache__``. The hash covers the source and every version that changes
what it compiles to, so a file's name vouches for its content.

Nothing in the cache runs unless graphc wrote it (see README, "The kernel cache"):

- the directory is the user's own: made 0700 (whatever the umask), and a directory that
  another user owns, or that its group or the world may write, is not used (one warning,
  then the compile runs uncached), as ssh treats ~/.ssh;
- a kernel module is executed from the source text graphc generated in this process,
  after the file on disk was checked to hold exactly that text; it is never imported,
  so no bytecode from ``__pycache__`` is ever loaded;
- Numba's index and data files are pickles, and unpickling runs code: graphc writes them
  itself (``SignedCacheFile``), each behind an HMAC-SHA256 of its name and content under
  a random key kept 0600 in the directory, and reads only files whose HMAC checks out
  (anything else is a cache miss, recompiled and rewritten);
- every file is written 0600 to a temporary name and renamed into place, so two processes
  compiling the same graph at once both succeed and neither sees half a file.

A cache that cannot be used (not a directory, read-only, full) gives one warning naming
GRAPHC_CACHE_DIR and an uncached compile. ``cache=False`` writes nothing at all.

Loaded kernels are shared while a compiled function uses them (``_loaded`` holds them
weakly) and go with the last such function (see ``Kernels``).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import hmac
import io
import os
import pickle
import secrets
import stat
import sys
import tempfile
import threading
import warnings
import weakref
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import numba
import numpy as np
from numba.core.caching import CompileResultCacheImpl, FunctionCache, IndexDataCacheFile, InTreeCacheLocator
from numba.core.registry import CPUDispatcher

from graphc.errors import CacheWarning

PREFIX = "graphc_"
KEY_FILE = "graphc.key"  # the HMAC key of Numba's files in this directory
_MAC = hashlib.sha256().digest_size
_lock = threading.Lock()


class Kernels:
    """The jitted functions of one generated module (``kernels.forward`` and so on).

    Numba keeps each compiled overload reachable from a process-wide registry until its
    dispatcher dies, and an overload refers to its module's globals: a dispatcher that
    its module's globals name would never die. So the globals name the module's own
    functions (and the module is in sys.modules, where Numba looks it up when it loads a
    cached kernel) only while something compiles (``compiling``); the rest of the time
    this object holds them, and a compiled function holds this object. (So calling a
    dispatcher such as ``f.kernel`` with new argument types compiles it only if it calls
    no other function of its module: a kernel with threaded loops does.)
    """

    def __init__(self, module: ModuleType) -> None:
        self.module = module
        self.functions = {name: v for name, v in vars(module).items()
                          if isinstance(v, CPUDispatcher) and v.py_func.__globals__ is vars(module)}
        self._compiles = 0
        self._hide()

    def __getattr__(self, name: str) -> CPUDispatcher:
        try:
            return self.__dict__["functions"][name]
        except KeyError:
            raise AttributeError(name) from None

    def _hide(self) -> None:
        for name in self.functions:
            del vars(self.module)[name]
        if sys.modules.get(self.module.__name__) is self.module:
            del sys.modules[self.module.__name__]

    @contextlib.contextmanager
    def compiling(self) -> Iterator[None]:
        with _lock:
            if not self._compiles:
                vars(self.module).update(self.functions)
                sys.modules[self.module.__name__] = self.module
            self._compiles += 1
        try:
            yield
        finally:
            with _lock:
                self._compiles -= 1
                if not self._compiles:
                    self._hide()


_loaded: weakref.WeakValueDictionary[str, Kernels] = weakref.WeakValueDictionary()


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
    from graphc.codegen.names import helper_modules

    return hashlib.sha256(b"".join(Path(m.__file__).read_bytes() for m in helper_modules())).hexdigest()


def key_of(source: str) -> str:
    return hashlib.sha256((_versions() + "\n" + source).encode()).hexdigest()[:32]


def load(source: str, cache: bool = True) -> Kernels:
    """The kernels of ``source``: shared with a live compiled function, else executed from
    ``source`` (its file written to the disk cache, or checked there)."""
    key = key_of(source)
    with _lock:
        kernels = _loaded.get(key) if cache else None
        if kernels is not None:
            return kernels
        path, secret = _cache_file(key, source) if cache else (None, b"")
        kernels = Kernels(_execute(source, key, path, secret))
        if path is not None:
            _loaded[key] = kernels
        return kernels


def _cache_file(key: str, source: str) -> tuple[Path | None, bytes]:
    """The checked file of ``source`` in the cache and the directory's key, or None (with a
    warning) when the cache cannot be used."""
    directory = cache_dir()
    try:
        problem = unsafe(directory)
        if problem is None:
            return _ensure_file(directory, key, source), _secret(directory)
    except OSError as e:
        problem = _reason(e)
    _warn(directory, problem)
    return None, b""


def _reason(e: OSError) -> str:
    return f"{type(e).__name__}: {e.strerror or e}"


def _warn(directory: Path, problem: str) -> None:
    """One warning, pointing at the user's gc.compile line (so a loop warns once)."""
    warnings.warn(f"graphc: kernels are compiled without the disk cache: {directory} cannot be used ({problem}); "
                  "set GRAPHC_CACHE_DIR to a directory of your own", CacheWarning, stacklevel=7)


def private_dir(path: Path) -> None:
    """Make ``path`` and its missing parents, each 0700 (whatever the umask)."""
    missing = []
    for p in (path, *path.parents):
        if p.exists() or p.is_symlink():
            break
        missing.append(p)
    for p in reversed(missing):
        with contextlib.suppress(FileExistsError):  # another process made it meanwhile
            p.mkdir(mode=0o700)
            p.chmod(0o700)


def unsafe(directory: Path) -> str | None:
    """Why graphc may not cache in ``directory`` (made if missing), or None. Like ssh with
    ~/.ssh: it must be a directory of the user's own that no one else may write."""
    private_dir(directory)
    for d in (directory, directory / "__pycache__"):
        private_dir(d)
        st = d.stat()
        if not stat.S_ISDIR(st.st_mode):
            return f"{d} is not a directory"
        if hasattr(os, "geteuid") and st.st_uid != os.geteuid():
            return f"{d} is owned by another user (uid {st.st_uid})"
        if os.name == "posix" and st.st_mode & 0o022:
            return f"{d} may be written by its group or others (mode {stat.S_IMODE(st.st_mode):o})"
        tempfile.TemporaryFile(dir=d).close()  # writable (a read-only cache raises here)
    return None


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically, as a file only its owner may read or write."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # made 0600
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)  # atomic: readers see the old file or the whole new one
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _ensure_file(directory: Path, key: str, source: str) -> Path:
    path = directory / f"{PREFIX}{key}.py"
    data = source.encode("utf-8")
    try:
        if path.read_bytes() == data:
            return path
    except OSError:
        pass  # missing or unreadable: (re)write it
    write_private(path, data)  # a damaged or foreign file is replaced, never executed
    return path


def _execute(source: str, key: str, path: Path | None, secret: bytes) -> ModuleType:
    """A module made by executing ``source`` (graphc's own text, not the file's: no
    bytecode is read). Numba's own cache stays off (it would write where its settings
    say and trust any pickle there); with a cache file, the functions cache through
    ``SignedCache`` beside it, else nothing is written."""
    module = ModuleType(f"{PREFIX}kernels_{key}")
    module.__file__ = str(path) if path is not None else f"<graphc kernel {key}>"
    code = source.replace("njit(cache=True", "njit(cache=False")  # same lines and bytecode
    exec(compile(code, module.__file__, "exec"), module.__dict__)
    own = [v for v in vars(module).values() if isinstance(v, CPUDispatcher) and v.py_func.__globals__ is vars(module)]
    try:
        caches = [SignedCache(f.py_func, secret) for f in own] if path is not None else []
    except (OSError, RuntimeError) as e:  # Numba found no writable cache path: run uncached
        _warn(path.parent, _reason(e) if isinstance(e, OSError) else str(e))  # type: ignore[union-attr]
        caches = []
    for function, cache in zip(own, caches):
        function._cache = cache
    return module


def purge(source: str, kernels: Kernels) -> Kernels:
    """Drop kernels whose Numba cache entries failed to load, delete those entries, and
    execute the source afresh (Numba then recompiles and rewrites them)."""
    path = Path(kernels.module.__file__ or "")
    key = path.stem[len(PREFIX):]
    for entry in (path.parent / "__pycache__").glob(f"{path.stem}.*"):
        entry.unlink(missing_ok=True)
    with _lock:
        fresh = Kernels(_execute(source, key, path, _secret(path.parent)))
        _loaded[key] = fresh
    return fresh


# -- Numba's cache files, written and read by graphc --------------------------------------
def _secret(directory: Path) -> bytes:
    """The directory's HMAC key: made once (0600), and refused unless it is the user's own."""
    path = directory / KEY_FILE
    nofollow = getattr(os, "O_NOFOLLOW", 0)
    if not path.exists():  # made whole under a temporary name, then linked: a concurrent maker's key wins
        tmp = directory / f".{KEY_FILE}.{secrets.token_hex(8)}.tmp"
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | nofollow, 0o600), "wb") as f:
            f.write(secrets.token_bytes(32))
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    fd = os.open(path, os.O_RDONLY | nofollow)
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if (hasattr(os, "geteuid") and st.st_uid != os.geteuid()) or (os.name == "posix" and st.st_mode & 0o077):
            raise PermissionError(f"{path} is not a private file of this user")
        key = f.read()
    if len(key) != 32:
        raise PermissionError(f"{path} is not a graphc key")
    return key


class SignedCacheFile(IndexDataCacheFile):
    """Numba's index and data files, each behind an HMAC of its name and content."""

    def __init__(self, secret: bytes, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self._secret = secret

    def _mac(self, path: str, content: bytes) -> bytes:
        return hmac.new(self._secret, os.path.basename(path).encode() + b"\0" + content, "sha256").digest()

    def _verified(self, path: str) -> bytes | None:
        """The content of ``path`` if its HMAC checks out (None if it does not)."""
        with open(path, "rb") as f:
            data = f.read()
        mac, content = data[:_MAC], data[_MAC:]
        return content if len(data) >= _MAC and hmac.compare_digest(mac, self._mac(path, content)) else None

    def _load_index(self) -> dict:
        try:
            content = self._verified(self._index_path)
        except FileNotFoundError:
            return {}
        if content is None:  # damaged or not written by graphc: a cache miss, rewritten
            return {}
        f = io.BytesIO(content)
        if pickle.load(f) != self._version:
            return {}
        stamp, overloads = pickle.loads(f.read())
        return overloads if stamp == self._source_stamp else {}

    def _load_data(self, name: str) -> object:
        content = self._verified(self._data_path(name))
        if content is None:
            raise OSError(f"{name}: not a cache file graphc wrote")  # Numba's cache miss
        return pickle.loads(content)

    @contextlib.contextmanager
    def _open_for_write(self, filepath: str) -> Iterator[io.BytesIO]:
        buffer = io.BytesIO()
        yield buffer
        content = buffer.getvalue()
        write_private(Path(filepath), self._mac(filepath, content) + content)


class _Locator(InTreeCacheLocator):
    """``__pycache__`` beside the kernel file, made private as graphc makes directories."""

    def ensure_cache_path(self) -> None:
        path = Path(self.get_cache_path())
        private_dir(path)
        tempfile.TemporaryFile(dir=path).close()


class _Impl(CompileResultCacheImpl):
    _locator_classes = [_Locator]


class SignedCache(FunctionCache):
    """Numba's function cache, kept in the graphc cache directory in signed files."""

    _impl_class = _Impl

    def __init__(self, py_func: object, secret: bytes) -> None:
        super().__init__(py_func)
        stamp = self._impl.locator.get_source_stamp()
        self._cache_file = SignedCacheFile(secret, cache_path=self._cache_path,
                                           filename_base=self._impl.filename_base, source_stamp=stamp)
