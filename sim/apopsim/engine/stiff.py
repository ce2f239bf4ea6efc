"""A compiled stiff integrator: Rodas4 with a sparse LU, its whole time loop in numba.

Rodas4 (Hairer & Wanner, *Solving ODEs II*, sec. IV.7) is a 6-stage Rosenbrock method of order
4 with an embedded order-3 error estimate and an order-3 dense output, stiffly accurate and
L-stable. Per step it evaluates the exact Jacobian once, factorises the iteration matrix
``M = I / (gamma h) - J`` once and solves with it six times; there are no Newton iterations, so
the cost per step is fixed and the loop has no convergence failures to handle.

The Jacobian comes from the compiled model in sparse form (``CompiledModel.jac_sparse_stop``,
its fixed pattern ``jac_pattern``). :func:`sparse_lu_plan` computes, once per model structure, a
fill-reducing ordering (minimum degree on the symmetrised pattern), the symbolic factorisation
and an elimination schedule (flat index arrays), unrolled into straight-line code per model
(:func:`lu_source`). The numeric factorisation runs without pivoting (``M`` is dominated by
its diagonal ``1 / (gamma h)``; a zero or non-finite pivot rejects the step, which shrinks
``h``). :meth:`NumbaBackend.integrate_many` runs many cells in parallel threads (``prange``).

Times are in hours, states in amounts (nM x compartment size), as everywhere in the engine. The
back end :class:`NumbaBackend` (``engine: numba``) wraps it behind the back-end protocol of
:mod:`apopsim.engine.registry`; a failed cell is retried on scipy (BDF, rtol / 100).
"""

from __future__ import annotations

import hashlib
import inspect
import os
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import numba
import numpy as np

from apopsim.engine.compiler import generated_module
from apopsim.engine.registry import Freeze, register_backend
from apopsim.errors import SimulationError

if TYPE_CHECKING:
    from apopsim.engine.compiler import CompiledModel
    from apopsim.engine.options import SolverOptions


# ============================================================================ sparse LU plan
@dataclass(frozen=True)
class SparseLUPlan:
    """Ordering, filled pattern (CSR, permuted indices) and elimination schedule of ``M``.

    Row ``i`` of the permuted matrix is variable ``perm[i]``. ``indptr``/``indices`` is the
    filled pattern of L + U (unit-diagonal L stored below ``diag``); ``jac_pos[e]`` is where
    Jacobian entry ``e`` lands. The factorisation is, for each division ``m``:
    ``lu[div_target[m]] /= lu[div_pivot[m]]``, then for ``q`` in
    ``upd_ptr[m]:upd_ptr[m+1]``: ``lu[upd_target[q]] -= lu[div_target[m]] * lu[upd_source[q]]``.
    """

    n: int
    perm: np.ndarray
    indptr: np.ndarray
    indices: np.ndarray
    diag: np.ndarray
    jac_pos: np.ndarray
    div_target: np.ndarray
    div_pivot: np.ndarray
    upd_ptr: np.ndarray
    upd_target: np.ndarray
    upd_source: np.ndarray

    @property
    def nnz(self) -> int:
        """Non-zeros of L + U (with fill)."""
        return int(self.indices.size)

    @property
    def factor_flops(self) -> int:
        """Floating-point operations of one numeric factorisation."""
        return int(self.div_target.size + 2 * self.upd_target.size)

    @property
    def solve_flops(self) -> int:
        """Floating-point operations of one forward + backward solve."""
        return int(2 * (self.nnz - self.n) + self.n)


