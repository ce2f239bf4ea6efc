"""Fuzz the scenario loader and the CLI with mutated scenario files.

Every input must end in exit status 0 (valid) or 2 (refused, saying where) for ``validate``, and
0, 1 (a documented simulation failure) or 2 for ``run``: never a traceback or an "internal error",
never a file outside the test's folder, and bounded memory (the alias bomb in a subprocess under
an address-space limit).
"""

from __future__ import annotations

import contextlib
import copy
import io
import math
import os
import resource
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apopsim.cli import main
from apopsim.scenario import load_scenario

BASE: dict[str, Any] = {
    "name": "fuzz",
    "model": "bcl2_core",
    "context": "aml_mcl1_dependent",
    "drugs": {"lisaftoclax": [0, 100], "hht": {"from_nM": 1, "to_nM": 100, "n": 2}},
    "schedule": [{"at_h": 2, "drug": "hht", "action": "add"}],
    "time": {"duration_h": 24, "output_every_h": 1, "readout_times_h": [12, 24]},
    "readouts": {"species": ["MCL1_total"], "death": {"threshold": 0.5}},
    "solver": {"rtol": 1e-6, "atol": 1e-9},
    "overrides": {"parameters": {"ksyn_MCL1": 1.0}, "initial_nM": {"BIM": 10}},
    "population": {"n_cells": 2, "cv": 0.2, "vary_parameters": ["ksyn_*"]},
    "preequilibration": {"max_h": 1000},
    "execution": {"executor": "serial"},
    "seed": 1,
}

ODD_VALUES = [math.nan, math.inf, -math.inf, -1, -1e-300, 0, 5e-324, 1e308, 10**30, 2**64,
              "", "x", ".", "..", "../../x", "/tmp", "a b", "2024-13-01", "nan", "1e999", None,
              True, [], {}, [[[1]]], {"a": {"b": {"c": 1}}}, [math.nan], {"from_nM": 1}]
VALUES = st.one_of(
    st.sampled_from(ODD_VALUES),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.text(max_size=12),
    st.lists(st.floats(allow_nan=True), max_size=4),
    st.dictionaries(st.text(max_size=6), st.integers(), max_size=3),
)
KEYS = st.one_of(st.sampled_from(["name", "model", "drugs", "time", "duration_h", "n_cells",
                                  "species", "threshold", "at_h", "nM", "parameters", "n",
                                  "from_nM", "design", "executor", "colour"]),
                 st.text(max_size=8))


def _paths(node: Any, path: tuple = ()) -> list[tuple]:
    """Every path into a nested dict/list (the root included)."""
    out = [path]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*path, i))
    return out


def _get(node: Any, path: tuple) -> Any:
    for p in path:
        node = node[p]
    return node


@st.composite
def scenario_texts(draw: st.DrawFn) -> bytes:
    """A scenario file: the valid BASE with random structural then textual mutations."""
    data = copy.deepcopy(BASE)
    for _ in range(draw(st.integers(0, 4))):
        path = draw(st.sampled_from(_paths(data)[1:]))
        parent, last = _get(data, path[:-1]), path[-1]
        op = draw(st.sampled_from(["replace", "replace", "delete", "add", "nest"]))
        if op == "replace":
            parent[last] = draw(VALUES)
        elif op == "delete":
            del parent[last]
        elif op == "add" and isinstance(parent, dict):
            parent[draw(KEYS)] = draw(VALUES)
        elif op == "nest":
            for _ in range(draw(st.integers(1, 80))):
                parent[last] = [parent[last]] if draw(st.booleans()) else {"k": parent[last]}
        if not _paths(data)[1:]:
            break
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=10**6)
    raw = text.encode("utf-8", "surrogatepass")
    kind = draw(st.sampled_from(["none", "none", "bytes", "truncate", "alias", "deep",
                                 "anchor", "duplicate"]))
    if kind == "bytes":
        at = draw(st.integers(0, len(raw)))
        raw = raw[:at] + draw(st.binary(min_size=1, max_size=8)) + raw[at:]
    elif kind == "truncate":
        raw = raw[:draw(st.integers(0, len(raw)))]
    elif kind == "alias":  # an alias bomb of random width and depth under an extra key
        width, depth = draw(st.integers(2, 12)), draw(st.integers(2, 9))
        bomb = "".join(f"b{i}: &b{i} [" + ", ".join([f"*b{i - 1}"] * width) + "]\n"
                       for i in range(1, depth))
        raw = b"b0: &b0 [1, 2]\n" + bomb.encode() + raw
    elif kind == "deep":
        n = draw(st.integers(40, 5000))
        raw += ("extra: " + "[" * n + "]" * n + "\n").encode()
    elif kind == "anchor":  # anchors and aliases, possibly dangling or cyclic
        raw = raw.replace(b"lisaftoclax:", b"lisaftoclax: &l", 1) + draw(st.sampled_from(
            [b"extra: *l\n", b"extra: *nosuch\n", b"seed: &s [*s]\n", b"x: &c {y: *c}\n"]))
    elif kind == "duplicate":
        raw += raw.splitlines(keepends=True)[0] if raw else b""
    return raw


