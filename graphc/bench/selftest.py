"""Self-test of the NumPy-by-hand baseline, which every other system is checked against.

- every hand-written gradient agrees with central finite differences (float64,
  a few sampled coordinates per input: W2 alone has a million);
- forward() and forward_backward() agree on the loss, in float64 and float32;
- W3 reproduces the numbers printed in the lecture.

Run: ``python -m graphc.bench.selftest`` (also collected by pytest: ``test_*``).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from graphc.bench import peer_numpy
from graphc.bench.workloads import WORKLOADS

FD_STEP = 1e-6
FD_SAMPLES = 4
FD_RTOL = 1e-5
# Cancellation in up - down: a few ulps of the loss, divided by the step.
ROUNDOFF = 1e-15


def _loss_at(name: str, data: dict[str, np.ndarray], key: str, index: tuple[int, ...], value: float) -> float:
    forward = peer_numpy.IMPLS[name][0]
    bumped = dict(data)
    bumped[key] = data[key].copy()
    bumped[key][index] = value
    return float(forward(peer_numpy.prepare(bumped)))


def finite_difference_errors(name: str, seed: int = 0) -> list[str]:
    """Compare hand-written gradients with central differences; return the failures."""
    rng = np.random.default_rng(seed)
    data = WORKLOADS[name].make_data(np.dtype(np.float64), rng)
    _, grads = peer_numpy.IMPLS[name][1](peer_numpy.prepare(data))
    failures = []
    for key, grad in zip(WORKLOADS[name].wrt, grads, strict=True):
        grad = np.asarray(grad)
        if grad.shape != data[key].shape:
            failures.append(f"{name} d{key}: shape {grad.shape}, input {data[key].shape}")
            continue
        # The loss is a sum over many terms, so judge each coordinate against the
        # scale of the whole gradient, not its own (possibly tiny) value.
        scale = max(float(np.abs(grad).max()), 1e-12)
        for _ in range(FD_SAMPLES):
            index = tuple(int(rng.integers(s)) for s in grad.shape)
            x0 = float(data[key][index])
            up = _loss_at(name, data, key, index, x0 + FD_STEP)
            down = _loss_at(name, data, key, index, x0 - FD_STEP)
            numeric = (up - down) / (2 * FD_STEP)
            if abs(numeric - grad[index]) > FD_RTOL * scale + ROUNDOFF * max(abs(up), 1.0) / FD_STEP:
                failures.append(f"{name} d{key}{list(index)}: by hand {grad[index]:.8g}, finite diff {numeric:.8g}")
    return failures


def consistency_errors(name: str, dtype: np.dtype) -> list[str]:
    """forward() alone must give the loss that forward_backward() gives."""
    forward, forward_backward = peer_numpy.IMPLS[name]
    d = peer_numpy.prepare(WORKLOADS[name].make_data(dtype, np.random.default_rng(1)))
    alone, (both, grads) = forward(d), forward_backward(d)
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    errors = []
    if not np.isclose(alone, both, rtol=rtol, atol=0):
        errors.append(f"{name} {dtype}: forward {alone} vs forward_backward {both}")
    for key, grad in zip(WORKLOADS[name].wrt, grads, strict=True):
        if np.asarray(grad).dtype != dtype:
            errors.append(f"{name} {dtype}: d{key} computed in {np.asarray(grad).dtype}")
    return errors


def lecture_errors(name: str) -> list[str]:
    workload = WORKLOADS[name]
    d = peer_numpy.prepare(workload.make_data(np.dtype(np.float64), np.random.default_rng(0)))
    _, grads = peer_numpy.IMPLS[name][1](d)
    by_name = dict(zip(workload.wrt, grads, strict=True))
    return [
        f"{name} d{key}: {by_name[key]} vs lecture {expected}"
        for key, expected in workload.lecture_grads.items()
        if not np.allclose(by_name[key], expected, atol=0.0051, rtol=0)  # printed to 2 decimals
    ]


def run_all(names: Iterable[str] = WORKLOADS) -> list[str]:
    errors: list[str] = []
    for name in names:
        if WORKLOADS[name].finite_differences:
            errors += finite_difference_errors(name)
        errors += lecture_errors(name)
        for dtype in (np.dtype(np.float64), np.dtype(np.float32)):
            errors += consistency_errors(name, dtype)
    return errors


def test_numpy_baseline() -> None:
    errors = run_all()
    assert not errors, "\n".join(errors)


if __name__ == "__main__":
    problems = run_all()
    print("\n".join(problems) if problems else f"numpy baseline self-test: {len(WORKLOADS)} workloads OK")
    raise SystemExit(1 if problems else 0)
