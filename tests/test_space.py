"""NAS-Bench-201 search-space encodings (property-based with hypothesis)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jaxnas.spaces import nb201 as S

archs = st.lists(st.integers(0, 4), min_size=6, max_size=6).map(lambda a: np.array(a, np.int32))


@given(archs)
@settings(max_examples=200, deadline=None)
def test_string_round_trip(a):
    s = S.to_string(a)
    assert s.count("~") == 6 and s.startswith("|") and s.endswith("|")
    np.testing.assert_array_equal(S.from_string(s), a)


@given(archs)
@settings(max_examples=200, deadline=None)
def test_code_round_trip(a):
    c = int(S.to_code(a))
    assert 0 <= c < S.NUM_ARCHS
    assert c == sum(int(x) * 5**e for e, x in enumerate(a))  # independent formula
    np.testing.assert_array_equal(np.asarray(S.from_code(c)), a)


@given(archs)
@settings(max_examples=100, deadline=None)
def test_neighbourhood_is_hamming_one_and_symmetric(a):
    nb = np.asarray(S.neighbours(a))
    assert nb.shape == (24, 6)
    assert np.all((nb != a).sum(1) == 1)  # exactly one edge changed
    assert len({tuple(x) for x in nb}) == 24  # all distinct: every other op on every edge
    for b in nb:  # symmetry: a is a neighbour of each of its neighbours
        assert any(np.array_equal(a, x) for x in np.asarray(S.neighbours(b)))
    codes = np.asarray(S.neighbour_codes(S.to_code(a)))
    np.testing.assert_array_equal(codes, np.asarray(S.to_code(nb)))


def test_neighbour_table_matches_pure_function():
    t = S.neighbour_table()
    assert t.shape == (15625, 24)
    some = np.array([0, 1, 777, 15624])
    np.testing.assert_array_equal(t[some], np.asarray(S.neighbour_codes(some)))
    # symmetric graph: every edge appears in both directions
    src = np.repeat(np.arange(15625), 24)
    fwd = set(zip(src.tolist(), t.ravel().tolist(), strict=True))
    assert all((b, a) in fwd for a, b in list(fwd)[:5000])


def test_sample_and_mutate_are_deterministic_and_valid():
    k = jax.random.key(3)
    a = S.sample(k)
    np.testing.assert_array_equal(a, S.sample(k))
    assert a.shape == (6,) and a.dtype == jnp.int32 and bool(jnp.all((a >= 0) & (a < 5)))
    archs = jax.vmap(S.sample)(jax.random.split(k, 20000))
    counts = np.bincount(np.asarray(archs).ravel(), minlength=5)
    assert np.all(np.abs(counts / counts.sum() - 0.2) < 0.01)  # uniform over ops
    m = S.mutate(jax.random.key(1), a)
    assert int(jnp.sum(m != a)) == 1


def test_canonical_counts_match_nas_bench_201():
    assert S.canonical_ids("nb201").max() + 1 == 6466
    assert S.canonical_ids("functional").max() + 1 == 4930


def test_canonical_identifies_known_equivalences():
    # Both rules: the order in which a conv and a skip enter node 2 does not matter.
    a = S.from_string("|skip_connect~0|+|nor_conv_3x3~0|skip_connect~1|+|none~0|none~1|skip_connect~2|")
    b = S.from_string("|skip_connect~0|+|skip_connect~0|nor_conv_3x3~1|+|none~0|none~1|skip_connect~2|")
    for rule in ("nb201", "functional"):
        assert S.canonical_string(a, rule) == S.canonical_string(b, rule)
        ids = S.canonical_ids(rule)
        assert ids[int(S.to_code(a))] == ids[int(S.to_code(b))]
        assert int(S.canonical_code(S.to_code(a), rule)) == int(S.canonical_code(S.to_code(b), rule))
    # Functional rule: a conv reaching the output through skips or directly is one function;
    # NAS-Bench-201's rule keeps the zero summands and tells them apart.
    c = S.from_string("|nor_conv_3x3~0|+|none~0|none~1|+|none~0|skip_connect~1|none~2|")
    d = S.from_string("|nor_conv_3x3~0|+|none~0|skip_connect~1|+|none~0|none~1|skip_connect~2|")
    assert S.canonical_string(c, "functional") == S.canonical_string(d, "functional")
    assert S.canonical_string(c, "nb201") != S.canonical_string(d, "nb201")
    # Edges that cannot reach the output do not matter.
    e = S.from_string("|nor_conv_1x1~0|+|avg_pool_3x3~0|none~1|+|skip_connect~0|none~1|none~2|")
    f = S.from_string("|nor_conv_3x3~0|+|skip_connect~0|none~1|+|skip_connect~0|none~1|none~2|")
    assert S.canonical_string(e, "functional") == S.canonical_string(f, "functional") == "x"
    assert S.canonical_string(e) == S.canonical_string(f) == "#+#+x"
    # Different functions stay apart.
    g = S.from_string("|nor_conv_1x1~0|+|none~0|none~1|+|none~0|skip_connect~1|none~2|")
    assert S.canonical_string(c, "functional") != S.canonical_string(g, "functional")
    # The all-zero cell.
    assert S.canonical_string(np.zeros(6, np.int32), "functional") == "0"


@pytest.mark.parametrize(
    "bad, match",
    [
        ("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|", "3 node groups"),
        ("|conv_5x5~0|+|none~0|none~1|+|none~0|none~1|none~2|", "unknown operation 'conv_5x5'"),
        ("|none~0|+|none~0|none~2|+|none~0|none~1|none~2|", "should read from node 1"),
        ("|none~0|+|none~0|+|none~0|none~1|none~2|", "node 2 needs 2 inputs"),
        ("|none0|+|none~0|none~1|+|none~0|none~1|none~2|", "'none0' is not 'op~j'"),
        (42, "expected an NB201 architecture string"),
    ],
)
def test_bad_strings_raise(bad, match):
    with pytest.raises(ValueError, match=match):
        S.from_string(bad)


@pytest.mark.parametrize(
    "bad, match",
    [([0, 1, 2], r"got shape \(3,\)"), ([0, 1, 2, 3, 4, 5], "operation index 5 on edge 5"),
     ([0, -1, 0, 0, 0, 0], "operation index -1 on edge 1"), ([0.5] * 6, "must be integers")],
)
def test_bad_encodings_raise(bad, match):
    with pytest.raises(ValueError, match=match):
        S.to_string(bad)
    with pytest.raises(ValueError):
        S.canonical_string(bad)


def test_unknown_canonical_rule():
    with pytest.raises(ValueError, match="unknown canonical rule 'iso'"):
        S.canonical_string([0] * 6, rule="iso")


def test_the_space_object_agrees_with_the_module_functions():
    """NB201Space (the generic product space) keeps the module's orders and codes: the search
    algorithms' random streams and neighbourhood rows depend on them."""
    codes = np.arange(0, S.NUM_ARCHS, 7)
    archs = S.all_archs()[codes]
    np.testing.assert_array_equal(np.asarray(S.SPACE.arch_of_key(codes)), archs)
    np.testing.assert_array_equal(np.asarray(S.SPACE.arch_key(archs)), codes)
    nb, valid = jax.vmap(S.SPACE.neighbours)(archs)
    np.testing.assert_array_equal(np.asarray(nb), np.asarray(jax.vmap(S.neighbours)(archs)))
    assert bool(np.all(valid))
    np.testing.assert_array_equal(S.SPACE.neighbour_table()[0], S.neighbour_table())
    k = jax.random.split(jax.random.key(0), 50)
    np.testing.assert_array_equal(  # one integer draw: the stream of randint(0, 15625)
        np.asarray(jax.vmap(S.SPACE.sample)(k)),
        np.asarray(S.from_code(jax.vmap(lambda x: jax.random.randint(x, (), 0, S.NUM_ARCHS))(k))))
    assert not hasattr(S, "sample_code") and not hasattr(S, "mutate_code")
