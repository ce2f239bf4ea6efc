"""apopsim: a mechanistic simulator of apoptosis for drug-combination research.

Units at every interface: concentrations in nM, time in hours.

Library API (the ``apopsim`` command is a thin layer over it)::

    import apopsim
    model = apopsim.load_model("bcl2_core", context="aml_mcl1_dependent")
    traj = apopsim.simulate(model, times_h=range(0, 73), doses_nM={"lisaftoclax": 100})
    traj.to_dataframe()

    scenario = apopsim.load_scenario("scenarios/apg2575_hht.yaml")
    result = apopsim.run_scenario(scenario)
    result.to_dataframe()          # one row per condition
    apopsim.write_report(result, "results/apg2575_hht")
"""

import importlib

# Public names -> module defining them, imported on first use (PEP 562): ``import apopsim`` and
# the ``apopsim`` command start fast, without sympy, numba, scipy or pandas.
_EXPORTS: dict[str, str] = {
    **dict.fromkeys(
        ("PreequilibrationOptions", "SolverOptions", "ThresholdEvent", "Trajectory"),
        "engine"),
    "simulate": "cell",
    **dict.fromkeys(
        ("ApopsimError", "ApopsimWarning", "ModelError", "PreequilibrationError",
         "ScenarioError", "SimulationError"), "errors"),
    **dict.fromkeys(("catalogue", "contexts", "list_models", "load_model"), "library"),
    "Model": "model",
    **dict.fromkeys(("ConditionResult", "ScenarioResult"), "results"),
    "run_scenario": "runner",
    "write_report": "report",
    "Fate": "population",
    **dict.fromkeys(("Scenario", "load_scenario", "log_doses", "scenario_json_schema"),
                    "scenario"),
}


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("apopsim")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0.1.0+src"


__all__ = [
    "ApopsimError",
    "ApopsimWarning",
    "ConditionResult",
    "Fate",
    "Model",
    "ModelError",
    "PreequilibrationError",
    "PreequilibrationOptions",
    "Scenario",
    "ScenarioError",
    "ScenarioResult",
    "SimulationError",
    "SolverOptions",
    "ThresholdEvent",
    "Trajectory",
    "__version__",
    "catalogue",
    "contexts",
    "list_models",
    "load_model",
    "load_scenario",
    "log_doses",
    "run_scenario",
    "scenario_json_schema",
    "simulate",
    "write_report",
]


def __getattr__(name: str):
    if name == "__version__":
        value = _version()
    elif name in _EXPORTS:
        value = getattr(importlib.import_module(f"apopsim.{_EXPORTS[name]}"), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
