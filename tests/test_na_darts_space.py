"""NA-DARTS on the DARTS space: the neighbourhood objective samples the space's own radius-1
neighbourhood (operation changes on kept edges and input changes), generalised to the alpha
pytree of both cell types."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxnas import spaces
from jaxnas.darts import na_objective as na


def _key(space, arch):
    return tuple(np.asarray(space.arch_key(jnp.asarray(arch))).tolist())


def test_structured_members_at_a_genotype_are_its_discrete_neighbours():
    space = spaces.get("darts-7")
    st = na.row_structure(space)
    assert st is not None and st.keep == 2 and st.pairs.shape == (2 * (3 + 6 + 10), 2)
    assert na.row_structure(spaces.get("nb201")) is None
    for seed in range(3):
        arch = np.asarray(space.sample(jax.random.key(seed)))
        w = space.one_hot(arch)
        members, valid = na.structured_members(w, st)
        valid = np.asarray(valid)
        assert valid.sum() == 120 and not valid[0]  # naszilla's 2 * (8 * 6 + 12)
        got = set()
        for m in np.flatnonzero(valid):
            member = {c: np.asarray(members[c][m]) for c in members}
            # every member is a permutation of the centre's entries
            for c in member:
                np.testing.assert_array_equal(np.sort(member[c], None), np.sort(w[c], None))
            got.add(_key(space, space.discretize({c: 10.0 * member[c] for c in member})))
        nbrs, ok = space.neighbours(jnp.asarray(arch))
        want = {_key(space, a) for a, v in zip(np.asarray(nbrs), np.asarray(ok), strict=True)
                if v}
        assert got == want and len(want) == 120
        # the centre discretizes to the architecture itself
        centre = {c: 10.0 * np.asarray(members[c][0]) for c in members}
        assert _key(space, space.discretize(centre)) == _key(space, arch)


def test_structured_neighbourhood_loss_samples_valid_members_and_is_differentiable():
    space = spaces.get("darts-7")
    st = na.row_structure(space)
    alpha = space.init_alpha(jax.random.key(0), 1.0)
    target = jax.tree.map(lambda a: jax.random.normal(jax.random.key(1), a.shape), alpha)

    def loss_fn(w):
        return sum(jnp.sum(w[c] * target[c]) for c in w)

    def objective(a):
        w = jax.tree.map(lambda x: jax.nn.softmax(x, -1), a)
        return na.neighbourhood_loss(loss_fn, w, k=6, key=jax.random.key(2), structure=st)

    (val, per), g = jax.value_and_grad(objective, has_aux=True)(alpha)
    assert per.shape == (7,) and np.isclose(float(val), float(jnp.mean(per)))
    assert all(np.isfinite(np.asarray(x)).all() and np.abs(np.asarray(x)).max() > 0
               for x in jax.tree.leaves(g))
    # the whole valid neighbourhood (k=None): the mean over the centre and its 120 members
    w = jax.tree.map(lambda x: jax.nn.softmax(x, -1), alpha)
    full, losses = na.neighbourhood_loss(loss_fn, w, structure=st)
    _, ok = na.structured_members(w, st)
    ok = np.asarray(ok).copy()
    ok[0] = True
    assert ok.sum() == 121
    np.testing.assert_allclose(float(full), np.asarray(losses)[ok].mean(), rtol=1e-5)
