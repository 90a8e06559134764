"""What the timings depend on: the CPU, the cores this process may use, the BLAS
libraries, the thread settings, the load and the versions. Recorded in every JSON
result and summarized above every table."""

from __future__ import annotations

import contextlib
import importlib.metadata
import io
import os
import platform
import sys
from typing import Any

# Environment variables that decide how many threads who uses, or which BLAS kernels.
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS",
               "NUMBA_THREADING_LAYER", "GRAPHC_THREADS", "OPENBLAS_CORETYPE", "OPENBLAS_THREAD_TIMEOUT",
               "XLA_FLAGS")
# Distributions whose versions are recorded when installed.
PACKAGES = ("graphc", "numpy", "scipy", "numba", "llvmlite", "tbb", "networkx", "jax", "jaxlib", "torch",
            "pytensor", "threadpoolctl")


def cpu_model() -> str:
    """The CPU's marketing name (Linux: /proc/cpuinfo), else what platform knows."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def usable_cores() -> int:
    """The cores this process may run on (its affinity mask), not the machine's count."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            found[name] = importlib.metadata.version(name)
    return found


def blas() -> dict[str, Any]:
    """NumPy's build configuration (its BLAS and LAPACK), and with threadpoolctl installed
    every BLAS/OpenMP library loaded in the process with its thread count."""
    import numpy as np

    info: dict[str, Any] = {}
    with contextlib.redirect_stdout(io.StringIO()):  # older NumPy prints besides returning
        config = np.show_config(mode="dicts") if _show_config_has_dicts(np) else None
    if isinstance(config, dict):
        deps = config.get("Build Dependencies", {})
        info["numpy"] = {k: deps[k] for k in ("blas", "lapack") if k in deps}
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        info["threadpools"] = "threadpoolctl not installed"
    else:
        info["threadpools"] = [{k: pool.get(k) for k in ("internal_api", "version", "num_threads", "architecture",
                                                          "threading_layer", "filepath")} for pool in threadpool_info()]
    return info


def _show_config_has_dicts(np: Any) -> bool:
    import inspect

    return "mode" in inspect.signature(np.show_config).parameters


def load() -> dict[str, float]:
    one, five, fifteen = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return {"1min": one, "5min": five, "15min": fifteen}


def describe() -> dict[str, Any]:
    """Everything above, as a JSON-ready dict."""
    import numba

    return {
        "cpu": cpu_model(),
        "machine": platform.machine(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "usable_cores": usable_cores(),
        "numba_threads": numba.config.NUMBA_NUM_THREADS,
        "thread_env": {k: os.environ.get(k) for k in THREAD_VARS},
        "blas": blas(),
        "load": load(),
        "versions": versions(),
        "executable": sys.executable,
    }


def summary(info: dict[str, Any]) -> str:
    """Two lines for the top of the output."""
    env = ", ".join(f"{k}={v}" for k, v in info["thread_env"].items() if v is not None) or "no thread variables set"
    v = info["versions"]
    peers = ", ".join(f"{k} {v[k]}" for k in ("jax", "torch", "pytensor") if k in v) or "no optional peers"
    return (f"{info['cpu']}, {info['usable_cores']} of {info['cpu_count']} cores usable, {load_text(info['load'])}\n"
            f"python {v['python']}, numpy {v.get('numpy')}, numba {v.get('numba')}, {peers}; {env}")


def load_text(load: dict[str, float]) -> str:
    """Above the core count, every figure is inflated."""
    return f"load average {load['1min']:.2f} (1 min), {load['5min']:.2f} (5 min)"
