"""graphc/bench/busy.py keeps cores busy for a block and stops its spinners after it; the
tables show the 90th percentile beside the median."""

from __future__ import annotations

import os
import time

import pytest

from graphc.bench import busy, harness


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="reads /proc")
def test_spinners_spin_during_the_block_and_stop_after():
    with busy.spinning(2) as pids:
        assert len(pids) == 2
        time.sleep(0.5)
        assert all(_cpu_seconds(p) > 0.05 for p in pids)  # they burn CPU, they do not sleep
    assert not any(os.path.exists(f"/proc/{p}") for p in pids)  # killed and reaped


def test_spinners_stop_when_the_block_fails():
    with pytest.raises(RuntimeError), busy.spinning(1) as pids:
        raise RuntimeError("measurement failed")
    assert not os.path.exists(f"/proc/{pids[0]}")


def test_cells_show_the_90th_percentile_and_its_ratio():
    samples = [1e-3] * 9 + [5e-3]
    row = harness.Row("W1", "f64", "fwd+bwd busy 1", "graphc", 1e-3, harness.spread(samples), p90=harness.p90(samples))
    base = harness.Row("W1", "f64", "fwd+bwd busy 1", "jax", 2e-3, 0.0, p90=2e-3)
    assert harness.p90(samples) == pytest.approx(1.4e-3)
    assert harness._cell(row, base) == "1 ms   0.50x  p90 1.4 ms 0.70x"