def minimum_degree_order(n: int, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """A fill-reducing ordering: greedy minimum degree on the symmetrised pattern (ties by
    index). Returns ``perm`` with ``perm[i]`` the variable eliminated ``i``-th."""
    adj: list[set[int]] = [set() for _ in range(n)]
    for r, c in zip(rows.tolist(), cols.tolist()):
        if r != c:
            adj[r].add(c)
            adj[c].add(r)
    alive = set(range(n))
    order = []
    while alive:
        v = min(alive, key=lambda u: (len(adj[u]), u))
        order.append(v)
        alive.remove(v)
        nb = adj[v]
        for a in nb:
            adj[a] |= nb
            adj[a].discard(a)
            adj[a].discard(v)
        adj[v] = set()
    return np.array(order, dtype=np.int64)


def sparse_lu_plan(n: int, rows: np.ndarray, cols: np.ndarray,
                   perm: np.ndarray | None = None) -> SparseLUPlan:
    """Symbolic LU (no pivoting) of a matrix with the pattern ``(rows, cols)`` plus the diagonal,
    in the ordering ``perm`` (default :func:`minimum_degree_order`)."""
    rows = np.asarray(rows, dtype=np.int64)
    cols = np.asarray(cols, dtype=np.int64)
    if perm is None:
        perm = minimum_degree_order(n, rows, cols)
    inv = np.empty(n, dtype=np.int64)
    inv[perm] = np.arange(n)
    pr, pc = inv[rows], inv[cols]
    pattern: list[set[int]] = [{i} for i in range(n)]  # row i -> columns (permuted)
    for r, c in zip(pr.tolist(), pc.tolist()):
        pattern[r].add(c)
    # symbolic elimination, row by row (IKJ): row i gains row k's upper part for every k < i
    # in its lower part (processed in increasing k, including entries filled in on the way)
    for i in range(n):
        done: set[int] = set()
        while True:
            lower = sorted(k for k in pattern[i] if k < i and k not in done)
            if not lower:
                break
            k = lower[0]
            done.add(k)
            pattern[i] |= {j for j in pattern[k] if j > k}
    indptr = np.zeros(n + 1, dtype=np.int64)
    indices_l: list[int] = []
    pos: dict[tuple[int, int], int] = {}
    for i in range(n):
        for j in sorted(pattern[i]):
            pos[i, j] = len(indices_l)
            indices_l.append(j)
        indptr[i + 1] = len(indices_l)
    diag = np.array([pos[i, i] for i in range(n)], dtype=np.int64)
    div_t, div_p, upd_ptr, upd_t, upd_s = [], [], [0], [], []
    for i in range(n):
        for k in sorted(j for j in pattern[i] if j < i):
            div_t.append(pos[i, k])
            div_p.append(pos[k, k])
            for j in sorted(pattern[k]):
                if j > k:
                    upd_t.append(pos[i, j])
                    upd_s.append(pos[k, j])
            upd_ptr.append(len(upd_t))
    jac_pos = np.array([pos[r, c] for r, c in zip(pr.tolist(), pc.tolist())], dtype=np.int64)
    a = lambda x: np.array(x, dtype=np.int64)  # noqa: E731
    return SparseLUPlan(n, perm.astype(np.int64), indptr, a(indices_l), diag, jac_pos, a(div_t),
                        a(div_p), a(upd_ptr), a(upd_t), a(upd_s))


def lu_source(plan: SparseLUPlan) -> str:
    """Straight-line numba source of ``_model_assemble``, ``_model_factor`` and
    ``_model_solve`` for ``plan``: the schedule unrolled with constant indices, so the
    factorisation and solves run without index arrays (the values stay in registers)."""
    n = plan.n
    jit = "@numba.njit(cache=True, nogil=True, inline='always')"
    out = ["", "", jit, "def _model_assemble(lu, jv, ginv):"]
    filled = set(range(plan.nnz)) - set(plan.jac_pos.tolist())
    out += [f"    lu[{q}] = 0.0" for q in sorted(filled)]
    first: set[int] = set()
    for e, q in enumerate(plan.jac_pos.tolist()):
        out.append(f"    lu[{q}] {'-=' if q in first else '='} {'' if q in first else '-'}jv[{e}]")
        first.add(q)
    out += [f"    lu[{q}] += ginv" for q in plan.diag.tolist()]
    out += ["", "", jit, "def _model_factor(lu):"]
    for m in range(plan.div_target.size):
        t, d = int(plan.div_target[m]), int(plan.div_pivot[m])
        out.append(f"    lu[{t}] /= lu[{d}]")
        for q in range(plan.upd_ptr[m], plan.upd_ptr[m + 1]):
            out.append(f"    lu[{plan.upd_target[q]}] -= lu[{t}] * lu[{plan.upd_source[q]}]")
    checks = " or ".join(f"not abs(lu[{q}]) > 0.0" for q in plan.diag.tolist())
    out += [f"    if {checks or 'False'}:", "        return False"]
    out += [f"    if not ({' + '.join(f'lu[{q}]' for q in plan.diag.tolist()) or '0.0'}) "
            "< math.inf:", "        return False", "    return True"]
    out += ["", "", jit, "def _model_solve(lu, b, x):"]
    ind, ptr, diag, perm = (plan.indices.tolist(), plan.indptr.tolist(), plan.diag.tolist(),
                            plan.perm.tolist())
    for i in range(n):
        terms = "".join(f" - lu[{q}] * w{ind[q]}" for q in range(ptr[i], diag[i]))
        out.append(f"    w{i} = b[{perm[i]}]{terms}")
    for i in range(n - 1, -1, -1):
        terms = "".join(f" - lu[{q}] * w{ind[q]}" for q in range(diag[i] + 1, ptr[i + 1]))
        out.append(f"    w{i} = (w{i}{terms}) / lu[{diag[i]}]")
    out += [f"    x[{perm[i]}] = w{i}" for i in range(n)]
    return "\n".join(out) + "\n"


# ============================================================================ Rodas4
# Coefficients of RODAS4 (Hairer & Wanner 1996, sec. IV.7; transformed stage variables k_i):
# stage i solves M k_i = f(y + sum_j A_ij k_j) + sum_j C_ij k_j / h (+ h D_i df/dt).
_GAMMA = 0.25
_C2, _C3, _C4 = 0.386, 0.21, 0.63
_D1, _D2, _D3, _D4 = 0.25, -0.1043, 0.1035, -0.3620000000000023e-01
_A21 = 1.544
_A31, _A32 = 0.9466785280815826, 0.2557011698983284
_A41, _A42, _A43 = 3.314825187068521, 2.896124015972201, 0.9986419139977817
_A51, _A52, _A53, _A54 = 1.221224509226641, 6.019134481288629, 12.53708332932087, \
    -0.6878860361058950
_C21 = -5.6688
_C31, _C32 = -2.430093356833875, -0.2063599157091915
_C41, _C42, _C43 = -0.1073529058151375, -9.594562251023355, -20.47028614809616
_C51, _C52, _C53, _C54 = 7.496443313967647, -10.24680431464352, -33.99990352819905, \
    11.70890893206160
_C61, _C62, _C63, _C64, _C65 = 8.083246795921522, -7.981132988064893, -31.52159432874371, \
    16.31930543123136, -6.058818238834054
# dense output: y(t + s h) = (1 - s) y0 + s (y1 + (1 - s) (q1 + s q2)), q = sum_j H_j k_j
_H21, _H22, _H23, _H24, _H25 = 10.12623508344586, -7.487995877610167, -34.80091861555747, \
    -7.992771707568823, 1.025137723295662
_H31, _H32, _H33, _H34, _H35 = -0.6762803392801253, 6.087714651680015, 16.43084320892478, \
    24.76722511418386, -6.594389125716872

#: kernel status codes
OK, TOO_MANY_STEPS, STEP_TOO_SMALL, NOT_FINITE = 0, 1, 2, 3
_MESSAGES = {TOO_MANY_STEPS: "more than max_steps steps in one output interval",
             STEP_TOO_SMALL: "step size too small (h < 1e-14 |t|)",
             NOT_FINITE: "non-finite values in the state"}


@numba.njit(cache=True, nogil=True)
def _rms(e, y, ynew, rtol, atol):
    s = 0.0
    for i in range(e.size):
        sc = atol + rtol * max(abs(y[i]), abs(ynew[i]))
        s += (e[i] / sc) ** 2
    return np.sqrt(s / max(e.size, 1))


def _model_rhs(t, y, p, idx, lo, hi):  # pragma: no cover - placeholder
    """Placeholder for the model's ``rhs_stop``; bound in each generated kernel module."""
    raise NotImplementedError


def _model_jac(t, y, p, idx, lo, hi, out):  # pragma: no cover - placeholder
    """Placeholder for the model's ``jac_sparse_stop``; bound in each generated kernel module."""
    raise NotImplementedError


def _model_assemble(lu, jv, ginv):  # pragma: no cover - placeholder
    """Placeholder: ``lu`` = the iteration matrix ``I * ginv - J`` from Jacobian values ``jv``
    (generated per model by :func:`lu_source`)."""
    raise NotImplementedError


def _model_factor(lu):  # pragma: no cover - placeholder
    """Placeholder: in-place LU of ``lu``; False on a zero or non-finite pivot (generated)."""
    raise NotImplementedError


def _model_solve(lu, b, x):  # pragma: no cover - placeholder
    """Placeholder: ``x = M^-1 b`` with the factorised ``lu`` (generated)."""
    raise NotImplementedError


def rodas4(y0, p, times, fidx, flo, fhi, rtol, atol, max_steps, autonomous, nnz, out, stats):
    """Integrate from ``times[0]`` to ``times[-1]`` (h), writing states at ``times`` into ``out``.

    The template of the compiled kernel: :func:`kernel_for` copies this source into a module
    per model structure where ``_model_rhs`` / ``_model_jac`` are the model's ``rhs_stop`` /
    ``jac_sparse_stop`` (numba caches only kernels whose callees are globals, not arguments) and
    ``_model_assemble`` / ``_model_factor`` / ``_model_solve`` the straight-line sparse LU of
    :func:`lu_source`; ``nnz`` is the length of its value array.
    ``(fidx, flo, fhi)`` is the freeze band (:data:`NO_FREEZE` for none). ``stats`` receives
    (accepted steps, rejected steps, RHS calls, factorisations, time reached).
    Returns a status code (``OK`` = 0).
    """
    n = y0.size
    nt = times.size
    y = y0.copy()
    for i in range(n):
        out[0, i] = y[i]
    t = times[0]
    t_end = times[nt - 1]
    stats[:] = 0.0
    stats[4] = t
    io = 1
    while io < nt and times[io] <= t:
        out[io, :] = y
        io += 1
    if io >= nt:
        return OK
    lu = np.empty(nnz)
    jv = np.empty(nnz)
    k1 = np.empty(n)
    k2 = np.empty(n)
    k3 = np.empty(n)
    k4 = np.empty(n)
    k5 = np.empty(n)
    k6 = np.empty(n)
    u = np.empty(n)
    b = np.empty(n)
    ynew = np.empty(n)
    ft = np.zeros(n)
    f0 = _model_rhs(t, y, p, fidx, flo, fhi)
    nf = 1
    # initial step (Hairer, Norsett & Wanner II.4, for order 4)
    d0 = 0.0
    d1 = 0.0
    for i in range(n):
        sc = atol + rtol * abs(y[i])
        d0 += (y[i] / sc) ** 2
        d1 += (f0[i] / sc) ** 2
    d0 = np.sqrt(d0 / n)
    d1 = np.sqrt(d1 / n)
    h0 = 1e-6 if (d0 < 1e-5 or d1 < 1e-5) else 0.01 * d0 / d1
    h0 = min(h0, t_end - t)
    for i in range(n):
        u[i] = y[i] + h0 * f0[i]
    f1 = _model_rhs(t + h0, u, p, fidx, flo, fhi)
    nf += 1
    d2 = 0.0
    for i in range(n):
        sc = atol + rtol * abs(y[i])
        d2 += ((f1[i] - f0[i]) / sc) ** 2
    d2 = np.sqrt(d2 / n) / h0
    dm = max(d1, d2)
    h1 = max(1e-6, h0 * 1e-3) if dm <= 1e-15 else (0.01 / dm) ** 0.2
    h = min(100.0 * h0, h1, t_end - t)
    need_jac = True
    reject = False
    first = True
    h_old = h
    err_old = 1.0
    n_acc = 0
    n_rej = 0
    n_fac = 0
    in_interval = 0
    while t < t_end:
        if need_jac:
            _model_jac(t, y, p, fidx, flo, fhi, jv)
            if not autonomous:
                dt = 1.4901161193847656e-08 * max(abs(t), 1e-2)
                fd = _model_rhs(t + dt, y, p, fidx, flo, fhi)
                nf += 1
                for i in range(n):
                    ft[i] = (fd[i] - f0[i]) / dt
            need_jac = False
        if t + h >= t_end or t + 1.0001 * h > t_end:
            h = t_end - t
        if h < 1e-14 * max(abs(t), 1.0):
            stats[0], stats[1], stats[2], stats[3], stats[4] = n_acc, n_rej, nf, n_fac, t
            return STEP_TOO_SMALL
        # M = I / (gamma h) - J
        _model_assemble(lu, jv, 1.0 / (_GAMMA * h))
        n_fac += 1
        if not _model_factor(lu):
            h *= 0.25
            n_rej += 1
            reject = True
            continue
        hi = 1.0 / h
        for i in range(n):
            b[i] = f0[i] + h * _D1 * ft[i]
        _model_solve(lu, b, k1)
        for i in range(n):
            u[i] = y[i] + _A21 * k1[i]
        fs = _model_rhs(t + _C2 * h, u, p, fidx, flo, fhi)
        for i in range(n):
            b[i] = fs[i] + h * _D2 * ft[i] + _C21 * k1[i] * hi
        _model_solve(lu, b, k2)
        for i in range(n):
            u[i] = y[i] + _A31 * k1[i] + _A32 * k2[i]
        fs = _model_rhs(t + _C3 * h, u, p, fidx, flo, fhi)
        for i in range(n):
            b[i] = fs[i] + h * _D3 * ft[i] + (_C31 * k1[i] + _C32 * k2[i]) * hi
        _model_solve(lu, b, k3)
        for i in range(n):
            u[i] = y[i] + _A41 * k1[i] + _A42 * k2[i] + _A43 * k3[i]
        fs = _model_rhs(t + _C4 * h, u, p, fidx, flo, fhi)
        for i in range(n):
            b[i] = fs[i] + h * _D4 * ft[i] + (_C41 * k1[i] + _C42 * k2[i] + _C43 * k3[i]) * hi
        _model_solve(lu, b, k4)
        for i in range(n):
            u[i] = y[i] + _A51 * k1[i] + _A52 * k2[i] + _A53 * k3[i] + _A54 * k4[i]
        fs = _model_rhs(t + h, u, p, fidx, flo, fhi)
        for i in range(n):
            b[i] = fs[i] + (_C51 * k1[i] + _C52 * k2[i] + _C53 * k3[i] + _C54 * k4[i]) * hi
        _model_solve(lu, b, k5)
        for i in range(n):
            u[i] += k5[i]
        fs = _model_rhs(t + h, u, p, fidx, flo, fhi)
        for i in range(n):
            b[i] = fs[i] + (_C61 * k1[i] + _C62 * k2[i] + _C63 * k3[i] + _C64 * k4[i]
                            + _C65 * k5[i]) * hi
        _model_solve(lu, b, k6)
        nf += 5
        for i in range(n):
            ynew[i] = u[i] + k6[i]
        err = _rms(k6, y, ynew, rtol, atol)
        if not np.isfinite(err):
            h *= 0.25
            n_rej += 1
            reject = True
            continue
        fac = min(6.0, max(0.2, 0.9 * err ** -0.25)) if err > 0.0 else 6.0
        if err <= 1.0:
            if not first:  # Gustafsson's predictive controller
                e2 = max(err, 1e-10)
                pred = 0.9 * (h / h_old) * (err_old / (e2 * e2)) ** 0.25
                fac = min(fac, max(0.2, min(6.0, pred)))
            if reject:
                fac = min(fac, 1.0)
            # dense output at the requested times inside (t, t + h]
            t_new = t + h if t + h < t_end else t_end
            while io < nt and times[io] <= t_new:
                s = (times[io] - t) / h
                for i in range(n):
                    q1 = (_H21 * k1[i] + _H22 * k2[i] + _H23 * k3[i] + _H24 * k4[i]
                          + _H25 * k5[i])
                    q2 = (_H31 * k1[i] + _H32 * k2[i] + _H33 * k3[i] + _H34 * k4[i]
                          + _H35 * k5[i])
                    out[io, i] = (1.0 - s) * y[i] + s * (ynew[i] + (1.0 - s) * (q1 + s * q2))
                io += 1
                in_interval = 0
            first = False
            h_old = h
            err_old = max(err, 1e-4)
            t = t_new
            for i in range(n):
                y[i] = ynew[i]
            if t >= t_end:
                break
            f0 = _model_rhs(t, y, p, fidx, flo, fhi)
            nf += 1
            for i in range(n):
                if not np.isfinite(y[i]):
                    stats[0], stats[1], stats[2], stats[3], stats[4] = n_acc, n_rej, nf, n_fac, t
                    return NOT_FINITE
            need_jac = True
            reject = False
            n_acc += 1
            in_interval += 1
            if in_interval > max_steps:
                stats[0], stats[1], stats[2], stats[3], stats[4] = n_acc, n_rej, nf, n_fac, t
                return TOO_MANY_STEPS
            h *= fac
        else:
            h *= fac
            n_rej += 1
            reject = True
    while io < nt:  # times equal to t_end up to rounding
        out[io, :] = y
        io += 1
    stats[0], stats[1], stats[2], stats[3], stats[4] = n_acc + 1, n_rej, nf, n_fac, t
    return OK


def rodas4_many(y0s, ps, times, freezes, rtol, atol, max_steps, autonomous, nnz, out, stats,
                status):
    """:func:`rodas4` for many cells in parallel threads (numba ``prange``, no GIL): cell ``c``
    starts from ``y0s[c]`` with parameters ``ps[c]`` and freeze band ``freezes[c]``
    (index, start, end) and writes ``out[c]``, ``stats[c]`` and ``status[c]``."""
    for c in numba.prange(y0s.shape[0]):
        status[c] = rodas4(y0s[c], ps[c], times, int(freezes[c, 0]), freezes[c, 1],
                           freezes[c, 2], rtol, atol, max_steps, autonomous, nnz, out[c],
                           stats[c])


# ============================================================================ per-model kernel
_KERNEL_HEADER = '''"""Generated by apopsim.engine.stiff (Rodas4 for one model); do not edit."""
import sys

import math

import numba
import numpy as np

from apopsim.engine.stiff import {names}

_model_rhs = sys.modules[{module!r}].rhs_stop
_model_jac = sys.modules[{module!r}].jac_sparse_stop
'''

_KERNELS: dict[str, ModuleType] = {}


def _source_tag() -> str:
    """Hash of this file: numba's cache of a generated kernel only watches the kernel's own
    file, so the kernel's file name changes whenever the integrator here changes."""
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:12]


