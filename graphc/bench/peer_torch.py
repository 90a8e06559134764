"""Peer 3: PyTorch eager, gradients by ``torch.autograd.grad``; and ``torch.compile``.

``autograd.grad`` returns fresh gradients each call, so nothing accumulates in
``.grad`` and nothing has to be zeroed between timed calls. Forward-only runs on
tensors that do not require grad, so autograd records nothing (as in inference).

With ``compiled=True`` (the ``torch-compile`` peer) the loss is ``torch.compile``d
(inductor, which generates C++ for the CPU): forward and fwd+bwd each get their own
compiled function, and AOTAutograd compiles the backward that ``autograd.grad`` runs.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812  (the name every torch user knows)

from graphc.bench.peers import PeerParts
from graphc.bench.workloads import L2_REG, W6_KERNEL, W6_REG, WORKLOADS, Data


def _threads() -> int:
    # Match NumPy's OpenBLAS, which uses every core unless OMP_NUM_THREADS says otherwise.
    return int(os.environ.get("OMP_NUM_THREADS") or os.cpu_count() or 1)


torch.set_num_threads(_threads())

Loss = Callable[[dict], torch.Tensor]


def w1_loss(d: dict) -> torch.Tensor:
    h = torch.sigmoid(d["x"] @ d["w1"])
    return torch.sum((h @ d["w2"] - d["y"]) ** 2)


def w2_loss(d: dict) -> torch.Tensor:
    x = d["x"]
    return torch.sum(torch.sigmoid(d["a"] * x + d["b"]) * torch.tanh(x) + torch.maximum(x, 0.1 * x))


def w3_add_mul_loss(d: dict) -> torch.Tensor:
    return (d["x"] + d["y"]) * d["z"]


def w3_neuron_loss(d: dict) -> torch.Tensor:
    w, x = d["w"], d["x"]
    return 1.0 / (1.0 + torch.exp(-(w[0] * x[0] + w[1] * x[1] + w[2])))


def w4_loss(d: dict) -> torch.Tensor:
    h1 = torch.relu(d["x"] @ d["w1"] + d["b1"])
    h2 = torch.relu(h1 @ d["w2"] + d["b2"])
    l2 = sum(torch.sum(d[w] ** 2) for w in ("w1", "w2", "w3"))
    return F.cross_entropy(h2 @ d["w3"] + d["b3"], d["labels"]) + L2_REG * l2


def w5_loss(d: dict) -> torch.Tensor:
    act = torch.relu(F.conv2d(d["x"], d["conv_w"], d["conv_b"], padding=1))
    flat = F.max_pool2d(act, 2).flatten(1)  # NCHW flatten, as the other peers
    return F.cross_entropy(flat @ d["fc_w"] + d["fc_b"], d["labels"])


def w6_loss(d: dict) -> torch.Tensor:
    act = torch.relu(F.conv2d(d["x"], d["W1"], d["b1"], padding=W6_KERNEL // 2))
    hidden = torch.relu(F.max_pool2d(act, 2).flatten(1) @ d["W2"] + d["b2"])
    l2 = sum(torch.sum(d[w] ** 2) for w in ("W1", "W2", "W3"))
    return F.cross_entropy(hidden @ d["W3"] + d["b3"], d["labels"]) + W6_REG * l2


LOSSES: dict[str, Loss] = {
    "W1": w1_loss,
    "W2": w2_loss,
    "W3_add_mul": w3_add_mul_loss,
    "W3_neuron": w3_neuron_loss,
    "W4": w4_loss,
    "W5_8x8": w5_loss,
    "W5_28x28": w5_loss,
    "W6": w6_loss,
    "W6_8x8": w6_loss,
}


def parts(workload: str, dtype: np.dtype, compiled: bool = False) -> PeerParts:
    del dtype  # torch follows the tensors' dtype
    wrt = WORKLOADS[workload].wrt
    eager = LOSSES[workload]
    if compiled:
        # Dynamo caches compiled code per Python function: the W5 sizes, dtypes and modes
        # share one loss function and would pass the default limit of 8 (then it runs
        # eager, silently). Shapes are static, as for every other peer.
        torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 64)
        # one compiled function per mode: forward runs on tensors that do not require grad
        forward_loss, loss = (torch.compile(eager, dynamic=False) for _ in range(2))
    else:
        forward_loss = loss = eager

    def prepare(data: Data) -> dict:
        plain = {k: torch.from_numpy(v) for k, v in data.items()}  # shares the NumPy memory
        leaves = tuple(plain[k].detach().requires_grad_(True) for k in wrt)
        return {"plain": plain, "leaves": leaves, "graph": plain | dict(zip(wrt, leaves, strict=True))}

    def forward_backward(p: dict) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        value = loss(p["graph"])
        return value.detach(), torch.autograd.grad(value, p["leaves"])

    return PeerParts(prepare, lambda: lambda p: forward_loss(p["plain"]), lambda: forward_backward)
