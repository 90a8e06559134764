"""Timing, result checking and tables, shared by graphc's benchmarks and the peers'.

The machine is shared and noisy, so systems are never timed one after another:
``time_interleaved`` takes a sample of every case in turn, round after round, so a
burst of noise hits all of them alike, and reports per-call medians.
"""

from __future__ import annotations

import math
import random
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

Case = Callable[[], object]

# --- timing ----------------------------------------------------------------------------


def _run(fn: Case, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return time.perf_counter() - start


def _calls_per_sample(fn: Case, min_time: float) -> int:
    """Like timeit's autorange: the smallest call count whose sample takes min_time."""
    calls = 1
    while True:
        elapsed = _run(fn, calls)
        if elapsed >= min_time:
            return calls
        # Aim a little past min_time rather than doubling: fewer calibration runs.
        calls = max(calls * 2, math.ceil(calls * 1.2 * min_time / max(elapsed, 1e-9)))


# Longer than NumPy's OpenBLAS workers spin after a call (2**28 cycles, about 0.1 s at
# 2.5 GHz) before they sleep: see time_interleaved_samples.
PAUSE = 0.12


def time_interleaved_samples(
    cases: dict[str, Case], rounds: int = 15, min_time: float = 0.02, warmup: int = 3, pause: float = 0.0
) -> dict[str, list[float]]:
    """Per-call seconds of every sample of every case (see time_interleaved).

    What ran just before a case can slow it: NumPy's OpenBLAS workers spin for about
    0.1 s after a gemm, on a core the next case wants (graphc's W4 on 2 cores: 9 ms a
    call, 20 ms right after NumPy by hand's gemms). So every round takes the cases in a
    new order (seeded: the same orders in every run), and with ``pause`` seconds each
    sample waits that long, then runs untimed as long as it will run timed (the first
    calls after a pause are slower: graphc's first W4 call takes 2 ms more than its 9,
    threads or not, and JAX's first three 0.5-1 ms more than its 10), so that it
    measures the case as if it ran alone.
    """
    calls = {}
    for name, fn in cases.items():
        _run(fn, warmup)  # caches, lazy allocation, branch predictors
        calls[name] = _calls_per_sample(fn, min_time)
    samples: dict[str, list[float]] = {name: [] for name in cases}
    shuffle = random.Random(0).shuffle
    names = list(cases)
    for _ in range(rounds):
        shuffle(names)
        for name in names:
            if pause:
                time.sleep(pause)
                _run(cases[name], calls[name])
            samples[name].append(_run(cases[name], calls[name]) / calls[name])
    return samples


def time_interleaved(
    cases: dict[str, Case], rounds: int = 15, min_time: float = 0.02, warmup: int = 3, pause: float = 0.0
) -> dict[str, float]:
    """Median seconds per call of each case.

    Each case is warmed up, then every round times each case in turn for at least
    ``min_time`` seconds (repeating cheap calls), so noise is shared by all cases.
    The loop's own cost (tens of ns a call, see ``call_overhead``) is included.
    """
    samples = time_interleaved_samples(cases, rounds, min_time, warmup, pause)
    return {name: statistics.median(s) for name, s in samples.items()}


def spread(samples: Sequence[float]) -> float:
    """Interquartile range relative to the median: how noisy the medians are."""
    q1, _, q3 = statistics.quantiles(samples, n=4)
    return (q3 - q1) / statistics.median(samples)


def p90(samples: Sequence[float]) -> float:
    """The 90th percentile: what a slow call costs, where the median hides it."""
    return float(np.percentile(samples, 90))


def call_overhead(min_time: float = 0.02) -> float:
    """Seconds per call that the timing loop adds by itself (a no-op case)."""
    samples = time_interleaved_samples({"noop": lambda: None}, rounds=7, min_time=min_time)
    return statistics.median(samples["noop"])


# --- checking results ------------------------------------------------------------------


def tolerance(dtype: np.dtype) -> float:
    return 1e-6 if np.dtype(dtype) == np.float64 else 1e-3


def to_numpy(value: object) -> np.ndarray:
    """A peer's array (torch tensor, JAX array, NumPy scalar...) as a NumPy array."""
    detach = getattr(value, "detach", None)
    if detach is not None:  # torch
        value = detach().cpu().numpy()
    return np.asarray(value)


def compare(label: str, got: object, ref: object, dtype: np.dtype) -> list[str]:
    """Problems with one result against the reference: dtype, shape, values.

    Values must agree to rtol (1e-6 in float64, 1e-3 in float32) measured against
    the largest entry of the reference: gradients that are sums of many terms have
    entries near zero whose own relative error means nothing.
    """
    g, r = to_numpy(got), to_numpy(ref)
    if g.dtype != r.dtype:
        return [f"{label}: dtype {g.dtype}, expected {r.dtype}"]
    if g.shape != r.shape:
        return [f"{label}: shape {g.shape}, expected {r.shape}"]
    rtol = tolerance(dtype)
    scale = float(np.abs(r).max()) if r.size else 0.0
    if not np.allclose(g, r, rtol=rtol, atol=rtol * scale):
        worst = float(np.abs(g - r).max())
        return [f"{label}: max abs error {worst:.3g} (scale {scale:.3g}, rtol {rtol:g})"]
    return []


def check_forward_backward(
    got: tuple[object, Sequence[object]], ref: tuple[object, Sequence[object]], wrt: Sequence[str], dtype: np.dtype
) -> list[str]:
    """Compare (loss, grads) with the reference (loss, grads); empty when all agree."""
    (loss, grads), (ref_loss, ref_grads) = got, ref
    if len(grads) != len(wrt):
        return [f"{len(grads)} gradients for {len(wrt)} inputs {list(wrt)}"]
    problems = compare("loss", loss, ref_loss, dtype)
    for name, g, r in zip(wrt, grads, ref_grads, strict=True):
        problems += compare(f"d{name}", g, r, dtype)
    return problems


# --- tables ----------------------------------------------------------------------------


@dataclass
class Row:
    """One measurement: a system's median seconds per call on one configuration."""

    workload: str
    dtype: str  # "f64" / "f32"
    mode: str  # "fwd", "fwd+bwd", or "compile" for graph -> first result
    system: str
    seconds: float  # nan when not timed
    spread: float = math.nan  # IQR / median of the samples
    note: str = ""  # why it was not timed, e.g. "WRONG"
    p90: float = math.nan  # the 90th percentile of the samples


def format_seconds(seconds: float) -> str:
    if math.isnan(seconds):
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6), ("ns", 1e-9)):
        if seconds >= scale or unit == "ns":
            value = seconds / scale
            return f"{value:.3g} {unit}" if value < 100 else f"{value:.0f} {unit}"
    raise AssertionError("unreachable")


