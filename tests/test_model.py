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


def test_initial_assignments_reach_parameters_compartments_and_boundary_species(write_model):
    model = apopsim.load_model(write_model("""
        model ia
          compartment cell;
          cell = 2 * base;
          base = 1.5;
          species A in cell = 4, $B in cell;
          B = kb * 3;
          kb = 2;
          k2 = k1 * 10;
          k1 = 0.1;
          J: A -> ; k2 * A * B;
          t0 = time + 1;
        end
    """, "ia.ant"))
    assert model.parameters["cell"] == pytest.approx(3.0)
    assert model.parameters["k2"] == pytest.approx(1.0)
    assert model.parameters["t0"] == pytest.approx(1.0)  # time is 0 at the start
    assert model.boundary_species["B"] == pytest.approx(6.0)
    assert model.initial_concentrations()["A"] == pytest.approx(4.0)
    changed = model.with_overrides({"k1": 0.2, "base": 1.0})
    assert changed.parameters["k2"] == pytest.approx(2.0)  # re-evaluated
    assert changed.parameters["cell"] == pytest.approx(2.0)
    pinned = model.with_overrides({"k2": 5.0, "k1": 1.0})
    assert pinned.parameters["k2"] == 5.0  # an explicit value wins over the assignment


def test_math_names_and_reaction_ids_in_math(write_model):
    model = apopsim.load_model(write_model("""
        model mathy
          species A = 1;
          J0: A -> ; k * A;
          k = 0.5;
          flux := J0;
          angles := acos(0.5) + asin(0.5) + atan(1) + ceil(0.2) + floor(1.7);
        end
    """, "mathy.ant"))
    off = apopsim.PreequilibrationOptions(enabled=False)
    traj = apopsim.simulate(model, [0.0, 1.0], preequilibration=off, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(traj["flux"], 0.5 * traj["A"], rtol=1e-9)
    expected = np.arccos(0.5) + np.arcsin(0.5) + np.arctan(1) + 1 + 1
    np.testing.assert_allclose(traj["angles"], expected, rtol=1e-12)


_SBML_HEAD = ('<?xml version="1.0" encoding="UTF-8"?>\n<sbml xmlns="http://www.sbml.org/sbml/'
              'level3/version1/core" level="3" version="1"><model id="m">')


def _sbml(body: str) -> str:
    return _SBML_HEAD + body + "</model></sbml>"


_COMP = ('<listOfCompartments><compartment id="c" size="1" constant="true"/>'
         '</listOfCompartments>')
_SPECIES = ('<listOfSpecies><species id="A" compartment="c" initialAmount="2" '
            'hasOnlySubstanceUnits="false" boundaryCondition="false" constant="false"/>'
            '<species id="B" compartment="c" initialAmount="0" hasOnlySubstanceUnits="false" '
            'boundaryCondition="false" constant="false"/></listOfSpecies>')
_PARAMS = ('<listOfParameters><parameter id="k" value="0.3" constant="true"/>'
           '<parameter id="n" value="3" constant="true"/></listOfParameters>')
_REACTION = ('<listOfReactions><reaction id="R" reversible="false" fast="false">'
             '<listOfReactants>'
             '<speciesReference id="sA" species="A" stoichiometry="1" constant="true"/>'
             '</listOfReactants><listOfProducts><speciesReference species="B" '
             'stoichiometry="1" constant="true"/></listOfProducts><kineticLaw><math '
             'xmlns="http://www.w3.org/1998/Math/MathML"><apply><times/><ci>k</ci><ci>A</ci>'
             '</apply></math></kineticLaw></reaction></listOfReactions>')


def test_constant_assigned_stoichiometry_is_honoured_and_its_inputs_pinned():
    ia = ('<listOfInitialAssignments><initialAssignment symbol="sA"><math xmlns='
          '"http://www.w3.org/1998/Math/MathML"><ci>n</ci></math></initialAssignment>'
          '</listOfInitialAssignments>')
    model = load_sbml_text(_sbml(_COMP + _SPECIES + _PARAMS + ia + _REACTION))
    assert model.reactions[0].reactants == {"A": 3.0}
    with pytest.raises(ModelError, match="stoichiometry"):
        model.with_overrides({"n": 2.0})


def test_conversion_factor_scales_the_species_change():
    body = _COMP + _SPECIES + _PARAMS + _REACTION
    body = body.replace('<species id="B" compartment="c"',
                        '<species id="B" conversionFactor="n" compartment="c"')
    model = load_sbml_text(_sbml(body))
    assert model.reactions[0].products == {"B": 3.0}


def _rule(kind: str, var: str, mathml: str) -> str:
    return (f'<listOfRules><{kind} variable="{var}"><math xmlns="http://www.w3.org/1998/Math/'
            f'MathML">{mathml}</math></{kind}></listOfRules>')


def test_rule_on_a_compartment_keeps_amounts_and_runs_outside_the_compiled_engine():
    from apopsim.engine.compiler import compile_model
    from apopsim.engine.sbml_events import simulate_sbml

    body = (_COMP.replace('constant="true"', 'constant="false"') + _SPECIES + _PARAMS
            + _rule("rateRule", "c", "<cn>1</cn>") + _REACTION)
    model = load_sbml_text(_sbml(body)).with_overrides({"k": 0.0})
    assert model.variable_compartments == {"c"} and "c" in model.state
    out = simulate_sbml(model, np.array([0.0, 1.0]))
    # no reaction: the amount of A (2) is conserved while c grows from 1 to 2 (h)
    np.testing.assert_allclose(out["c"], [1.0, 2.0], rtol=1e-9)
    np.testing.assert_allclose(out["A"], [2.0, 1.0], rtol=1e-9)
    with pytest.raises(ModelError, match="compartments whose size a rule changes"):
        compile_model(model)


def test_stoichiometry_set_by_a_rule_varies_in_time():
    body = (_COMP + _SPECIES + _PARAMS.replace("</listOfParameters>", "")
            + "</listOfParameters>"
            + _rule("assignmentRule", "sA", "<apply><plus/><cn>1</cn><csymbol encoding="
                    '"text" definitionURL="http://www.sbml.org/sbml/symbols/time">t</csymbol>'
                    "</apply>")
            + _REACTION.replace('stoichiometry="1" constant="true"/>'
                                '</listOfReactants>', 'constant="false"/></listOfReactants>'))
    model = load_sbml_text(_sbml(body))
    assert [(s, j) for s, j, _ in model.variable_stoichiometry] == [("A", 0)]
    off = apopsim.PreequilibrationOptions(enabled=False)
    traj = apopsim.simulate(model, [0.0, 1.0], preequilibration=off, rtol=1e-11, atol=1e-13)
    # dA/dt = -(1 + t) k A: A = 2 exp(-k (t + t^2 / 2)); B gains k A per unit time
    np.testing.assert_allclose(traj["A"][-1], 2 * np.exp(-0.3 * 1.5), rtol=1e-8)
    from scipy.integrate import quad

    b = quad(lambda t: 0.3 * 2 * np.exp(-0.3 * (t + t * t / 2)), 0, 1, epsabs=1e-14)[0]
    np.testing.assert_allclose(traj["B"][-1], b, rtol=1e-8)


def test_fast_reaction_is_held_in_equilibrium():
    from apopsim.engine.compiler import compile_model
    from apopsim.engine.sbml_events import simulate_sbml

    reversible = ('<apply><minus/><apply><times/><ci>k</ci><ci>A</ci></apply><apply><times/>'
                  '<ci>n</ci><ci>B</ci></apply></apply>')
    body = (_COMP + _SPECIES + _PARAMS + _REACTION.replace('fast="false"', 'fast="true"')
            .replace('<apply><times/><ci>k</ci><ci>A</ci></apply>', reversible))
    model = load_sbml_text(_sbml(body))
    assert model.fast_reactions == (0,)
    out = simulate_sbml(model, np.array([0.0, 1.0]))
    # k A = n B and A + B = 2 from t = 0 on
    np.testing.assert_allclose(out["B"], 2 * 0.3 / 3.3, rtol=1e-12)
    np.testing.assert_allclose(out["A"], 2 * 3 / 3.3, rtol=1e-12)
    with pytest.raises(ModelError, match="fast reactions"):
        compile_model(model)


def test_rem_quotient_avogadro_and_rate_of():
    mathml = 'xmlns="http://www.w3.org/1998/Math/MathML"'

    def rule(var: str, body: str) -> str:
        return f'<assignmentRule variable="{var}"><math {mathml}>{body}</math></assignmentRule>'

    params = "".join(f'<parameter id="{p}" constant="false"/>' for p in ("r", "q", "na", "d"))
    rules = (rule("r", "<apply><rem/><cn>-7</cn><cn>3</cn></apply>")
             + rule("q", "<apply><quotient/><cn>-7</cn><cn>3</cn></apply>")
             + rule("na", '<csymbol encoding="text" definitionURL="http://www.sbml.org/sbml/'
                          'symbols/avogadro">avogadro</csymbol>')
             + rule("d", '<apply><csymbol encoding="text" definitionURL="http://www.sbml.org/'
                         'sbml/symbols/rateOf">rateOf</csymbol><ci>A</ci></apply>'))
    body = (_COMP + _SPECIES + _PARAMS.replace("</listOfParameters>", params
                                               + "</listOfParameters>")
            + f"<listOfRules>{rules}</listOfRules>" + _REACTION.replace(' fast="false"', ""))
    text = _sbml(body).replace("level3/version1/core\" level=\"3\" version=\"1\"",
                               "level3/version2/core\" level=\"3\" version=\"2\"")
    model = load_sbml_text(text)
    off = apopsim.PreequilibrationOptions(enabled=False)
    traj = apopsim.simulate(model, [0.0, 1.0], preequilibration=off, rtol=1e-10, atol=1e-12)
    assert traj["r"][0] == -1.0 and traj["q"][0] == -2.0  # truncation towards zero, like C
    assert traj["na"][0] == pytest.approx(6.02214179e23)
    np.testing.assert_allclose(traj["d"], -0.3 * traj["A"], rtol=1e-9)  # dA/dt = -k A
