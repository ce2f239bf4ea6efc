"""The extension examples in docs/extending.md run as written."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import apopsim
from apopsim.engine import registry

DOC = Path(__file__).resolve().parents[1] / "docs" / "extending.md"
FIXTURE = Path(__file__).parent / "data" / "oscillator.ant"


def _section_code(title: str) -> list[str]:
    text = DOC.read_text(encoding="utf-8")
    section = text.split(f"## {title}", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def test_the_documented_backend_registers_and_integrates():
    code = _section_code("A new solver back end")[0]
    namespace: dict = {}
    try:
        exec(compile(code, str(DOC), "exec"), namespace)  # noqa: S102 - our own documentation
        assert "explicit" in apopsim.engine.backend_names()
        model = apopsim.load_model(FIXTURE)
        off = apopsim.PreequilibrationOptions(enabled=False)
        times = np.linspace(0, 10, 41)
        ours = apopsim.simulate(model, times, engine="explicit", method="DOP853", rtol=1e-8,
                                atol=1e-10, preequilibration=off)
        ref = apopsim.simulate(model, times, rtol=1e-8, atol=1e-10, preequilibration=off)
        assert np.max(np.abs(ours.values - ref.values)) < 1e-5
        with pytest.raises(ValueError, match="no method 'LSODA'"):
            apopsim.SolverOptions(engine="explicit", method="LSODA")
        retry = registry.get_backend("explicit").retry_options(
            apopsim.SolverOptions(engine="explicit"))
        assert (retry.engine, retry.method) == ("scipy", "BDF")
    finally:
        registry._REGISTRY.pop("explicit", None)


def test_the_documented_death_rule_yaml_is_valid():
    from apopsim.scenario import DeathRule

    rule = DeathRule(variable="X", threshold=0.3, direction="down")
    event = rule.event()
    assert (event.direction, event.after, event.freeze_band) == ("down", "freeze", (0.9, 0.8))
