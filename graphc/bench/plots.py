"""Plots of a ``graphc bench`` run (matplotlib: the plot extra).

- ``times``: median time per call of every workload and system, log scale, one panel
  per (mode, dtype);
- ``scaling``: S's compile time (cold and warm) and run time (compiled and
  interpreted) against the number of nodes of the graph, log-log.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure  # not pyplot: no backend, no display, no global state
from matplotlib.ticker import NullFormatter

from graphc.bench.harness import Row
from graphc.bench.scaling import ROWS


def plot_times(rows: Sequence[Row], path: Path) -> Path | None:
    """Grouped bars: workloads along x, one bar per system, seconds on a log axis."""
    timed = [r for r in rows if not r.mode.startswith("compile") and not math.isnan(r.seconds)]
    if not timed:
        return None
    modes = list(dict.fromkeys(r.mode for r in timed))
    dtypes = list(dict.fromkeys(r.dtype for r in timed))
    systems = list(dict.fromkeys(r.system for r in timed))
    workloads = list(dict.fromkeys(r.workload for r in timed))
    width = 0.8 / len(systems)  # of a bar: a workload's group of bars is 0.8 wide
    inches = max(5.0, 0.9 * len(workloads) * max(1, len(systems) / 3)) * len(dtypes)
    fig = Figure(figsize=(max(inches, 1.3 * len(systems)), 3.4 * len(modes)))  # room for the legend's row
    axes = fig.subplots(len(modes), len(dtypes), squeeze=False, sharex=True)
    for ax, (mode, dtype) in zip(axes.flat, [(m, d) for m in modes for d in dtypes]):
        seconds = {(r.workload, r.system): r.seconds for r in timed if (r.mode, r.dtype) == (mode, dtype)}
        for k, system in enumerate(systems):
            xs = [i + (k - (len(systems) - 1) / 2) * width for i, w in enumerate(workloads) if (w, system) in seconds]
            ys = [seconds[w, system] for w in workloads if (w, system) in seconds]
            ax.bar(xs, ys, width, label=system)
        ax.set_yscale("log")
        ax.set_ylabel("seconds per call")
        ax.set_title(f"{mode}, {dtype}", fontsize=10)
        ax.grid(axis="y", which="major", alpha=0.3)
    for ax in axes[-1]:
        ax.set_xticks(range(len(workloads)), workloads, rotation=30 if len(workloads) > 4 else 0)
    inch = 1 / fig.get_figheight()  # the title and the legend above the panels, in inches from the top
    fig.suptitle("graphc bench: median time per call (lower is faster)", y=1 - 0.08 * inch, va="top")
    fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="upper center", ncols=len(systems), fontsize=9,
               bbox_to_anchor=(0.5, 1 - 0.32 * inch), frameon=False)
    return _save(fig, path, top=1 - 0.62 * inch)


def plot_scaling(results: Sequence[dict[str, Any]], path: Path) -> Path | None:
    """S: compile and run time against the graph's node count, log-log."""
    if not results:
        return None
    nodes = [r["nodes"] for r in results]
    fig = Figure(figsize=(10, 4.6))
    compile_ax, run_ax = fig.subplots(1, 2)
    for key, label in (("compile_cold", "compile, empty cache"), ("compile_warm", "load from the disk cache"),
                       ("grad", "gc.grad"), ("passes", "optimization passes")):
        compile_ax.plot(nodes, [r[key] for r in results], marker="o", label=label)
    for key, label in (("run", "graphc compiled"), ("run_interpret", "graphc interpreted")):
        run_ax.plot(nodes, [r.get(key, math.nan) for r in results], marker="o", label=label)
    compile_ax.set_title("S: from graph to first result")
    run_ax.set_title(f"S: one call (x of {ROWS}x8)")
    for ax in (compile_ax, run_ax):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(nodes, [str(n) for n in nodes])  # the measured sizes, in plain numbers
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("nodes (forward and backward)")
        ax.set_ylabel("seconds")
        ax.grid(which="major", alpha=0.3)
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncols=2, frameon=False)  # off the lines
    return _save(fig, path)


def _save(fig: Figure, path: Path, top: float = 1.0) -> Path:
    """Lay out (below ``top``, a fraction of the height: room for a title and legend) and write."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout(rect=(0, 0, 1, top))
    fig.savefig(path, dpi=110)
    return path


def write_all(rows: Sequence[Row], scaled: Sequence[dict[str, Any]], directory: Path,
              formats: Sequence[str] = ("png",)) -> list[Path]:
    """Every plot that has data, in each format; the paths written."""
    written = []
    for fmt in formats:
        for made in (plot_times(rows, directory / f"times.{fmt}"), plot_scaling(scaled, directory / f"scaling.{fmt}")):
            if made is not None:
                written.append(made)
    return written