def _systems(rows: Iterable[Row], baseline: str | None) -> list[str]:
    seen = list(dict.fromkeys(row.system for row in rows))
    return ([baseline] if baseline in seen else []) + [s for s in seen if s != baseline]


def _cell(row: Row | None, base: Row | None) -> str:
    if row is None:
        return "-"
    if row.note:
        return row.note
    text = format_seconds(row.seconds)
    if base is not None and not math.isnan(base.seconds) and not math.isnan(row.seconds):
        ratio = row.seconds / base.seconds
        text += f"  {ratio:5.2f}x" if ratio >= 0.1 else f"  {ratio:.2g}x"  # 0.0031x, not 0.00x
    if not math.isnan(row.spread) and row.spread > 0.1:
        text += f" ±{row.spread:.0%}"  # only flag the noisy ones
    if not math.isnan(row.p90):
        text += f"  p90 {format_seconds(row.p90)}"
        if base is not None and not math.isnan(base.p90):
            text += f" {row.p90 / base.p90:.2f}x"
    return text


def print_table(rows: Sequence[Row], baseline: str | None = "numpy", title: str = "") -> None:
    """One line per (workload, dtype, mode), one column per system: median and ratio.

    The ratio is time / baseline time (above 1 is slower than the baseline); a
    ``±`` shows the IQR of the samples where it is over 10% of the median, and
    ``p90`` the 90th percentile (with its ratio to the baseline's 90th percentile).
    """
    systems = _systems(rows, baseline)
    by_key: dict[tuple[str, str, str], dict[str, Row]] = {}
    for row in rows:
        by_key.setdefault((row.workload, row.dtype, row.mode), {})[row.system] = row
    header = ["workload", "dtype", "mode", *systems]
    lines = [
        [*key, *(_cell(cells.get(s), cells.get(baseline or "")) for s in systems)] for key, cells in by_key.items()
    ]
    widths = [max(len(line[i]) for line in [header, *lines]) for i in range(len(header))]
    if title:
        print(f"\n{title}")
    if baseline:
        print(f"(median per call, then 90th percentile; ratio = time / {baseline} time, lower is faster)")
    for line in [header, ["-" * w for w in widths], *lines]:
        print("  ".join(cell.ljust(w) if i < 3 else cell.rjust(w) for i, (cell, w) in enumerate(zip(line, widths))))