def kernel_for(cm: CompiledModel) -> ModuleType:
    """The module holding ``rodas4`` and ``rodas4_many`` bound to ``cm``'s right-hand side and
    sparse Jacobian, compiled with numba (at first call) and cached on disk next to the
    generated model code."""
    module = cm.rhs_stop.__module__
    if module in _KERNELS:
        return _KERNELS[module]
    if not isinstance(cm.rhs_stop, numba.core.dispatcher.Dispatcher):
        raise ValueError("engine 'numba' needs numba's JIT (APOPSIM_JIT=0 is set)")
    name = f"apopsim_stiff_{module.removeprefix('apopsim_gen_')}_{_source_tag()}"
    def source() -> str:
        consts = [k for k, v in globals().items() if k.lstrip("_").isupper()
                  and isinstance(v, (int, float))]
        names = ", ".join([*consts, "_rms"])
        return "".join([
            _KERNEL_HEADER.format(module=module, names=names),
            lu_source(plan_for(cm)),
            "\n\n@numba.njit(cache=True, nogil=True)\n",
            inspect.getsource(rodas4),
            "\n\n@numba.njit(cache=True, nogil=True, parallel=True)\n",
            inspect.getsource(rodas4_many),
        ])

    mod = generated_module(name, source)
    _KERNELS[module] = mod
    return mod


