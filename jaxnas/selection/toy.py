"""A tiny NAS-Bench-201-shaped supernet on vectors, for testing selection without convolutions.

Same cell graph as NAS-Bench-201 (4 nodes, 6 edges (dst, src) = (1,0),(2,0),(2,1),(3,0),(3,1),
(3,2)) and 5 operations per edge, applied to feature vectors ``[N, D]``::

    0 none: 0      1 skip: h      2 "conv1x1": tanh(h @ A[e])      3 "conv3x3": tanh(h @ B[e])
    4 "avg_pool": (h + roll(h, 1)) / 2

``apply(params, x, op_weights)`` takes explicit per-edge op weights ``[6, 5]`` like the real
supernet, so the selection code is exercised unchanged; :func:`constructed_case` builds weights
where the operation that carries the signal has the *smaller* alpha.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxnas.selection import loop
from jaxnas.selection import perturbation as pt
from jaxnas.spaces import nb201 as space

NUM_EDGES, NUM_OPS = space.NUM_EDGES, space.NUM_OPS


def init(key: jax.Array, dim: int, num_classes: int) -> dict:
    """Random toy parameters. Consumes ``key``."""
    ka, kb, ks, kh = jax.random.split(key, 4)
    s = 1.0 / np.sqrt(dim)
    return {
        "stem": jax.random.normal(ks, (dim, dim)) * s,
        "A": jax.random.normal(ka, (NUM_EDGES, dim, dim)) * s,
        "B": jax.random.normal(kb, (NUM_EDGES, dim, dim)) * s,
        "head": jax.random.normal(kh, (dim, num_classes)) * s,
    }


def _mixed(params: dict, e: int, h: jax.Array, w: jax.Array) -> jax.Array:
    outs = (
        jnp.zeros_like(h),
        h,
        jnp.tanh(h @ params["A"][e]),
        jnp.tanh(h @ params["B"][e]),
        0.5 * (h + jnp.roll(h, 1, axis=-1)),
    )
    return sum(w[k] * o for k, o in enumerate(outs))


def apply(params: dict, x: jax.Array, op_weights: jax.Array) -> jax.Array:
    """Logits ``[N, C]`` of inputs ``x[N, D]`` under op weights ``[6, 5]``."""
    nodes = [x @ params["stem"]]
    for dst in range(1, space.NUM_NODES):
        nodes.append(sum(_mixed(params, e, nodes[s], op_weights[e])
                         for e, (d, s) in enumerate(space.EDGES) if d == dst))
    return nodes[-1] @ params["head"]


def metrics(logits: jax.Array, y: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(accuracy, mean cross-entropy) of logits ``[N, C]`` against labels ``[N]``."""
    acc = jnp.mean(jnp.argmax(logits, -1) == y)
    loss = jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, y))
    return acc, loss


def eval_fn(params_and_data: tuple[dict, tuple[jax.Array, jax.Array]], op_weights: jax.Array):
    """``eval_fn((params, (x, y)), op_weights) -> (acc, loss)`` on the whole validation set."""
    params, (x, y) = params_and_data
    return metrics(apply(params, x, op_weights), y)


def make_problem(valid: tuple[jax.Array, jax.Array], train: tuple[jax.Array, jax.Array], *,
                 lr: float = 0.05, batch_size: int = 32, steps_per_epoch: int = 4) -> loop.Problem:
    """The selection :class:`~jaxnas.selection.loop.Problem` of the toy: tune state is
    ``{'params', 'opt'}`` trained by SGD with momentum on ``train``."""
    tx = optax.sgd(lr, momentum=0.9)
    scorer = pt.make_edge_scorer(eval_fn)

    def score_edge(tune_state, weights, decided, edge):
        return scorer((tune_state["params"], valid), weights, decided, edge)

    @jax.jit
    def _epoch(key, tune_state, op_weights):
        n = train[0].shape[0]

        def step(ts, k):
            idx = jax.random.choice(k, n, (batch_size,), replace=False)

            def loss_fn(p):
                return metrics(apply(p, train[0][idx], op_weights), train[1][idx])[1]

            g = jax.grad(loss_fn)(ts["params"])
            upd, opt = tx.update(g, ts["opt"], ts["params"])
            return {"params": optax.apply_updates(ts["params"], upd), "opt": opt}, None

        ts, _ = jax.lax.scan(step, tune_state, jax.random.split(key, steps_per_epoch))
        return ts

    def tune(key, tune_state, op_weights, num_epochs):
        for ep in range(num_epochs):
            tune_state = _epoch(jax.random.fold_in(key, ep), tune_state, op_weights)
        return tune_state

    return loop.Problem(score_edge=score_edge, tune=tune)


