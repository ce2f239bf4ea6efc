"""Model loading and compilation: analytic solutions, exact Jacobian, SBML round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import apopsim
from apopsim.engine import compile_model
from apopsim.errors import ModelError

FIXTURE = Path(__file__).parent / "data" / "engine_fixture.ant"

DECAY = """
model decay()
  compartment cell = 1;
  A = 100;        // nM
  k = 0.5;        // 1/h
  r1: A -> ; k * A;
end
"""

BINDING = """
model binding()
  compartment cell = 1;
  A = 50; B = 30; C = 0;   // nM
  kon = 2; koff = 10;      // 1/(nM*h), 1/h  -> Kd = 5 nM
  bind: A + B -> C; kon * A * B - koff * C;
  Atot := A + C;
end
"""


def test_first_order_decay_matches_exponential(write_model):
    m = apopsim.load_model(write_model(DECAY))
    t = np.linspace(0, 10, 41)
    tr = apopsim.simulate(m, t, preequilibration=apopsim.PreequilibrationOptions(enabled=False),
                          rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(tr["A"], 100 * np.exp(-0.5 * t), rtol=1e-7, atol=1e-9)


def test_reversible_binding_reaches_analytic_equilibrium(write_model):
    m = apopsim.load_model(write_model(BINDING))
    tr = apopsim.simulate(m, [0, 50], preequilibration=apopsim.PreequilibrationOptions(
        enabled=False), rtol=1e-10, atol=1e-12)
    kd, a0, b0 = 5.0, 50.0, 30.0
    # C solves (a0 - C)(b0 - C) = Kd C
    s = a0 + b0 + kd
    c = (s - np.sqrt(s * s - 4 * a0 * b0)) / 2
    assert tr["C"][-1] == pytest.approx(c, rel=1e-7)
    assert tr["Atot"][-1] == pytest.approx(a0, rel=1e-9)


def test_jacobian_is_exact(write_model):
    m = apopsim.load_model(FIXTURE)
    cm = compile_model(m)
    rng = np.random.default_rng(0)
    y = m.initial * rng.uniform(0.5, 1.5, m.initial.size) + 1.0
    p = cm.param_vector({"hht": 30.0, "lisaftoclax": 10.0})
    J = cm.jac(0.0, y, p)
    f0 = cm.rhs(0.0, y, p)
    for j in range(y.size):
        h = 1e-6 * max(1.0, abs(y[j]))
        yp, ym = y.copy(), y.copy()
        yp[j] += h
        ym[j] -= h
        fd = (cm.rhs(0.0, yp, p) - cm.rhs(0.0, ym, p)) / (2 * h)
        np.testing.assert_allclose(J[:, j], fd, rtol=1e-5, atol=1e-6 * np.abs(f0).max())


def test_rhs_matches_stoichiometry_times_rates():
    m = apopsim.load_model(FIXTURE)
    cm = compile_model(m)
    p = cm.param_vector()
    n = m.stoichiometry
    assert n.shape == (len(m.state), len(m.reactions))
    # every reaction changes at least one species
    assert np.all(np.abs(n).sum(axis=0) > 0)
    assert np.all(np.isfinite(cm.rhs(0.0, m.initial, p)))


def test_compartment_volume_scales_concentration(write_model):
    path = write_model("""
    model vol()
      compartment c = 2;
      A in c; A = 10;     // initial concentration 10 nM, amount 20
      k = 1;
      r: A -> ; k * A * c;
    end
    """)
    m = apopsim.load_model(path)
    assert m.initial[0] == pytest.approx(20.0)
    tr = apopsim.simulate(m, [0, 1], preequilibration=apopsim.PreequilibrationOptions(
        enabled=False), rtol=1e-10, atol=1e-12)
    assert tr["A"][0] == pytest.approx(10.0)
    assert tr["A"][-1] == pytest.approx(10 * np.exp(-1), rel=1e-7)


def test_rate_rule_and_piecewise(write_model):
    path = write_model("""
    model rr()
      x = 0;
      x' = piecewise(2, time < 1, 0);
    end
    """)
    m = apopsim.load_model(path)
    tr = apopsim.simulate(m, [0, 0.5, 3], preequilibration=apopsim.PreequilibrationOptions(
        enabled=False), rtol=1e-9, atol=1e-12, method="BDF")
    assert tr["x"][1] == pytest.approx(1.0, rel=1e-5)
    assert tr["x"][2] == pytest.approx(2.0, rel=1e-4)


def test_bad_antimony_reports_file(write_model):
    path = write_model("model broken()\n  A -> ; k*\nend\n")
    with pytest.raises(ModelError, match="m.ant"):
        apopsim.load_model(path)


def test_unknown_model_lists_builtins():
    with pytest.raises(ModelError, match="bcl2_core"):
        apopsim.load_model("no_such_model")


def test_sbml_export_round_trip(tmp_path):
    import libsbml

    m = apopsim.load_model(FIXTURE)
    text = m.to_sbml()
    doc = libsbml.readSBMLFromString(text)
    doc.checkConsistency()
    errors = [doc.getError(i) for i in range(doc.getNumErrors())
              if doc.getError(i).getSeverity() >= libsbml.LIBSBML_SEV_ERROR]
    assert not errors
    path = tmp_path / "m.xml"
    path.write_text(text)
    m2 = apopsim.load_model(path)
    assert m2.state == m.state
    assert m2.parameters["ksyn_MCL1"] == pytest.approx(m.parameters["ksyn_MCL1"])
    np.testing.assert_allclose(m2.initial, m.initial)


def test_jacobian_of_a_hill_term_is_finite_at_zero(write_model):
    """d/dx x^n/(K^n + x^n) with a symbolic n: sympy writes it with a division by x, which used
    to raise ZeroDivisionError wherever the species was absent (x = 0)."""
    import numpy as np

    from apopsim.engine import compile_model

    path = write_model("""
        model hill
          compartment cell = 2;
          species X in cell = 0, Y in cell = 0;
          n = 2.5; K = 3; k = 1; kd = 0.1;
          J0: -> X; 1;
          J1: -> Y; k * X^n / (K^n + X^n);
          J2: Y -> ; kd * Y;
        end
    """)
    m = apopsim.load_model(path)
    cm = compile_model(m)
    p = cm.param_vector()
    jac = cm.jac(0.0, np.zeros(len(m.state)), p)
    assert np.all(np.isfinite(jac))
    y = np.array([1.4 if s == "X" else 0.0 for s in m.state])  # 0.7 nM in a size-2 cell
    i, j = m.state.index("Y"), m.state.index("X")
    h = 1e-6
    step = np.zeros_like(y)
    step[j] = h
    fd = (cm.rhs(0.0, y + step, p)[i] - cm.rhs(0.0, y - step, p)[i]) / (2 * h)
    assert cm.jac(0.0, y, p)[i, j] == pytest.approx(fd, rel=1e-6)
