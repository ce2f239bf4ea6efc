"""Compile a :class:`~apopsim.model.Model` into a fast right-hand side and exact Jacobian.

The kinetic laws (sympy expressions built from the model's parse tree) are assembled into
``dy/dt = N v(y, p, t)``, differentiated symbolically once, simplified by common-subexpression
elimination, printed as straight-line Python and JIT-compiled with numba. The generated module is
cached on disk (``$APOPSIM_CACHE_DIR``, default ``~/.cache/apopsim``) under a hash of the model's
structure, so later processes (and parallel workers) reuse both the code and numba's machine code.
Parameter values are *not* baked in: they are passed as a vector at run time, so contexts, doses
and schedules never trigger a recompilation.

Set ``APOPSIM_JIT=0`` to run the same generated code as plain Python (slower; for debugging).
"""

from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from types import ModuleType

import numpy as np
import sympy as sp
from sympy.printing.numpy import NumPyPrinter
from sympy.printing.pycode import PythonCodePrinter

from apopsim._io import cache_dir
from apopsim.model import TIME, Model

CODEGEN_VERSION = "7"
#: version of the compiled observables (:func:`observe_source`), cached in their own module so
#: that changing them leaves the right-hand side, Jacobian and stiff kernels cached
OBSERVE_VERSION = "1"


@dataclass(frozen=True)
class CompiledModel:
    """Callable pieces of a compiled model.

    ``rhs(t, y, p) -> dy`` and ``jac(t, y, p) -> J`` (``J[i, j] = d dy_i / d y_j``) take time in
    hours, the state vector (amounts) and the parameter vector ordered as ``param_names``;
    ``observe(t, Y, p) -> dict`` evaluates the assignment rules for a trajectory ``Y`` of shape
    (n_times, n_state). ``rhs_stop(t, y, p, idx, lo, hi)`` / ``jac_stop`` are ``rhs`` / ``jac``
    scaled by a switch that is 1 while the marker variable ``idx`` (:meth:`marker_index`) has not
    reached ``lo``, 0 once it is past ``hi`` and smooth (C1 smoothstep) in between; ``lo < hi``
    for a rising marker, ``lo > hi`` for a falling one. The band comes from a
    :class:`~apopsim.engine.options.ThresholdEvent`: the cell is frozen once its fate is decided.
    (The Jacobian omits the switch's own derivative; it only guides Newton iterations.)

    ``jac_sparse_stop(t, y, p, idx, lo, hi, out)`` writes the structurally non-zero entries of
    ``jac_stop`` into ``out`` (length ``jac_nonzeros``) in row-major order; ``jac_pattern`` holds
    their (row, column) indices: the sparse form used by the compiled stiff integrator
    (:mod:`apopsim.engine.stiff`).
    """

    model: Model
    rhs: Callable[[float, np.ndarray, np.ndarray], np.ndarray]
    jac: Callable[[float, np.ndarray, np.ndarray], np.ndarray]
    observe: Callable[[np.ndarray, np.ndarray, np.ndarray], dict[str, np.ndarray]]
    param_names: tuple[str, ...]
    jac_nonzeros: int
    rhs_stop: Callable | None = None
    jac_stop: Callable | None = None
    autonomous: bool = True
    jac_sparse_stop: Callable | None = None
    jac_pattern: tuple[np.ndarray, np.ndarray] | None = None

    def marker_index(self, name: str) -> int:
        """Index of a state or rule variable for ``rhs_stop``'s marker (rules after states)."""
        model = self.model
        if name in model.state:
            return model.state.index(name)
        return len(model.state) + list(model.assignment_rules).index(name)

    def param_vector(self, overrides: dict[str, float] | None = None) -> np.ndarray:
        """Parameter vector from the model's values, with ``overrides`` (name -> value; names
        that are not parameters are ignored)."""
        v = self._base_vector.copy()
        index = self._param_index
        for k, x in (overrides or {}).items():
            i = index.get(k)
            if i is not None:
                v[i] = x
        return v

    @cached_property
    def _base_vector(self) -> np.ndarray:
        """The model's own parameter and boundary-species values, ordered as ``param_names``
        (computed once: :meth:`param_vector` runs per cell and schedule segment)."""
        values = {**self.model.parameters, **self.model.boundary_species}
        return np.array([values[k] for k in self.param_names], dtype=float)

    @cached_property
    def _param_index(self) -> dict[str, int]:
        return {k: i for i, k in enumerate(self.param_names)}

    @cached_property
    def volume_index(self) -> np.ndarray:
        """Per state variable, the index in the parameter vector of the size of the compartment
        that divides its amount into a concentration, or -1 (no compartment, or an
        only-substance species): computed once, used per cell to convert amounts."""
        model = self.model
        index = self._param_index
        out = np.full(len(model.state), -1, dtype=np.int64)
        for i, s in enumerate(model.state):
            comp = model.species_compartment.get(s)
            if comp is not None and s not in model.only_substance:
                out[i] = index[comp]
        return out


