"""models/PARAMETERS.md is generated from the model sources and must be up to date."""

from __future__ import annotations

import importlib.util
from pathlib import Path

TOOL = Path(__file__).resolve().parents[2] / "models" / "tools" / "parameter_tables.py"


def _tool():
    spec = importlib.util.spec_from_file_location("parameter_tables", TOOL)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_parameter_tables_are_current():
    assert _tool().main(["--check"]) == 0, "run python models/tools/parameter_tables.py"


def test_kinds_are_read_from_the_comments():
    tool = _tool()
    assert tool.kind_of("1/h; assumption: typical") == "assumed"
    assert tool.kind_of("1/h; tuned 0.05 -> 0.01 (issue 9)") == "fitted"
    assert tool.kind_of("nM; Albeck et al. 2008") == "literature"
    assert tool.kind_of("nM; drug input") == "input"
    assert tool.kind_of("nM") == "unstated"
