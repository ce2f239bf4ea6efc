"""Per-cell work outside the stiff kernel: compiled observables and the parameter vector."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import apopsim
from apopsim.engine import compile_model
from apopsim.engine import compiler as C

RULES = """
model rules()
  compartment cell = 2;
  A = 10; B = 0; C = 0;        // nM
  k = 0.5; kd = 3; n = 2;      // 1/h, nM, 1
  r1: A -> B; k * A;
  r2: B -> C; k * B / (1 + time);
  frac := B / (B + C);         // 0 / 0 (NaN) while B and C are absent
  hill := A^n / (kd^n + A^n);
  clock := time * k;
  total := A + B + C;
  ratio := frac * total;       // uses another rule
end
"""


def _numpy_observe(cm):
    """The vectorised numpy ``observe`` of the generated model module (the reference)."""
    return sys.modules[f"apopsim_gen_{cm.model.structure_hash()}_{C.CODEGEN_VERSION}"].observe


def test_compiled_observables_match_the_numpy_rules(write_model):
    """The compiled row loop gives the numpy rules' values (0 / 0 -> NaN, time, rule of rules)
    on any trajectory shape, including a non-contiguous view and one row."""
    m = apopsim.load_model(write_model(RULES))
    cm = compile_model(m)
    rng = np.random.default_rng(1)
    Y = rng.uniform(0.0, 20.0, (30, len(m.state)))
    Y[:4, [m.state.index("B"), m.state.index("C")]] = 0.0
    t = np.linspace(0.0, 12.0, 30)
    p = cm.param_vector({"k": 0.7})
    with np.errstate(all="ignore"):
        ref = _numpy_observe(cm)(t, Y, p)
        for tt, YY in ((t, Y), (t[::2], Y[::2]), (t[:1], Y[:1]), (t[:0], Y[:0])):
            got = cm.observe(tt, YY, p)
            want = _numpy_observe(cm)(tt, YY, p)
            assert list(got) == list(m.assignment_rules)
            for k in want:
                np.testing.assert_allclose(got[k], want[k], rtol=1e-14, atol=0.0)
    assert np.isnan(cm.observe(t, Y, p)["frac"][:4]).all() and np.isnan(ref["frac"][:4]).all()
    np.testing.assert_allclose(cm.observe(t, Y, p)["clock"], 0.7 * t, rtol=1e-15)


EDGE = """
model edge()
  compartment cell = 1;
  A = 10; B = 0;
  k = 0.5;
  r1: A -> B; k * A;
  flag := A > 5;
  pw := piecewise(1, A > 5, 2);
  c0 := 3;
  mm := max(A, B) + floor(A);
  sqrtA := A^0.5;
end
"""


def test_compiled_observables_of_conditions_constants_and_min_max(write_model):
    """Booleans as 0 / 1, piecewise, a constant rule on every row, max and floor, NaN for the
    root of a negative value (the numpy rules' semantics)."""
    m = apopsim.load_model(write_model(EDGE))
    cm = compile_model(m)
    Y = np.array([[10.0, 0.0], [4.0, 6.0], [-1.0, 11.0]])
    got = cm.observe(np.arange(3.0), Y, cm.param_vector())
    np.testing.assert_array_equal(got["flag"], [1.0, 0.0, 0.0])
    np.testing.assert_array_equal(got["pw"], [1.0, 2.0, 2.0])
    np.testing.assert_array_equal(got["c0"], [3.0, 3.0, 3.0])
    np.testing.assert_array_equal(got["mm"], [20.0, 10.0, 10.0])
    np.testing.assert_allclose(got["sqrtA"][:2], [10.0 ** 0.5, 2.0], rtol=1e-15)
    assert np.isnan(got["sqrtA"][2])


@pytest.mark.parametrize("name", ["bcl2_core"])
def test_compiled_observables_on_a_shipped_model(name):
    m = apopsim.load_model(name)
    cm = compile_model(m)
    rng = np.random.default_rng(2)
    Y = m.initial * rng.uniform(0.5, 1.5, (20, len(m.state)))
    t = np.linspace(0.0, 72.0, 20)
    p = cm.param_vector()
    got, want = cm.observe(t, Y, p), _numpy_observe(cm)(t, Y, p)
    assert list(got) == list(want)
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-13, atol=1e-300)


def test_param_vector_overrides_and_copies(write_model):
    """Overrides replace values by name (unknown names ignored); each call returns a fresh
    vector equal to the model's own values merged with the overrides."""
    m = apopsim.load_model(write_model(RULES))
    cm = compile_model(m)
    base = {**m.parameters, **m.boundary_species}
    want = np.array([{**base, "k": 2.5}[k] for k in cm.param_names], dtype=float)
    v = cm.param_vector({"k": 2.5, "not_a_parameter": 9.0})
    np.testing.assert_array_equal(v, want)
    v[:] = -1.0  # the caller owns its vector
    np.testing.assert_array_equal(cm.param_vector(),
                                  np.array([base[k] for k in cm.param_names], dtype=float))
    assert compile_model(m).autonomous is False  # time in a kinetic law (cached per structure)