def _jit_enabled() -> bool:
    return os.environ.get("APOPSIM_JIT", "1") not in ("0", "false", "no")


def compile_model(model: Model) -> CompiledModel:
    """Compile ``model`` (cached per model structure; parameter values are runtime inputs).

    A model with SBML events (loaded with ``allow_events``) is refused: this engine would ignore
    them; :func:`apopsim.engine.sbml_events.simulate_sbml` runs it."""
    if model.events or model.variable_compartments or model.fast_reactions:
        from apopsim.errors import ModelError

        what = "SBML events" if model.events else "compartments whose size a rule changes " \
            f"({', '.join(sorted(model.variable_compartments))})" \
            if model.variable_compartments else "fast reactions"
        raise ModelError(f"model {model.name!r} has {what}, which this engine does not run "
                         "(apopsim.engine.sbml_events.simulate_sbml does)")
    key = (model.structure_hash(), _jit_enabled())
    if key not in _COMPILED:
        _COMPILED[key] = _compile_structure(key[0], model, key[1])
    *fns, sparse_stop, rows, cols, autonomous = _COMPILED[key]
    return CompiledModel(model, *fns, autonomous=autonomous,
                         jac_sparse_stop=sparse_stop, jac_pattern=(rows, cols))


def _autonomous(model: Model) -> bool:
    """True if no kinetic law or rule uses time explicitly."""
    exprs = [r.rate for r in model.reactions] + list(model.assignment_rules.values()) \
        + list(model.rate_rules.values())
    return not any(TIME in e.free_symbols for e in exprs)


_COMPILED: dict[tuple[str, bool], tuple] = {}


def generated_module(name: str, source: Callable[[], str]) -> ModuleType:
    """Import the generated module ``name`` from the cache folder, first writing it there
    (atomically, from ``source()``) if it is not cached yet."""
    path = cache_dir() / f"{name}.py"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{name}.", suffix=".py")
        with os.fdopen(fd, "w") as fh:
            fh.write(source())
        os.replace(tmp, path)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def _compile_structure(key: str, model: Model, jit: bool):
    param_names = tuple(model.parameters) + tuple(model.boundary_species)
    mod = generated_module(f"apopsim_gen_{key}_{CODEGEN_VERSION}",
                           lambda: generate_source(model, param_names)[0])
    fns = ("rhs", "jac", "marker", "freeze", "rhs_stop", "jac_stop", "jac_sparse",
           "jac_sparse_stop")
    if jit:
        import numba

        # in call order, so each function is compiled against the jitted versions it calls
        for f in fns:
            setattr(mod, f, numba.njit(cache=True)(getattr(mod, f)))
        # compile now (or load numba's cache), so forked workers inherit machine code
        y, p = np.ones(len(model.state)), np.ones(len(param_names))
        mod.rhs_stop(0.0, y, p, 0, 1e300, 2e300)
        mod.jac_stop(0.0, y, p, 0, 1e300, 2e300)
        mod.jac_sparse_stop(0.0, y, p, 0, 1e300, 2e300, np.empty(mod.JAC_NNZ))
    rows = np.array(mod.JAC_ROWS, dtype=np.int64)
    cols = np.array(mod.JAC_COLS, dtype=np.int64)
    observe = mod.observe
    if jit and model.assignment_rules:
        obs = generated_module(f"apopsim_obs_{key}_{OBSERVE_VERSION}",
                               lambda: observe_source(model, param_names))
        observe = _RowObserver(obs.observe_rows, tuple(model.assignment_rules))
    return (mod.rhs, mod.jac, observe, param_names, mod.JAC_NNZ, mod.rhs_stop,
            mod.jac_stop, mod.jac_sparse_stop, rows, cols, _autonomous(model))