# ============================================================================ back end
_PLANS: dict[str, SparseLUPlan] = {}


def plan_for(cm: CompiledModel) -> SparseLUPlan:
    """The sparse LU plan of ``cm``'s iteration matrix (cached per model structure)."""
    key = cm.model.structure_hash()
    if key not in _PLANS:
        rows, cols = cm.jac_pattern
        _PLANS[key] = sparse_lu_plan(len(cm.model.state), rows, cols)
    return _PLANS[key]


#: the freeze band used when a cell is not frozen: the marker never reaches it
NO_FREEZE = (0, 1e300, 2e300)

#: Environment variable: threads per process for :meth:`NumbaBackend.integrate_many` (default:
#: numba's ``NUMBA_NUM_THREADS``, all cores). Worker processes of a population run set it to 1
#: (the processes already use every core), which also keeps numba's OpenMP layer, not safe
#: across ``fork``, out of forked workers.
THREADS_ENV = "APOPSIM_THREADS"


def threads() -> int:
    """Threads :meth:`NumbaBackend.integrate_many` uses in this process: ``APOPSIM_THREADS``
    if set (>= 1), else numba's thread count."""
    value = os.environ.get(THREADS_ENV, "").strip()
    if value.isdigit() and int(value) >= 1:
        return min(int(value), numba.config.NUMBA_NUM_THREADS)
    return numba.get_num_threads()