def _cli(*argv: str) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(list(argv))
    return code, err.getvalue()


@settings(max_examples=150, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(raw=scenario_texts())
def test_mutated_scenarios_are_valid_or_refused_cleanly(tmp_path, monkeypatch, raw):
    work = tmp_path / "cwd"
    work.mkdir(exist_ok=True)
    monkeypatch.chdir(work)
    path = tmp_path / "scenario.yaml"
    path.write_bytes(raw)
    code, err = _cli("validate", str(path))  # main() reports any other exception as internal
    assert code in (0, 2), err
    assert "Traceback" not in err and "internal error" not in err, err
    assert code == 0 or str(path) in err, err  # a refusal says where
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cwd", "scenario.yaml"]
    assert not any(work.iterdir())


def test_alias_bomb_runs_in_bounded_memory_and_time(tmp_path):
    path = tmp_path / "bomb.yaml"
    bomb = "".join(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]\n" for i in range(1, 10))
    path.write_text("name: t\nmodel: bcl2_core\nl0: &l0 [lol]\n" + bomb)  # 10**9 values

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))

    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "apopsim.cli", "validate", str(path)],
                          preexec_fn=limit, capture_output=True, text=True, timeout=60,
                          cwd=tmp_path, env=env)
    assert proc.returncode == 2, proc.stderr
    assert f"{path}:" in proc.stderr and "alias" in proc.stderr
    assert "Traceback" not in proc.stderr and "MemoryError" not in proc.stderr


ODD_RUNS = {  # id: (scenario name, extra YAML)
    "one cell, one hour, no drugs": ("odd", """\
        time: {duration_h: 1, output_every_h: 0.5}
        """),
    "washout exactly at the end, maximal dose": ("odd", """\
        drugs: {hht: 1.0e+9}
        time: {duration_h: 1}
        schedule:
          - {at_h: 1, drug: hht, action: washout}
        """),
    "dead before treatment": ("odd", """\
        drugs: {lisaftoclax: [0, 10]}
        time: {duration_h: 2, output_times_h: [0, 2], readout_times_h: [0]}
        readouts: {death: {threshold: -1}}
        """),
    "zero synthesis, a 100-character name": ("n" * 100, """\
        overrides: {parameters: {ksyn_MCL1: 0}}
        time: {duration_h: 2}
        population: {n_cells: 2, cv: 0, block_size: 1}
        """),
}


@pytest.mark.parametrize("name,extra", list(ODD_RUNS.values()), ids=list(ODD_RUNS))
def test_odd_but_valid_runs_end_cleanly(tmp_path, monkeypatch, name, extra):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "odd.yaml"
    path.write_text(f"name: {name}\nmodel: bcl2_core\ncontext: aml_mcl1_dependent\n"
                    "execution: {executor: serial}\n" + textwrap.dedent(extra))
    code, err = _cli("run", str(path), "-q", "--no-plots")
    assert code in (0, 1, 2), err
    assert "Traceback" not in err and "internal error" not in err, err
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p != path]
    assert all(p.is_relative_to(tmp_path / "results" / name) for p in written), written
    if code == 0:
        assert (tmp_path / "results" / name / "summary.csv").is_file()


def test_fuzz_inputs_include_the_base_scenario_unchanged(tmp_path):
    path = tmp_path / "base.yaml"
    path.write_text(yaml.safe_dump(BASE, sort_keys=False))
    s = load_scenario(path)
    assert s.name == "fuzz" and len(s.conditions()) == 6
    assert Path(s.source) == path.resolve()