class _RowObserver:
    """``observe(t, Y, p) -> {rule: values}`` over a trajectory through the compiled row loop
    ``observe_rows`` of :func:`observe_source` (numba, compiled at first call): one machine-code
    pass instead of hundreds of small numpy operations per trajectory. Inputs are made
    contiguous float arrays, so numba compiles one specialisation only."""

    def __init__(self, rows_fn: Callable, names: tuple[str, ...]) -> None:
        self.rows_fn, self.names = rows_fn, names

    def __call__(self, t: np.ndarray, Y: np.ndarray, p: np.ndarray) -> dict[str, np.ndarray]:
        Y = np.ascontiguousarray(Y, dtype=float)
        tt = np.ascontiguousarray(t, dtype=float)
        if tt.shape != Y.shape[:1]:
            tt = np.full(Y.shape[0], float(tt.reshape(-1)[0]) if tt.size else 0.0)
        out = np.empty((len(self.names), Y.shape[0]))
        self.rows_fn(tt, Y, np.ascontiguousarray(p, dtype=float), out)
        return dict(zip(self.names, out))


def _symbols(model: Model, param_names: tuple[str, ...]):
    """Substitution from model symbols to state/parameter vector elements."""
    n, m = len(model.state), len(param_names)
    y = sp.symbols(f"y0:{n}", real=True) if n else ()
    p = sp.symbols(f"p0:{m}", real=True) if m else ()
    pidx = {k: p[i] for i, k in enumerate(param_names)}
    subs: dict[sp.Symbol, sp.Expr] = {sp.Symbol(k): v for k, v in pidx.items()}
    for i, s in enumerate(model.state):  # rate-rule variables, compartment sizes among them
        if s not in model.species_compartment:
            subs[sp.Symbol(s)] = y[i]
    for i, s in enumerate(model.state):
        comp = model.species_compartment.get(s)
        if comp is None:
            continue
        if s in model.only_substance:
            subs[sp.Symbol(s)] = y[i]
        else:  # a size set by an assignment rule stays a symbol until the rules are known
            subs[sp.Symbol(s)] = y[i] / subs.get(sp.Symbol(comp), sp.Symbol(comp))
    for k in model.boundary_species:
        subs[sp.Symbol(k)] = pidx[k]
    subs[TIME] = sp.Symbol("t", real=True)
    rules: dict[sp.Symbol, sp.Expr] = {}
    for k, e in model.assignment_rules.items():
        rules[sp.Symbol(k)] = e.xreplace(rules).xreplace(subs)
    full = {**subs, **rules}
    sized = {sp.Symbol(c) for c in model.variable_compartments if c in model.assignment_rules}
    for _ in range(len(sized)):  # sizes given by assignment rules, into every expression
        if not any(v.has(*sized) for v in full.values()):
            break
        full = {k: v.xreplace({c: full[c] for c in sized}) for k, v in full.items()}
    if sized and any(v.has(*sized) for v in full.values()):
        from apopsim.errors import ModelError

        raise ModelError(f"model {model.name!r}: the assignment rule of a compartment's size "
                         "uses a concentration in that compartment (circular): not supported")
    return y, p, full, pidx