def init_tune_state(params: dict, lr: float = 0.05) -> dict:
    return {"params": params, "opt": optax.sgd(lr, momentum=0.9).init(params)}


def constructed_case(key: jax.Array, n: int = 512, dim: int = 10, num_classes: int = 5):
    """A toy supernet where the operation that matters has the smaller alpha.

    Labels are ``argmax(x[:, 5:10])``. On edge 0 (node 1 <- node 0) ``conv1x1`` (op 2) moves
    features 5..9 to 0..4, which the head reads; ``skip`` (op 1) carries features 0..4, which are
    independent of the label, yet ``skip`` has the larger alpha. Edge 4 (node 3 <- node 1) carries
    node 1 to the output; the other edges mostly hold ``none``. Magnitude selection therefore
    keeps ``skip`` on edge 0, while removing ``conv1x1`` drops accuracy to chance.

    Returns:
        ``(params, alpha[6, 5], (x, y))``. Consumes ``key``.
    """
    assert dim == 10 and num_classes == 5, "the construction is written for dim=10, 5 classes"
    x = jax.random.normal(key, (n, dim))
    y = jnp.argmax(x[:, 5:10], -1)
    perm = np.zeros((dim, dim), np.float32)
    for i in range(5):
        perm[5 + i, i] = 3.0  # h @ A moves (scaled) features 5..9 into slots 0..4
    A = np.zeros((NUM_EDGES, dim, dim), np.float32)
    A[0] = perm
    params = {
        "stem": jnp.eye(dim),
        "A": jnp.asarray(A),
        "B": jnp.zeros((NUM_EDGES, dim, dim)),
        "head": jnp.asarray(np.eye(dim, num_classes, dtype=np.float32)),
    }
    alpha = np.full((NUM_EDGES, NUM_OPS), -2.0, np.float32)
    alpha[:, 0] = 2.0  # "none" dominates edges that do not matter
    alpha[0] = [-1.0, 1.5, 1.0, -1.0, -1.0]  # skip > conv1x1 on the edge that matters
    alpha[4] = [-2.0, 2.0, -2.0, -2.0, -2.0]  # node 3 <- node 1: skip
    return params, jnp.asarray(alpha), (x, y)


class FlaxToy(nn.Module):
    """The toy cell as a Flax module with BatchNorm, called like the NAS-Bench-201 supernet:
    ``apply(variables, x[N, D], op_weights[6, 5], train=...)``."""

    features: int = 8
    num_classes: int = 4

    @nn.compact
    def __call__(self, x, op_weights, train: bool = False):
        bn = lambda name: nn.BatchNorm(use_running_average=not train, use_scale=False,  # noqa: E731
                                       use_bias=False, momentum=0.9, name=name)
        nodes = [bn("stem_bn")(nn.Dense(self.features, name="stem")(x))]
        for dst in range(1, space.NUM_NODES):
            total = 0.0
            for e, (d, s) in enumerate(space.EDGES):
                if d != dst:
                    continue
                h, w = nodes[s], op_weights[e]
                a = bn(f"bn_a{e}")(nn.Dense(self.features, use_bias=False, name=f"a{e}")(
                    nn.relu(h)))
                b = bn(f"bn_b{e}")(nn.Dense(self.features, use_bias=False, name=f"b{e}")(
                    nn.relu(h)))
                total = total + w[1] * h + w[2] * a + w[3] * b + w[4] * 0.5 * (
                    h + jnp.roll(h, 1, axis=-1))
            nodes.append(total)
        return nn.Dense(self.num_classes, name="head")(nodes[-1])
