"""Models as data: load Antimony or SBML text into one internal representation.

A :class:`Model` holds what the engine needs and nothing biological: state variables (floating
species and rate-rule variables) with initial values, parameters, compartments, reactions with
kinetic laws as sympy expressions, assignment rules, and the stoichiometry matrix. Kinetic laws are
built from the model's own libsbml parse tree (no ``eval`` of strings).

Conventions: species values are *amounts* in the state vector; with apopsim's models the single
compartment ``cell`` has size 1, so amounts equal concentrations in nM. Time is in hours.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import sympy as sp

from apopsim._io import file_sha256  # noqa: F401  (re-exported; used to live here)
from apopsim.errors import ModelError

#: Symbol used for model time (hours) in kinetic laws.
TIME = sp.Symbol("time")


@dataclass(frozen=True)
class Reaction:
    """One reaction: ``rate`` (amount/h) as a sympy expression of model symbols."""

    id: str
    reactants: dict[str, float]
    products: dict[str, float]
    rate: sp.Expr


@dataclass(frozen=True)
class Model:
    """A reaction network ready to compile.

    Attributes
    ----------
    name
        Model id (the Antimony main module or SBML model id).
    state
        Names of state variables, in state-vector order (floating species, then rate-rule
        variables).
    initial
        Initial values of the state variables (species amounts; nM in a compartment of size 1).
    parameters
        Parameter values (including drug inputs, in nM, and compartment sizes), in a fixed order.
    reactions
        Reactions with kinetic laws.
    assignment_rules
        ``name -> expression`` in evaluation order (each may use the ones before it).
    rate_rules
        ``state name -> d/dt expression`` for state variables driven by rate rules.
    species_compartment
        ``species -> compartment`` for floating and boundary species; species symbols in kinetic
        laws denote concentration (amount / compartment size) unless ``only_substance``.
    sbml
        The SBML text (Level 3) the model was built from; parameter overrides are applied on
        export.
    source
        Path of the file the model came from (or ``None``).
    source_hashes
        SHA-256 of every file read to build the model (the model file and its imports).
    drug_inputs
        Parameters that are drug concentrations (nM), filled in by the catalogue.
    """

    name: str
    state: tuple[str, ...]
    initial: np.ndarray
    parameters: dict[str, float]
    reactions: tuple[Reaction, ...]
    assignment_rules: dict[str, sp.Expr]
    rate_rules: dict[str, sp.Expr]
    species_compartment: dict[str, str]
    only_substance: frozenset[str]
    boundary_species: dict[str, float]
    initial_assignments: dict[str, sp.Expr]
    sbml: str
    source: Path | None = None
    source_hashes: dict[str, str] = field(default_factory=dict)
    drug_inputs: tuple[str, ...] = ()

    # ------------------------------------------------------------------ derived views
    @property
    def species(self) -> tuple[str, ...]:
        """Floating species (state variables driven by reactions)."""
        return tuple(s for s in self.state if s in self.species_compartment)

    @property
    def observables(self) -> tuple[str, ...]:
        """Every name a readout may ask for: state variables and assignment-rule variables."""
        return self.state + tuple(self.assignment_rules)

    @property
    def stoichiometry(self) -> np.ndarray:
        """Stoichiometry matrix, shape (n_state, n_reactions)."""
        index = {s: i for i, s in enumerate(self.state)}
        n = np.zeros((len(self.state), len(self.reactions)))
        for j, r in enumerate(self.reactions):
            for s, c in r.reactants.items():
                if s in index:
                    n[index[s], j] -= c
            for s, c in r.products.items():
                if s in index:
                    n[index[s], j] += c
        return n

    def structure_hash(self) -> str:
        """Hash of everything that shapes the compiled code (not parameter values); cached."""
        cached = self.__dict__.get("_structure_hash")
        if cached is None:
            cached = self._compute_structure_hash()
            object.__setattr__(self, "_structure_hash", cached)
        return cached

    def _compute_structure_hash(self) -> str:
        h = hashlib.sha256()
        h.update(repr(self.state).encode())
        h.update(repr(tuple(self.parameters)).encode())
        for r in self.reactions:
            h.update(f"{r.id}|{sorted(r.reactants.items())}|{sorted(r.products.items())}".encode())
            h.update(sp.srepr(r.rate).encode())
        for k, v in {**self.assignment_rules, **self.rate_rules}.items():
            h.update(f"{k}={sp.srepr(v)}".encode())
        h.update(repr(sorted(self.species_compartment.items())).encode())
        h.update(repr(sorted(self.only_substance)).encode())
        h.update(repr(sorted(self.boundary_species.items())).encode())
        return h.hexdigest()[:20]

    # ------------------------------------------------------------------ overrides
    def with_overrides(
        self,
        parameters: dict[str, float] | None = None,
        initial_nM: dict[str, float] | None = None,
        *,
        where: str = "overrides",
    ) -> Model:
        """Return a copy with parameter values and/or initial amounts replaced.

        Parameters
        ----------
        parameters
            ``name -> value`` in the model's units. Initial assignments that depend on changed
            parameters are re-evaluated.
        initial_nM
            ``species -> initial concentration`` in nM (converted to amounts with the species'
            compartment size).
        where
            Text naming the origin of the overrides, used in error messages.
        """
        params = dict(self.parameters)
        for k, v in (parameters or {}).items():
            if k not in params:
                raise ModelError(
                    f"{where}: model {self.name!r} has no parameter {k!r}"
                    f"{_suggest(k, params)}"
                )
            params[k] = float(v)
        initial = self._evaluate_initial(params)
        index = {s: i for i, s in enumerate(self.state)}
        for k, v in (initial_nM or {}).items():
            if k not in index:
                raise ModelError(
                    f"{where}: model {self.name!r} has no state variable {k!r}"
                    f"{_suggest(k, index)}"
                )
            if v < 0:
                raise ModelError(f"{where}: initial amount of {k!r} is negative ({v})")
            initial[index[k]] = float(v) * self._volume(k, params)
        new = replace(self, parameters=params, initial=initial)
        if "_structure_hash" in self.__dict__:  # parameter values do not change the structure
            object.__setattr__(new, "_structure_hash", self.__dict__["_structure_hash"])
        return new

    def _volume(self, name: str, params: dict[str, float]) -> float:
        comp = self.species_compartment.get(name)
        return 1.0 if comp is None or name in self.only_substance else params[comp]

    def _evaluate_initial(self, params: dict[str, float]) -> np.ndarray:
        """Initial state with initial assignments re-evaluated for ``params``."""
        initial = np.array(self.initial, dtype=float)
        if not self.initial_assignments:
            return initial
        values: dict[sp.Symbol, float] = {sp.Symbol(k): v for k, v in params.items()}
        values.update({sp.Symbol(k): v for k, v in self.boundary_species.items()})
        for i, s in enumerate(self.state):
            values[sp.Symbol(s)] = initial[i] / self._volume(s, params)
        for name, expr in self.assignment_rules.items():
            values[sp.Symbol(name)] = float(expr.subs(values))
        for name, expr in self.initial_assignments.items():
            if name in self.state:
                i = self.state.index(name)
                conc = float(expr.subs(values))
                initial[i] = conc * self._volume(name, params)
                values[sp.Symbol(name)] = conc
        return initial

    def initial_concentrations(self) -> dict[str, float]:
        """Initial state as ``name -> concentration`` (nM for species)."""
        return {
            s: float(self.initial[i]) / self._volume(s, self.parameters)
            for i, s in enumerate(self.state)
        }

    # ------------------------------------------------------------------ export
    def to_sbml(self) -> str:
        """SBML Level 3 text of the model with the current parameter values and initial amounts."""
        import libsbml

        doc = libsbml.readSBMLFromString(self.sbml)
        m = doc.getModel()
        for k, v in self.parameters.items():
            p = m.getParameter(k)
            if p is not None:
                p.setValue(v)
                continue
            c = m.getCompartment(k)
            if c is not None:
                c.setSize(v)
        for i, s in enumerate(self.state):
            sp_ = m.getSpecies(s)
            if sp_ is not None and m.getInitialAssignmentBySymbol(s) is None:
                sp_.unsetInitialConcentration()
                sp_.setInitialAmount(float(self.initial[i]))
            elif sp_ is None:
                p = m.getParameter(s)
                if p is not None and m.getInitialAssignmentBySymbol(s) is None:
                    p.setValue(float(self.initial[i]))
        return libsbml.writeSBMLToString(doc)


def _suggest(name: str, options: Any) -> str:
    import difflib

    close = difflib.get_close_matches(name, list(options), n=3)
    return f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""


# ====================================================================== loading
def load_sbml_text(sbml: str, *, source: Path | None = None,
                   source_hashes: dict[str, str] | None = None) -> Model:
    """Build a :class:`Model` from SBML text (any level; function definitions are expanded)."""
    import libsbml

    doc = libsbml.readSBMLFromString(sbml)
    where = str(source) if source else "SBML"
    errors = [
        doc.getError(i) for i in range(doc.getNumErrors())
        if doc.getError(i).getSeverity() >= libsbml.LIBSBML_SEV_ERROR
    ]
    if errors:
        msgs = "; ".join(f"line {e.getLine()}: {e.getShortMessage()}" for e in errors[:5])
        raise ModelError(f"{where}: invalid SBML: {msgs}")
    props = libsbml.ConversionProperties()
    props.addOption("expandFunctionDefinitions", True)
    doc.convert(props)
    m = doc.getModel()
    if m is None:
        raise ModelError(f"{where}: SBML has no model")
    if m.getNumEvents():
        raise ModelError(
            f"{where}: SBML events are not supported; use scenario schedules for dosing events"
        )
    if m.getNumConstraints():
        raise ModelError(f"{where}: SBML constraints are not supported")

    compartments = {}
    for i in range(m.getNumCompartments()):
        c = m.getCompartment(i)
        compartments[c.getId()] = c.getSize() if c.isSetSize() else 1.0

    params: dict[str, float] = {}
    for i in range(m.getNumParameters()):
        p = m.getParameter(i)
        params[p.getId()] = p.getValue() if p.isSetValue() else math.nan

    assignment: dict[str, sp.Expr] = {}
    rate_rules: dict[str, sp.Expr] = {}
    for i in range(m.getNumRules()):
        r = m.getRule(i)
        if r.isAlgebraic():
            raise ModelError(f"{where}: algebraic rules are not supported")
        expr = ast_to_sympy(r.getMath(), where=f"{where}: rule for {r.getVariable()}")
        if r.isAssignment():
            assignment[r.getVariable()] = expr
        else:
            rate_rules[r.getVariable()] = expr
    for name in assignment:
        params.pop(name, None)
    for name in compartments:
        if name in assignment or name in rate_rules:
            raise ModelError(f"{where}: compartment {name!r} with a rule is not supported")

    species_comp: dict[str, str] = {}
    only_substance: set[str] = set()
    boundary: dict[str, float] = {}
    state: list[str] = []
    initial: list[float] = []
    for i in range(m.getNumSpecies()):
        s = m.getSpecies(i)
        sid = s.getId()
        species_comp[sid] = s.getCompartment()
        if s.getHasOnlySubstanceUnits():
            only_substance.add(sid)
        vol = compartments.get(s.getCompartment(), 1.0)
        if s.isSetInitialAmount():
            amount = s.getInitialAmount()
        elif s.isSetInitialConcentration():
            amount = s.getInitialConcentration() * vol
        else:
            amount = 0.0
        if sid in assignment:
            continue
        if s.getBoundaryCondition() and sid not in rate_rules:
            boundary[sid] = amount / (1.0 if sid in only_substance else vol)
            continue
        state.append(sid)
        initial.append(amount)
    for name in rate_rules:
        if name not in species_comp:
            if name not in params:
                raise ModelError(f"{where}: rate rule for unknown symbol {name!r}")
            state.append(name)
            initial.append(params.pop(name))

    initial_assignments = {}
    for i in range(m.getNumInitialAssignments()):
        ia = m.getInitialAssignment(i)
        initial_assignments[ia.getSymbol()] = ast_to_sympy(
            ia.getMath(), where=f"{where}: initial assignment for {ia.getSymbol()}"
        )

    reactions = []
    for i in range(m.getNumReactions()):
        r = m.getReaction(i)
        kl = r.getKineticLaw()
        if kl is None or kl.getMath() is None:
            raise ModelError(f"{where}: reaction {r.getId()!r} has no kinetic law")
        local = {}
        for j in range(kl.getNumLocalParameters()):
            lp = kl.getLocalParameter(j)
            local[lp.getId()] = sp.Float(lp.getValue())
        for j in range(kl.getNumParameters()):
            lp = kl.getParameter(j)
            local[lp.getId()] = sp.Float(lp.getValue())
        rate = ast_to_sympy(kl.getMath(), where=f"{where}: reaction {r.getId()}")
        if local:
            rate = rate.subs({sp.Symbol(k): v for k, v in local.items()})
        reactants = _stoich(r.getListOfReactants(), where)
        products = _stoich(r.getListOfProducts(), where)
        reactions.append(Reaction(r.getId(), reactants, products, rate))

    all_params = {**compartments, **params}
    model = Model(
        name=m.getId() or "model",
        state=tuple(state),
        initial=np.array(initial, dtype=float),
        parameters=all_params,
        reactions=tuple(reactions),
        assignment_rules=_order_rules(assignment, where),
        rate_rules=rate_rules,
        species_compartment=species_comp,
        only_substance=frozenset(only_substance),
        boundary_species=boundary,
        initial_assignments=initial_assignments,
        sbml=libsbml.writeSBMLToString(doc),
        source=source,
        source_hashes=dict(source_hashes or {}),
    )
    _check_symbols(model, where)
    nan = [k for k, v in model.parameters.items() if math.isnan(v)]
    if nan and not set(nan) <= set(initial_assignments):
        raise ModelError(f"{where}: parameters without a value: {', '.join(nan)}")
    return replace(model, initial=model._evaluate_initial(model.parameters))


def _stoich(refs: Any, where: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for k in range(refs.size()):
        ref = refs.get(k)
        c = ref.getStoichiometry() if ref.isSetStoichiometry() else 1.0
        out[ref.getSpecies()] = out.get(ref.getSpecies(), 0.0) + c
    return out


def _order_rules(rules: dict[str, sp.Expr], where: str) -> dict[str, sp.Expr]:
    """Order assignment rules so each only uses earlier ones (topological sort)."""
    ordered: dict[str, sp.Expr] = {}
    pending = dict(rules)
    while pending:
        progressed = False
        for name, expr in list(pending.items()):
            deps = {str(s) for s in expr.free_symbols} & set(pending)
            deps.discard(name)
            if not deps:
                ordered[name] = expr
                del pending[name]
                progressed = True
        if not progressed:
            raise ModelError(f"{where}: cyclic assignment rules: {', '.join(pending)}")
    return ordered


def _check_symbols(model: Model, where: str) -> None:
    known = (
        set(model.state) | set(model.parameters) | set(model.assignment_rules)
        | set(model.boundary_species) | {str(TIME)}
    )
    exprs = [(f"reaction {r.id}", r.rate) for r in model.reactions]
    exprs += [(f"rule {k}", v) for k, v in {**model.assignment_rules, **model.rate_rules}.items()]
    for what, e in exprs:
        unknown = {str(s) for s in e.free_symbols} - known
        if unknown:
            names = ", ".join(sorted(unknown))
            raise ModelError(f"{where}: {what} uses undefined symbol(s) {names}")


_FUNCS: dict[str, Any] = {
    "exp": sp.exp, "ln": sp.log, "sqrt": sp.sqrt, "abs": sp.Abs, "floor": sp.floor,
    "ceiling": sp.ceiling, "sin": sp.sin, "cos": sp.cos, "tan": sp.tan, "tanh": sp.tanh,
    "sinh": sp.sinh, "cosh": sp.cosh, "arcsin": sp.asin, "arccos": sp.acos, "arctan": sp.atan,
}


def ast_to_sympy(node: Any, *, where: str) -> sp.Expr:
    """Convert a libsbml ASTNode to a sympy expression (only known math; nothing is evaluated)."""
    import libsbml as L

    t = node.getType()
    kids = [ast_to_sympy(node.getChild(i), where=where) for i in range(node.getNumChildren())]
    if t in (L.AST_INTEGER,):
        return sp.Integer(node.getInteger())
    if t in (L.AST_REAL, L.AST_REAL_E):
        return sp.Float(node.getReal())
    if t == L.AST_RATIONAL:
        return sp.Rational(node.getNumerator(), node.getDenominator())
    if t == L.AST_NAME:
        return sp.Symbol(node.getName())
    if t == L.AST_NAME_TIME:
        return TIME
    if t == L.AST_CONSTANT_PI:
        return sp.pi
    if t == L.AST_CONSTANT_E:
        return sp.E
    if t == L.AST_CONSTANT_TRUE:
        return sp.true
    if t == L.AST_CONSTANT_FALSE:
        return sp.false
    if t == L.AST_PLUS:
        return sp.Add(*kids) if kids else sp.Integer(0)
    if t == L.AST_MINUS:
        return -kids[0] if len(kids) == 1 else kids[0] - kids[1]
    if t == L.AST_TIMES:
        return sp.Mul(*kids) if kids else sp.Integer(1)
    if t == L.AST_DIVIDE:
        return kids[0] / kids[1]
    if t in (L.AST_POWER, L.AST_FUNCTION_POWER):
        return kids[0] ** kids[1]
    if t == L.AST_FUNCTION_ROOT:
        return kids[-1] ** (1 / kids[0]) if len(kids) == 2 else sp.sqrt(kids[0])
    if t == L.AST_FUNCTION_LOG:
        return sp.log(kids[-1], kids[0]) if len(kids) == 2 else sp.log(kids[0], 10)
    if t == L.AST_FUNCTION_PIECEWISE:
        pairs = [(kids[i], kids[i + 1]) for i in range(0, len(kids) - 1, 2)]
        otherwise = kids[-1] if len(kids) % 2 else sp.nan
        return sp.Piecewise(*pairs, (otherwise, True))
    rel = {
        L.AST_RELATIONAL_LT: sp.Lt, L.AST_RELATIONAL_LEQ: sp.Le, L.AST_RELATIONAL_GT: sp.Gt,
        L.AST_RELATIONAL_GEQ: sp.Ge, L.AST_RELATIONAL_EQ: sp.Eq, L.AST_RELATIONAL_NEQ: sp.Ne,
    }
    if t in rel:
        return rel[t](kids[0], kids[1])
    logic = {L.AST_LOGICAL_AND: sp.And, L.AST_LOGICAL_OR: sp.Or, L.AST_LOGICAL_XOR: sp.Xor}
    if t in logic:
        return logic[t](*kids)
    if t == L.AST_LOGICAL_NOT:
        return sp.Not(kids[0])
    name = (node.getName() or "").lower()
    if t == getattr(L, "AST_FUNCTION_MAX", -1) or name == "max":
        return sp.Max(*kids)
    if t == getattr(L, "AST_FUNCTION_MIN", -1) or name == "min":
        return sp.Min(*kids)
    fname = L.formulaToL3String(node).split("(")[0].strip().lower()
    if fname in _FUNCS and kids:
        return _FUNCS[fname](*kids)
    raise ModelError(f"{where}: unsupported math {L.formulaToL3String(node)!r}")