def derivatives(model: Model, param_names: tuple[str, ...]):
    """Symbolic ``dy/dt`` (list of sympy expressions) and the state symbols."""
    y, p, full, pidx = _symbols(model, param_names)
    rates = [r.rate.xreplace(full) for r in model.reactions]
    n = model.stoichiometry
    n_fast = n[:, list(model.fast_reactions)]
    if model.fast_reactions:  # the slow part here; the fast part below
        n = n.copy()
        n[:, list(model.fast_reactions)] = 0.0
    dy: list[sp.Expr] = []
    later: list[int] = []  # rate rules on concentrations in a compartment of changing size
    for i, s in enumerate(model.state):
        if s in model.rate_rules:
            e = model.rate_rules[s].xreplace(full)
            comp = model.species_compartment.get(s)
            if comp is not None and s not in model.only_substance:
                if comp in model.variable_compartments:
                    later.append(i)
                else:
                    e = e * pidx[comp]
            dy.append(e)
        else:
            dy.append(sp.Add(*[n[i, j] * rates[j] for j in np.nonzero(n[i])[0]]))
    index = {s: i for i, s in enumerate(model.state)}
    for s, j, c in model.variable_stoichiometry:  # stoichiometries that change in time
        i = index.get(s)
        if i is not None and s not in model.rate_rules and s not in model.constant_amount:
            dy[i] = dy[i] + c.xreplace(full) * rates[j]
    for i in later:  # d(amount)/dt = V d[S]/dt + [S] dV/dt (the amount is [S] V)
        comp = model.species_compartment[model.state[i]]
        size = full[sp.Symbol(comp)]
        t = sp.Symbol("t", real=True)
        dsize = sp.diff(size, t) + sp.Add(*[sp.diff(size, y[k]) * dy[k]
                                            for k in range(len(y)) if size.has(y[k])])
        if any(size.has(y[k]) for k in later):
            from apopsim.errors import ModelError

            raise ModelError(f"model {model.name!r}: the size of compartment {comp!r} depends "
                             "on a species with a rate rule in it: not supported")
        dy[i] = dy[i] * size + y[i] / size * dsize
    if model.fast_reactions:
        dy = _rapid_equilibrium(model, y, dy, [rates[j] for j in model.fast_reactions], n_fast)
    return y, p, dy, full


def _rapid_equilibrium(model: Model, y: tuple, slow: list[sp.Expr], v_fast: list[sp.Expr],
                       n_fast: np.ndarray) -> list[sp.Expr]:
    """SBML fast reactions in rapid equilibrium: their rates ``v_f`` stay 0. With the slow
    rates of change ``F``, ``dy/dt = F + N_f z``, where the fast fluxes ``z`` keep ``v_f`` at
    0: ``J_f (F + N_f z) + dv_f/dt = 0``, ``J_f = dv_f/dy`` (an index-1 DAE reduced to an
    ODE; the state must start on the manifold, see ``simulate_sbml``)."""
    from apopsim.errors import ModelError

    t = sp.Symbol("t", real=True)
    vf = sp.Matrix(v_fast)
    jf = vf.jacobian(sp.Matrix(y))
    nf = sp.Matrix([[sp.Integer(int(c)) if c == int(c) else sp.Float(c) for c in row]
                    for row in n_fast.tolist()])
    a = jf * nf
    if a.shape[0] > 3:
        raise ModelError(f"model {model.name!r}: more than 3 fast reactions: not supported")
    rhs = jf * sp.Matrix(slow) + vf.diff(t)
    det = a.det()
    if det == 0:
        raise ModelError(f"model {model.name!r}: fast reactions whose equilibrium does not "
                         "determine their fluxes (singular): not supported")
    z = -(a.adjugate() * rhs) / det
    return list(sp.Matrix(slow) + nf * z)


class _Printer(PythonCodePrinter):
    """Prints scalar math with the ``math`` module (numba-compatible)."""

    def _print_Float(self, expr):
        return repr(float(expr))


def _block(assign: list[tuple[str, sp.Expr]], printer) -> list[str]:
    return [f"    {lhs} = {printer.doprint(rhs)}" for lhs, rhs in assign]


def _fold_powers(d: sp.Expr) -> sp.Expr:
    """sympy differentiates ``x**n`` (symbolic ``n``) as ``n*x**n/x``, which divides by zero at
    ``x = 0`` (a Hill term of a species that is absent): fold such terms back into
    ``n*x**(n - 1)``. Forced (assumptions ignored): states and parameters are non-negative
    amounts, concentrations and rate constants. Only expressions with a symbolic power are
    touched (mass action is left as it is)."""
    if not any(not a.exp.is_Number for a in d.atoms(sp.Pow)):
        return d
    d = sp.expand_power_base(sp.powdenest(d, force=True), force=True)
    return sp.powsimp(d, combine="exp", force=True)


