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


def test_each_case_follows_different_neighbours_and_a_pause_buys_an_untimed_run():
    log: list[str] = []
    cases = {name: (lambda name=name: log.append(name)) for name in "abcd"}
    samples = harness.time_interleaved_samples(cases, rounds=12, min_time=0.0, warmup=0)
    assert all(len(s) == 12 for s in samples.values())
    timed = log[-48:]  # after the warm-ups and the calibrations, one call per sample
    before_a = {timed[k - 1] for k in range(1, len(timed)) if timed[k] == "a"}
    assert before_a == {"b", "c", "d"}  # a rotation of one order would give one neighbour
    log.clear()
    start = time.perf_counter()
    harness.time_interleaved_samples(cases, rounds=2, min_time=0.0, warmup=0, pause=0.01)
    assert time.perf_counter() - start >= 8 * 0.01
    assert log[-16:][0::2] == log[-16:][1::2]  # each sample: as many calls untimed, then timed
