"""Peer 2: JAX, ``jax.jit(jax.value_and_grad(loss))`` on the CPU backend.

x64 is enabled once, at import: without it JAX silently computes float64 data in
float32. float32 data stays float32 (Python constants are weakly typed).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from graphc.bench.peers import Fn, PeerParts
from graphc.bench.workloads import L2_REG, W6_KERNEL, W6_REG, WORKLOADS, Data

jax.config.update("jax_enable_x64", True)
jax.devices()  # start the CPU backend now, not inside the first workload's compile time

Loss = Callable[[dict], jax.Array]


def w1_loss(d: dict) -> jax.Array:
    h = jax.nn.sigmoid(d["x"] @ d["w1"])
    return jnp.sum((h @ d["w2"] - d["y"]) ** 2)


def w2_loss(d: dict) -> jax.Array:
    x = d["x"]
    return jnp.sum(jax.nn.sigmoid(d["a"] * x + d["b"]) * jnp.tanh(x) + jnp.maximum(x, 0.1 * x))


def w3_add_mul_loss(d: dict) -> jax.Array:
    return (d["x"] + d["y"]) * d["z"]


def w3_neuron_loss(d: dict) -> jax.Array:
    w, x = d["w"], d["x"]
    return 1.0 / (1.0 + jnp.exp(-(w[0] * x[0] + w[1] * x[1] + w[2])))


def softmax_ce(scores: jax.Array, labels: jax.Array) -> jax.Array:
    logp = jax.nn.log_softmax(scores, axis=1)
    return -jnp.mean(jnp.take_along_axis(logp, labels[:, None], axis=1))


def w4_loss(d: dict) -> jax.Array:
    h1 = jax.nn.relu(d["x"] @ d["w1"] + d["b1"])
    h2 = jax.nn.relu(h1 @ d["w2"] + d["b2"])
    l2 = sum(jnp.sum(d[w] ** 2) for w in ("w1", "w2", "w3"))
    return softmax_ce(h2 @ d["w3"] + d["b3"], d["labels"]) + L2_REG * l2


def w5_loss(d: dict) -> jax.Array:
    conv = jax.lax.conv_general_dilated(
        d["x"], d["conv_w"], window_strides=(1, 1), padding=((1, 1), (1, 1)), dimension_numbers=("NCHW", "OIHW", "NCHW")
    )
    act = jax.nn.relu(conv + d["conv_b"][None, :, None, None])
    # What flax's max_pool does. Its gradient picks one winner at ties rather than
    # splitting; ties only occur among relu zeros here, whose gradient is 0 anyway.
    pooled = jax.lax.reduce_window(act, -jnp.inf, jax.lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")
    flat = pooled.reshape(pooled.shape[0], -1)
    return softmax_ce(flat @ d["fc_w"] + d["fc_b"], d["labels"])


def w6_loss(d: dict) -> jax.Array:
    pad = W6_KERNEL // 2
    conv = jax.lax.conv_general_dilated(
        d["x"], d["W1"], window_strides=(1, 1), padding=((pad, pad), (pad, pad)),
        dimension_numbers=("NCHW", "OIHW", "NCHW")
    )
    act = jax.nn.relu(conv + d["b1"][None, :, None, None])
    pooled = jax.lax.reduce_window(act, -jnp.inf, jax.lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")
    hidden = jax.nn.relu(pooled.reshape(pooled.shape[0], -1) @ d["W2"] + d["b2"])
    l2 = sum(jnp.sum(d[w] ** 2) for w in ("W1", "W2", "W3"))
    return softmax_ce(hidden @ d["W3"] + d["b3"], d["labels"]) + W6_REG * l2


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


def parts(workload: str, dtype: np.dtype) -> PeerParts:
    del dtype  # jit specialises on the dtype of the arrays it is given
    wrt = WORKLOADS[workload].wrt
    loss = LOSSES[workload]

    def prepare(data: Data) -> dict:
        # The differentiated inputs go as a tuple (argument 0 of value_and_grad),
        # the rest as a dict; W3, where call overhead is all, has no rest.
        return {
            "wrt": tuple(jnp.asarray(data[k]) for k in wrt),
            "rest": {k: jnp.asarray(v) for k, v in data.items() if k not in wrt},
        }

    def loss_of(wrt_values: tuple, rest: dict) -> jax.Array:
        return loss(dict(zip(wrt, wrt_values, strict=True)) | rest)

    def define_forward() -> Fn:
        compiled = jax.jit(loss_of)
        return lambda p: compiled(p["wrt"], p["rest"]).block_until_ready()

    def define_forward_backward() -> Fn:
        compiled = jax.jit(jax.value_and_grad(loss_of))

        def run(p: dict) -> tuple[jax.Array, tuple]:
            value, grads = compiled(p["wrt"], p["rest"])
            return jax.block_until_ready((value, grads))

        return run

    return PeerParts(prepare, define_forward, define_forward_backward)