def _drop_step_derivatives(d: sp.Expr) -> sp.Expr:
    """``floor``/``ceiling`` (SBML floor, ceiling, rem, quotient) are piecewise constant: their
    derivative is 0 almost everywhere (sympy leaves it unevaluated, which cannot be printed)."""
    derivs = [a for a in d.atoms(sp.Derivative) if isinstance(a.expr, (sp.floor, sp.ceiling))]
    derivs += [a for a in d.atoms(sp.Subs) if isinstance(a.expr, sp.Derivative)
               and isinstance(a.expr.expr, (sp.floor, sp.ceiling))]  # chain rule: Subs(d/dx ...)
    return d.xreplace({a: sp.Integer(0) for a in derivs}) if derivs else d


def generate_source(model: Model, param_names: tuple[str, ...]) -> tuple[str, int]:
    """Python source of ``rhs``, ``jac`` and ``observe`` for ``model``; also the Jacobian nnz."""
    y, p, dy, full = derivatives(model, param_names)
    n = len(y)
    unpack = lambda vec, syms: [f"    {s} = {vec}[{i}]" for i, s in enumerate(syms)]  # noqa: E731
    printer = _Printer({"fully_qualified_modules": True})

    lines = [
        '"""Generated by apopsim.engine.compiler from the model; do not edit."""',
        "import functools  # noqa: F401  (max / min of 3+ arguments print as functools.reduce)",
        "import math",
        "import numpy",
        "",
        "",
        "def rhs(t, y, p):",
    ]
    lines += unpack("y", y) + unpack("p", p)
    reps, exprs = sp.cse(dy, symbols=sp.numbered_symbols("a"), optimizations="basic")
    lines += _block([(str(s), e) for s, e in reps], printer)
    lines.append(f"    dy = numpy.empty({n})")
    lines += [f"    dy[{i}] = {printer.doprint(e)}" for i, e in enumerate(exprs)]
    lines.append("    return dy")

    entries = []
    for i, e in enumerate(dy):
        for j in sorted(e.free_symbols & set(y), key=lambda s: int(str(s)[1:])):
            d = _drop_step_derivatives(_fold_powers(sp.diff(e, j)))
            if d != 0:
                entries.append((i, int(str(j)[1:]), d))
    lines += ["", "", "def jac(t, y, p):"]
    lines += unpack("y", y) + unpack("p", p)
    reps, exprs = sp.cse([d for *_, d in entries], symbols=sp.numbered_symbols("b"),
                         optimizations="basic")
    lines += _block([(str(s), e) for s, e in reps], printer)
    lines.append(f"    J = numpy.zeros(({n}, {n}))")
    lines += [f"    J[{i}, {j}] = {printer.doprint(e)}" for (i, j, _), e in zip(entries, exprs)]
    lines.append("    return J")
    # the same entries in sparse form (row-major; JAC_ROWS / JAC_COLS below)
    lines += ["", "", "def jac_sparse(t, y, p, out):"]
    lines += unpack("y", y) + unpack("p", p)
    lines += _block([(str(s), e) for s, e in reps], printer)
    lines += [f"    out[{k}] = {printer.doprint(e)}" for k, e in enumerate(exprs)]
    lines.append("    return out")

    # observables: vectorised over time with numpy
    npp = NumPyPrinter({"fully_qualified_modules": True})
    lines += ["", "", "def observe(t, Y, p):", "    out = {}"]
    lines += [f"    {s} = Y[:, {i}]" for i, s in enumerate(y)]
    lines += unpack("p", p)
    lines.append("    one = numpy.ones(Y.shape[0])")
    for k in model.assignment_rules:
        e = full[sp.Symbol(k)]
        lines.append(f"    out[{k!r}] = one * ({npp.doprint(e)})")
    lines.append("    return out")

    # the "stopped" variants of the right-hand side: once the marker (state idx < n, else rule
    # idx - n) is past the threshold the cell is frozen (dy/dt = 0), so a solver steps over the
    # rest of the run at no cost
    names = list(model.assignment_rules)
    # marker: only the watched variable (a rule is evaluated on its own, not with all others)
    direct = {s_: sp.Symbol(f"y[{i}]") for i, s_ in enumerate(y)}
    direct.update({s_: sp.Symbol(f"p[{i}]") for i, s_ in enumerate(p)})
    lines += ["", "", "def marker(t, y, p, idx):", f"    if idx < {n}:", "        return y[idx]"]
    for k, name in enumerate(names):
        expr = full[sp.Symbol(name)].xreplace(direct)
        lines += [f"    if idx == {n + k}:", f"        return {printer.doprint(expr)}"]
    lines += ["    return math.nan"]
    lines += [
        "", "",
        "def freeze(t, y, p, idx, lo, hi):",
        "    # 1 before the marker reaches lo, 0 once it is past hi, smoothstep (C1) between: a",
        "    # smooth switch keeps the solver's error control happy where an abrupt stop would not",
        "    x = (marker(t, y, p, idx) - lo) / (hi - lo)",
        "    if x <= 0.0:",
        "        return 1.0",
        "    if x >= 1.0:",
        "        return 0.0",
        "    return 1.0 - x * x * (3.0 - 2.0 * x)",
        "", "",
        "def rhs_stop(t, y, p, idx, lo, hi):",
        "    d = rhs(t, y, p)",
        "    f = freeze(t, y, p, idx, lo, hi)",
        "    if f < 1.0:",
        "        d *= f",
        "    return d",
        "", "",
        "def jac_stop(t, y, p, idx, lo, hi):",
        "    J = jac(t, y, p)",
        "    f = freeze(t, y, p, idx, lo, hi)",
        "    if f < 1.0:",
        "        J *= f",
        "    return J",
    ]
    lines += [
        "", "",
        "def jac_sparse_stop(t, y, p, idx, lo, hi, out):",
        "    jac_sparse(t, y, p, out)",
        "    f = freeze(t, y, p, idx, lo, hi)",
        "    if f < 1.0:",
        "        out *= f",
        "    return out",
    ]
    lines += ["", "", f"JAC_NNZ = {len(entries)}",
              f"JAC_ROWS = ({''.join(f'{i}, ' for i, _, _ in entries)})",
              f"JAC_COLS = ({''.join(f'{j}, ' for _, j, _ in entries)})", ""]

    return "\n".join(lines), len(entries)


