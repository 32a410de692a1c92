"""The contract of every registered search space (the toy spaces of tests/fixtures/toy.py
included): encodings, keys, neighbourhoods and their masks, sampling, jit/vmap.

Parametrised over :data:`jaxnas.spaces.SPACES`, so a new space is checked by registering it.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnas import spaces
from tests.fixtures import toy  # noqa: F401  (registers the toy spaces)

NAMES = sorted(spaces.SPACES)
SMALL = 5000  # spaces up to this size are checked exhaustively


@pytest.fixture(params=NAMES)
def space(request):
    return spaces.get(request.param)


def some_archs(space, n: int = 64) -> np.ndarray:
    """Up to ``n`` architectures: all of a small space, else a fixed uniform sample."""
    if space.num_archs is not None and space.num_archs <= n:
        return space.all_archs()
    keys = jax.random.split(jax.random.key(0), n)
    return np.asarray(jax.vmap(space.sample)(keys))


def test_registry_round_trip(space):
    assert spaces.get(space.name) is space
    assert hash(space) == hash(spaces.get(space.name))  # static, hashable


def test_string_and_key_round_trips(space):
    archs = some_archs(space)
    for a in archs:
        assert np.array_equal(space.from_string(space.to_string(a)), a)
        assert np.array_equal(space.validate(a), a)
    keys = np.asarray(space.arch_key(jnp.asarray(archs)))
    assert keys.shape == (len(archs), *space.key_shape) and keys.dtype == space.key_dtype
    if space.num_archs is not None:
        assert keys.min() >= 0 and keys.max() < space.num_archs
        np.testing.assert_array_equal(np.asarray(space.arch_of_key(keys)), archs)


def test_canonical_keys_on_the_enumerated_space(space):
    if space.num_archs is None or space.num_archs > 20000:
        pytest.skip("not enumerable (or too large to enumerate here)")
    archs = space.all_archs()
    assert archs.shape == (space.num_archs, *space.arch_shape)
    assert len({a.tobytes() for a in archs}) == space.num_archs  # distinct archs
    keys = np.asarray(space.arch_key(jnp.asarray(archs)))
    np.testing.assert_array_equal(keys, np.arange(space.num_archs))  # key order, distinct keys
    # equal archs, equal keys (a copy of every arch)
    np.testing.assert_array_equal(np.asarray(space.arch_key(jnp.asarray(archs.copy()))), keys)
    assert bool(jnp.all(space.keys_equal(keys, keys)))


def test_neighbour_masks(space):
    archs = some_archs(space)
    nb, valid = jax.vmap(space.neighbours)(jnp.asarray(archs))
    nb, valid = np.asarray(nb), np.asarray(valid)
    assert nb.shape == (len(archs), space.max_neighbours, *space.arch_shape)
    assert valid.shape == (len(archs), space.max_neighbours) and valid.dtype == bool
    for a, rows, ok in zip(archs, nb, valid, strict=True):
        rows = rows[ok]
        for r in rows:
            space.validate(r)  # valid rows are valid architectures
        keys = np.asarray(space.arch_key(jnp.asarray(rows))).reshape(len(rows), -1)
        assert len({k.tobytes() for k in keys}) == len(rows)  # distinct
        own = np.asarray(space.arch_key(jnp.asarray(a))).reshape(-1)
        assert not any(np.array_equal(k, own) for k in keys)  # differ from the centre


def test_neighbour_row_and_mask_equal_the_neighbourhood(space):
    """Local search rebuilds the row it scans with ``neighbour`` and masks with
    ``neighbour_mask``: both must equal :meth:`neighbours` exactly (rows, padding included)."""
    if (type(space).neighbour is spaces.SearchSpace.neighbour
            and type(space).neighbour_mask is spaces.SearchSpace.neighbour_mask):
        pytest.skip("the default neighbour/neighbour_mask read neighbours() itself")
    if space.name in ("darts-7", "s2", "s3", "s4"):  # compile time; darts and s1 cover the class
        pytest.skip("the DARTS-family class is checked on darts and s1 (masked input changes)")

    @jax.jit
    def both(key):
        archs = jax.vmap(space.sample)(jax.random.split(key, 8))
        rows = jax.vmap(lambda a: jax.vmap(lambda n: space.neighbour(a, n))(
            jnp.arange(space.max_neighbours)))(archs)
        return jax.vmap(space.neighbours)(archs), rows, jax.vmap(space.neighbour_mask)(archs)

    (nb, valid), rows, mask = both(jax.random.key(3))
    np.testing.assert_array_equal(np.asarray(rows), np.asarray(nb))
    np.testing.assert_array_equal(np.asarray(mask), np.asarray(valid))
    assert not np.all(np.asarray(valid)) or space.name != "s1"  # S1 masks some input changes


def test_neighbour_symmetry(space):
    if space.num_archs is None or space.num_archs > 20000:
        pytest.skip("checked on enumerable spaces")
    nbr, valid = space.neighbour_table()
    n = space.num_archs
    adj = np.zeros((n, n), bool) if n <= SMALL else None
    if adj is not None:
        rows = np.repeat(np.arange(n), nbr.shape[1])
        adj[rows[valid.ravel()], nbr.ravel()[valid.ravel()]] = True
        np.testing.assert_array_equal(adj, adj.T)  # b in N(a) iff a in N(b)
        assert not adj.diagonal().any()
    else:
        edges = {(a, b) for a in range(n) for b, ok in zip(nbr[a], valid[a], strict=True) if ok}
        assert all((b, a) in edges for a, b in edges)
    assert np.all(nbr[~valid] == np.nonzero(~valid)[0])  # padding holds the row's own key


def test_neighbourhood_rows(space):
    """Radius 1 is the centre then the neighbours; every radius's size is neighbourhood_size."""
    a = jnp.asarray(some_archs(space, 4)[0])
    for r in range(0, min(space.max_radius, 2) + 1):
        archs, valid = space.neighbourhood(a, r)
        assert archs.shape == (space.neighbourhood_size(r), *space.arch_shape)
        assert np.array_equal(np.asarray(archs[0]), np.asarray(a)) and bool(valid[0])
    archs, valid = space.neighbourhood(a, 1)
    nb, ok = space.neighbours(a)
    np.testing.assert_array_equal(np.asarray(archs[1:])[np.asarray(ok)],
                                  np.asarray(nb)[np.asarray(ok)])
    np.testing.assert_array_equal(np.asarray(valid[1:]), np.asarray(ok))
    with pytest.raises(ValueError, match="radius"):
        space.neighbourhood_size(space.max_radius + 1)


