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
    result.write("results/apg2575_hht")
"""

from importlib.metadata import PackageNotFoundError, version

from apopsim.engine import PreequilibrationOptions, SolverOptions, Trajectory
from apopsim.errors import (
    ApopsimError,
    ModelError,
    PreequilibrationError,
    ScenarioError,
    SimulationError,
)
from apopsim.library import catalogue, contexts, list_models, load_model
from apopsim.model import Model
from apopsim.runner import ScenarioResult, run_scenario
from apopsim.scenario import Scenario, load_scenario, log_doses, scenario_json_schema
from apopsim.simulate import simulate

try:
    __version__ = version("apopsim")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.1.0+src"

__all__ = [
    "ApopsimError",
    "Model",
    "Scenario",
    "ScenarioResult",
    "ModelError",
    "PreequilibrationError",
    "PreequilibrationOptions",
    "ScenarioError",
    "SimulationError",
    "SolverOptions",
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
]
