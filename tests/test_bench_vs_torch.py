"""The PyTorch side of ``experiments/bench_vs_torch.py`` does the same work as jaxnas: the NB201
supernet fixture has jaxnas's parameter count and computes the same logits and loss gradient
(skipped without torch, a failure under CI=true); the timing helpers; a quick run of the script
(slow)."""

from __future__ import annotations

import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnas import spaces
from jaxnas.models import Network, supernet_to_per_edge
from jaxnas.models.speed import interleaved, numpy_variables


@pytest.fixture(scope="module")
def T():
    try:
        import torch  # noqa: F401
    except ImportError as e:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true needs torch (the bench extra) for the reference tests ({e})")
        pytest.skip(f"torch not installed ({e})")
    from tests.fixtures import torch_nb201

    return torch_nb201


def _param_count(net, *args) -> int:
    shapes = jax.eval_shape(lambda: net.init(jax.random.key(0), *args, train=False))
    return sum(math.prod(a.shape) for a in jax.tree.leaves(shapes["params"]))


@pytest.mark.parametrize("c,n", [(16, 5), (8, 2)])
def test_nb201_parameter_count_matches_torch(T, c, n):
    net = spaces.get("nb201").supernet(c, n, 10)
    got = _param_count(net, jnp.zeros((1, 32, 32, 3)), jnp.zeros((6, 5)))
    assert got == T.param_count(T.Network(c, n, 10))
    if (c, n) == (16, 5):
        assert got == 1_686_106


def test_nb201_supernet_matches_torch(T):
    """Fused jaxnas supernet against the per-edge PyTorch one: logits and the gradient of the
    loss with respect to the first cell's 3x3 kernels, train mode (batch statistics)."""
    import torch

    c, n, b = 4, 1, 6
    net = Network(c, n, 10, scan=False)
    x = np.random.default_rng(0).normal(size=(b, 8, 8, 3)).astype(np.float32)
    y = np.arange(b) % 10
    w = jax.nn.softmax(jnp.asarray(np.random.default_rng(1).normal(size=(6, 5)), jnp.float32))
    shapes = jax.eval_shape(lambda: net.init(jax.random.key(0), jnp.asarray(x), w, train=False))
    v = numpy_variables(shapes, seed=3)

    def loss(params):
        logits, _ = net.apply({"params": params, "batch_stats": v["batch_stats"]}, x, w,
                              train=True, mutable=["batch_stats"])
        nll = -jnp.take_along_axis(jax.nn.log_softmax(logits), jnp.asarray(y)[:, None], 1)
        return nll.mean(), logits

    (_, logits), g = jax.jit(jax.value_and_grad(loss, has_aux=True))(v["params"])
    ref = T.Network(c, n, 10).double()
    T.load_flax(ref, supernet_to_per_edge(v, c)["params"], n)
    xt = torch.from_numpy(x.transpose(0, 3, 1, 2)).double()
    out = ref(xt, torch.from_numpy(np.asarray(w)).double())
    torch.nn.functional.cross_entropy(out, torch.from_numpy(y)).backward()
    np.testing.assert_allclose(np.asarray(logits), out.detach().numpy(), rtol=1e-4, atol=1e-4)
    # node 0's fused 3x3 kernel: edges 0, 1, 3 leave node 0, each owns C output channels
    k3 = np.asarray(g["stage0_cell0"]["node0_conv3x3"]["kernel"])
    for k, e in enumerate((0, 1, 3)):
        gt = ref.cells[0].edges[e].conv3x3.conv.weight.grad.numpy().transpose(2, 3, 1, 0)
        np.testing.assert_allclose(k3[..., k * c:(k + 1) * c], gt, rtol=1e-3, atol=1e-5)


def test_interleaved_times_every_implementation_each_round():
    calls = []
    out = interleaved({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, 2, 3,
                      syncs={"a": lambda _: None, "b": lambda _: None})
    assert calls == ["a", "a", "b", "b"] * 3
    assert set(out) == {"a", "b"} and all(len(t) == 3 and min(t) >= 0 for t in out.values())


@pytest.mark.slow
def test_bench_vs_torch_quick_run(T, tmp_path):
    from experiments import bench_vs_torch

    out = bench_vs_torch.main(["--quick", "--cases", "nb201", "--steps", "1", "--rounds", "1",
                               "--threads", "1", "--out", str(tmp_path / "r.json")])
    row = out["results"][0]
    assert len(set(row["params"].values())) == 1  # same network on both sides
    assert row["ratio"] > 0 and (tmp_path / "r.json").is_file()
