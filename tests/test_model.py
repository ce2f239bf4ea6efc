"""model.py on its own: Antimony/SBML text -> Model (state, amounts, rules, stoichiometry),
overrides, structure hashing, SBML round trip and the errors that name what is wrong."""

from __future__ import annotations

import numpy as np
import pytest

import apopsim
from apopsim.errors import ModelError
from apopsim.model import load_sbml_text

TOY = """
model toy
  compartment cell = 2;
  species A in cell = 3, B in cell = 0;
  kf = 0.5; kr = 0.1; ksyn = 1;
  total := A + B;
  clock = 0;
  clock' = 1;
  bind: 2 A -> B; kf * A^2 - kr * B;
  make: -> A; ksyn;
end
"""


@pytest.fixture
def toy(write_model):
    return apopsim.load_model(write_model(TOY))


def test_state_amounts_rules_and_stoichiometry(toy):
    assert toy.species == ("A", "B")
    assert set(toy.state) == {"A", "B", "clock"}  # rate-rule variables are state too
    a = toy.state.index("A")
    assert toy.initial[a] == pytest.approx(6.0)  # 3 nM in a compartment of size 2: amount 6
    assert toy.initial_concentrations()["A"] == pytest.approx(3.0)
    assert toy.parameters["kf"] == 0.5 and toy.species_compartment["A"] == "cell"
    assert set(toy.assignment_rules) == {"total"} and set(toy.rate_rules) == {"clock"}
    n = toy.stoichiometry
    rx = [r.id for r in toy.reactions]
    assert n[a, rx.index("bind")] == -2 and n[toy.state.index("B"), rx.index("bind")] == 1
    assert n[a, rx.index("make")] == 1
    assert "total" in toy.observables


def test_overrides_copy_and_name_unknown_names(toy):
    changed = toy.with_overrides({"kf": 2.0}, {"B": 1.5})
    assert changed.parameters["kf"] == 2.0 and toy.parameters["kf"] == 0.5  # a copy
    assert changed.initial[changed.state.index("B")] == pytest.approx(3.0)  # nM x size 2
    assert changed.structure_hash() == toy.structure_hash()  # values are not structure
    with pytest.raises(ModelError, match="no parameter 'kff'.*kf"):
        toy.with_overrides({"kff": 1.0}, where="test")
    with pytest.raises(ModelError, match="negative"):
        toy.with_overrides(initial_nM={"A": -1.0})


def test_structure_hash_changes_with_reactions(write_model, toy):
    other = apopsim.load_model(write_model(TOY.replace("kf * A^2", "kf * A"), "other.ant"))
    assert other.structure_hash() != toy.structure_hash()


def test_sbml_round_trip_keeps_state_parameters_and_dynamics(toy):
    again = load_sbml_text(toy.to_sbml())
    assert again.state == toy.state and again.parameters == toy.parameters
    np.testing.assert_allclose(again.initial, toy.initial)
    off = apopsim.PreequilibrationOptions(enabled=False)
    a = apopsim.simulate(toy, [0, 1, 5], preequilibration=off, rtol=1e-10, atol=1e-12)
    b = apopsim.simulate(again, [0, 1, 5], preequilibration=off, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(a.values, b.values, rtol=1e-9, atol=1e-12)


def test_unsupported_elements_are_refused_by_name(write_model):
    path = write_model("""
        model ev
          species X = 1;
          J: X -> ; 0.1 * X;
          E1: at (time > 1): X = 5;
        end
    """, "ev.ant")
    with pytest.raises(ModelError, match="event"):
        apopsim.load_model(path)