def observe_source(model: Model, param_names: tuple[str, ...]) -> str:
    """numba source of ``observe_rows(tt, Y, p, out)``: every assignment rule of ``model`` at
    every row of the trajectory ``Y`` (n_times, n_state; amounts) with times ``tt`` (h) and
    parameters ``p``, written to ``out[k, row]`` (rule ``k`` in the model's order; the rule's
    own units). Common subexpressions are shared; division by zero gives inf / NaN as numpy
    does (``error_model="numpy"``), as the vectorised ``observe`` of :func:`generate_source`."""
    y, p, full, _ = _symbols(model, param_names)
    exprs = [full[sp.Symbol(k)] for k in model.assignment_rules]
    reps, reduced = sp.cse(exprs, symbols=sp.numbered_symbols("c"), optimizations="basic")
    used = set().union(*(e.free_symbols for e in exprs), *(e.free_symbols for _, e in reps))
    printer = _Printer({"fully_qualified_modules": True})
    lines = ['"""Generated by apopsim.engine.compiler (observables); do not edit."""',
             "import math", "", "import numba", "import numpy", "", "",
             '@numba.njit(cache=True, nogil=True, error_model="numpy")',
             "def observe_rows(tt, Y, p, out):"]
    lines += [f"    {s} = p[{i}]" for i, s in enumerate(p) if s in used]
    lines += ["    for r in range(Y.shape[0]):", "        t = tt[r]"]
    lines += [f"        {s} = Y[r, {i}]" for i, s in enumerate(y) if s in used]
    lines += [f"        {s} = {printer.doprint(e)}" for s, e in reps]
    lines += [f"        out[{k}, r] = {printer.doprint(e)}" for k, e in enumerate(reduced)]
    return "\n".join(lines) + "\n"