def test_uniform_sampling(space):
    keys = jax.random.split(jax.random.key(1), 20000)
    archs = jax.jit(jax.vmap(space.sample))(keys)
    k = np.asarray(space.arch_key(archs))
    if space.num_archs is not None and space.num_archs <= 200:
        # chi-square goodness of fit against the uniform distribution
        counts = np.bincount(k, minlength=space.num_archs)
        exp = len(k) / space.num_archs
        chi2 = float(np.sum((counts - exp) ** 2 / exp))
        dof = space.num_archs - 1
        assert chi2 < dof + 5 * np.sqrt(2 * dof)  # ~5 sigma
    elif space.num_archs is not None:
        assert k.min() >= 0 and k.max() < space.num_archs
        assert len(np.unique(k)) > 0.6 * min(len(k), space.num_archs)
        # the mean key of a uniform draw is (N - 1) / 2
        assert abs(k.mean() / (space.num_archs - 1) - 0.5) < 0.02
    for a in np.asarray(archs[:200]):
        space.validate(a)


def test_mutate_returns_a_valid_neighbour(space):
    archs = jnp.asarray(some_archs(space, 32))
    keys = jax.random.split(jax.random.key(2), archs.shape[0])
    kids = jax.vmap(space.mutate)(keys, archs)
    nb, valid = jax.vmap(space.neighbours)(archs)
    for kid, rows, ok in zip(np.asarray(kids), np.asarray(nb), np.asarray(valid), strict=True):
        if ok.any():
            assert any(np.array_equal(kid, r) for r in rows[ok])
    # every valid neighbour is reachable
    a = archs[0]
    many = jax.vmap(lambda k: space.mutate(k, a))(jax.random.split(jax.random.key(3), 2000))
    nb0, ok0 = space.neighbours(a)
    got = {x.tobytes() for x in np.asarray(many)}
    assert got == {np.asarray(r).tobytes() for r in np.asarray(nb0)[np.asarray(ok0)]}


def test_mutate_edges_stays_in_the_space(space):
    """naszilla's evolution mutation (a product space: edge by edge, a constrained one drawing
    again until the child is allowed; otherwise one valid neighbour) gives architectures of the
    space (``validate`` refuses the others, e.g. two 'none' edges in toy_masked), and changes
    some of them."""
    archs = jnp.asarray(some_archs(space, 32))
    keys = jax.random.split(jax.random.key(6), archs.shape[0])
    kids = np.asarray(jax.jit(jax.vmap(space.mutate_edges))(keys, archs))
    for kid in kids:
        np.testing.assert_array_equal(space.validate(kid), kid)
    if space.num_archs is not None:
        k = np.asarray(space.arch_key(jnp.asarray(kids)))
        assert k.min() >= 0 and k.max() < space.num_archs
    assert np.any(kids != np.asarray(archs))


def test_pure_functions_trace_once(space):
    archs = jnp.asarray(some_archs(space, 8))
    keys = jax.random.split(jax.random.key(4), archs.shape[0])
    chex.clear_trace_counter()

    def sample(k):
        return jax.vmap(space.sample)(k)

    def neighbours(a):
        return jax.vmap(space.neighbours)(a)

    def mutate(k, a):
        return jax.vmap(space.mutate)(k, a)

    def arch_key(a):
        return jax.vmap(space.arch_key)(a)

    fns = {f.__name__: jax.jit(chex.assert_max_traces(f, n=1))
           for f in (sample, neighbours, mutate, arch_key)}
    for _ in range(2):
        fns["sample"](keys)
        fns["neighbours"](archs)
        fns["mutate"](keys, archs)
        fns["arch_key"](archs)
    # different values, same shapes: no retrace
    fns["neighbours"](archs[::-1])
    fns["mutate"](jax.random.split(jax.random.key(5), archs.shape[0]), archs)


def test_selection_structure(space):
    """Spaces with a supernet: the decision groups partition the decisions, every topology
    node's inputs lie in one group, and a node keeps fewer inputs than it has; the magnitude
    rule on a one-hot architecture gives it back."""
    if not space.has_supernet:
        pytest.skip(f"{space.name} has no supernet")
    n = len(space.decisions())
    groups = space.decision_groups()
    assert sorted(e for g in groups for e in g) == list(range(n))
    topo, keep = space.topology()
    assert len(topo) in (0, len(groups))
    for g, nodes in zip(groups, topo, strict=False):
        for rows in nodes:
            assert set(rows) <= set(g) and 0 < keep < len(rows)
    for arch in some_archs(space, 8):
        w = jax.tree.map(lambda x: 10.0 * np.asarray(x), space.one_hot(arch))
        back = space.discretize(w)
        np.testing.assert_array_equal(space.arch_key(jnp.asarray(back)),
                                      space.arch_key(jnp.asarray(arch)))