@register_backend
class NumbaBackend:
    """Rodas4 with a sparse LU, the whole time loop compiled (numba, no Python per step).

    Honours the freeze band inside the loop. Retry policy: a failed cell is retried on scipy
    (BDF at rtol / 100), the reference engine.
    """

    name = "numba"
    methods = ("rodas4",)
    default_method = "rodas4"
    supports_freeze = True

    def __init__(self, cm: CompiledModel, opts: SolverOptions) -> None:
        if cm.jac_sparse_stop is None or cm.jac_pattern is None:
            raise ValueError("the compiled model has no sparse Jacobian")
        self.cm, self.opts = cm, opts
        self.plan = plan_for(cm)
        self.kernel = kernel_for(cm)
        self.nnz = max(self.plan.nnz, cm.jac_nonzeros)
        self.last_stats = np.zeros(5)

    @classmethod
    def retry_options(cls, opts: SolverOptions) -> SolverOptions:
        return replace(opts, engine="scipy", method="BDF", rtol=opts.rtol / 100)

    def integrate(self, y0: np.ndarray, p: np.ndarray, times: np.ndarray,
                  freeze: Freeze | None = None) -> np.ndarray:
        times = np.ascontiguousarray(times, dtype=float)
        y0 = np.ascontiguousarray(y0, dtype=float)
        if len(times) < 2:
            return y0[None, :].copy()
        fidx, flo, fhi = NO_FREEZE if freeze is None else freeze
        out = np.empty((len(times), y0.size))
        o = self.opts
        status = self.kernel.rodas4(y0, np.ascontiguousarray(p, dtype=float), times, int(fidx),
                                    float(flo), float(fhi), o.rtol, o.atol, o.max_steps,
                                    self.cm.autonomous, self.nnz, out, self.last_stats)
        if status != OK:
            raise SimulationError(f"Rodas4 failed near t = {self.last_stats[4]:.6g} h: "
                                  f"{_MESSAGES.get(status, 'unknown failure')}")
        return out

    def integrate_many(self, y0s: np.ndarray, ps: np.ndarray, times: np.ndarray,
                       freezes: np.ndarray | None = None) -> tuple[np.ndarray, list[str | None]]:
        """Many cells in parallel threads (numba ``prange``; :func:`threads` threads).

        ``y0s`` (n_cells, n_state) amounts, ``ps`` (n_cells, n_params), shared ``times`` (h),
        ``freezes`` (n_cells, 3) rows ``(marker_index, band_start, band_end)`` or None. Returns
        the states (n_cells, len(times), n_state) and, per cell, None or the failure message
        (a failed cell's rows are NaN; retry it with :meth:`retry_options`).
        """
        times = np.ascontiguousarray(times, dtype=float)
        y0s = np.ascontiguousarray(y0s, dtype=float)
        m = y0s.shape[0]
        if freezes is None:
            freezes = np.tile(np.array(NO_FREEZE, dtype=float), (m, 1))
        out = np.empty((m, len(times), y0s.shape[1]))
        stats = np.zeros((m, 5))
        status = np.zeros(m, dtype=np.int64)
        if len(times) < 2:
            out[:, 0] = y0s
            return out, [None] * m
        o = self.opts
        ps = np.ascontiguousarray(ps, dtype=float)
        freezes = np.ascontiguousarray(freezes, dtype=float)
        n_threads = threads()
        if n_threads == 1:  # one thread: no parallel layer at all (safe in forked workers)
            for c in range(m):
                status[c] = self.kernel.rodas4(y0s[c], ps[c], times, int(freezes[c, 0]),
                                               freezes[c, 1], freezes[c, 2], o.rtol, o.atol,
                                               o.max_steps, self.cm.autonomous, self.nnz,
                                               out[c], stats[c])
        else:
            before = numba.get_num_threads()
            numba.set_num_threads(n_threads)
            try:
                with numba.parallel_chunksize(1):  # cells differ in cost (dead, dying, ...)
                    self.kernel.rodas4_many(y0s, ps, times, freezes, o.rtol, o.atol,
                                            o.max_steps, self.cm.autonomous, self.nnz, out,
                                            stats, status)
            finally:
                numba.set_num_threads(before)
        errors: list[str | None] = [None] * m
        for c in np.nonzero(status)[0]:
            out[c] = np.nan
            errors[c] = (f"Rodas4 failed near t = {stats[c, 4]:.6g} h: "
                         f"{_MESSAGES.get(int(status[c]), 'unknown failure')}")
        self.last_many_stats = stats
        return out, errors
