"""Find and load the built-in models, the drug catalogue and the cell contexts.

The built-in data directory is ``apopsim/data`` inside the installed package (a link to the
repository's ``models/`` and ``scenarios/`` in a source checkout). ``APOPSIM_MODELS_DIR`` overrides
the models directory.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from apopsim._io import atomic_write_text, cache_dir, file_sha256
from apopsim.errors import ModelError

if TYPE_CHECKING:  # apopsim.model imports sympy: only when a model is really built
    from apopsim.model import Model

MODEL_SUFFIXES = (".ant", ".antimony", ".txt", ".xml", ".sbml")
_ANTIMONY_LOCK = threading.Lock()  # antimony keeps global state


def data_dir() -> Path:
    """Directory of the packaged data (``models/``, ``scenarios/``)."""
    return Path(__file__).resolve().parent / "data"


def models_dir() -> Path:
    """Directory holding the built-in models, ``drugs.yaml`` and ``contexts.yaml``."""
    env = os.environ.get("APOPSIM_MODELS_DIR")
    return Path(env) if env else data_dir() / "models"


def scenarios_dir() -> Path:
    """Directory holding the built-in scenarios."""
    return data_dir() / "scenarios"


def list_models() -> list[str]:
    """Names of the built-in models (file stems in :func:`models_dir`)."""
    return sorted(p.stem for p in models_dir().iterdir() if p.suffix in MODEL_SUFFIXES)


def resolve_model_path(name_or_path: str | os.PathLike[str], base: Path | None = None) -> Path:
    """Path of a model given a built-in name (``bcl2_core``) or a file path.

    Relative paths are tried against ``base`` (e.g. the scenario's folder), then the working
    directory, then the built-in models directory.
    """
    raw = Path(name_or_path)
    candidates = []
    if raw.is_absolute():
        candidates.append(raw)
    else:
        if base is not None:
            candidates.append(base / raw)
        candidates += [Path.cwd() / raw, models_dir() / raw]
        if not raw.suffix:
            candidates += [models_dir() / f"{raw}{s}" for s in MODEL_SUFFIXES]
    for c in candidates:
        if c.is_file():
            return c.resolve()
    raise ModelError(
        f"unknown model {str(name_or_path)!r}: not a file and not one of the built-in models "
        f"({', '.join(list_models())})"
    )


_IMPORT_RE = re.compile(r'^\s*import\s+"([^"]+)"', re.MULTILINE)


def _sbml_cache_file(path: Path, hashes: dict[str, str]) -> Path:
    """Cache file for the SBML translation of ``path`` given the hashes of all files read."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        tool = version("antimony")
    except PackageNotFoundError:  # pragma: no cover
        tool = "?"
    key = hashlib.sha256(repr((tool, str(path), sorted(hashes.items()))).encode()).hexdigest()
    return cache_dir() / "sbml" / f"{key[:32]}.xml"


def _source_hashes(path: Path) -> dict[str, str]:
    """SHA-256 of a model file and of every file it imports (Antimony ``import "..."``)."""
    hashes: dict[str, str] = {}
    todo = [path]
    while todo:
        p = todo.pop()
        if str(p) in hashes or not p.is_file():
            continue
        hashes[str(p)] = file_sha256(p)
        if p.suffix not in (".xml", ".sbml"):
            todo += [(p.parent / m).resolve() for m in _IMPORT_RE.findall(p.read_text())]
    return hashes


def _antimony_to_sbml(path: Path) -> tuple[str, dict[str, str]]:
    """Translate an Antimony file (with its imports) to flattened SBML; also hash every file.

    Translations are cached on disk (:func:`apopsim._io.cache_dir`) under the hashes of every
    file read, so a changed model or import is translated again.
    """
    hashes = _source_hashes(path)
    cached = _sbml_cache_file(path, hashes)
    try:
        return cached.read_text(encoding="utf-8"), hashes
    except (OSError, UnicodeDecodeError):
        pass
    import antimony

    with _ANTIMONY_LOCK:
        antimony.clearPreviousLoads()
        antimony.clearDirectories()
        antimony.addDirectory(str(path.parent))
        if antimony.loadAntimonyFile(str(path)) < 0:
            raise ModelError(f"{path}: Antimony error: {antimony.getLastError().strip()}")
        main = antimony.getMainModuleName()
        sbml = antimony.getSBMLString(main)
    if not sbml:
        raise ModelError(f"{path}: Antimony produced no SBML for module {main!r}")
    with contextlib.suppress(OSError):  # the cache is an optimisation only
        cached.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(cached, sbml)
    return sbml, hashes


@functools.lru_cache(maxsize=64)
def _load_file(path: str, mtime: float) -> Model:
    from apopsim.model import load_sbml_text

    p = Path(path)
    if p.suffix in (".xml", ".sbml"):
        return load_sbml_text(p.read_text(), source=p, source_hashes={str(p): file_sha256(p)})
    sbml, hashes = _antimony_to_sbml(p)
    return load_sbml_text(sbml, source=p, source_hashes=hashes)


def load_model(
    name_or_path: str | os.PathLike[str],
    context: str | dict[str, Any] | None = None,
    *,
    base: Path | None = None,
    apply_catalogue: bool = True,
) -> Model:
    """Load a model (built-in name or Antimony/SBML file) ready to simulate.

    Parameters
    ----------
    name_or_path
        A built-in model name (see :func:`list_models`) or a path to an Antimony (``.ant``) or
        SBML (``.xml``) file.
    context
        A named cell context from ``contexts.yaml`` or a dict with ``parameters`` and
        ``initial_nM`` overrides.
    base
        Folder that relative paths are resolved against first.
    apply_catalogue
        Set drug parameters from the drug catalogue and mark drug inputs.

    Returns
    -------
    Model
        Concentrations in nM, time in hours.
    """
    path = resolve_model_path(name_or_path, base)
    model = _load_file(str(path), path.stat().st_mtime)
    if apply_catalogue:
        model = catalogue().apply(model)
    if context is not None:
        model = apply_context(model, context)
    return model


@dataclass(frozen=True)
class ModelSummary:
    """What ``apopsim models`` lists, read without building the model (no sympy)."""

    name: str
    species: tuple[str, ...]
    n_reactions: int
    drug_inputs: tuple[str, ...]


def model_summary(name_or_path: str | os.PathLike[str]) -> ModelSummary:
    """Species (floating state species, as :attr:`Model.species`), reaction count and drug
    inputs of a model, from its SBML only (fast; the kinetic laws are not parsed or checked).

    The structure is cached on disk beside the SBML translation (keyed by the hashes of the
    model's files); drug inputs are matched against the current catalogue each time.
    """
    path = resolve_model_path(name_or_path)
    cached = _sbml_cache_file(path, _source_hashes(path)).with_suffix(".summary-v1.json")
    try:
        data = json.loads(cached.read_text(encoding="utf-8"))
        name, species, n_reactions = data["name"], tuple(data["species"]), data["n_reactions"]
        params = set(data["parameters"])
    except (OSError, ValueError, KeyError, TypeError):
        name, species, n_reactions, params = _sbml_structure(path)
        with contextlib.suppress(OSError):
            cached.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(cached, json.dumps(
                {"name": name, "species": species, "n_reactions": n_reactions,
                 "parameters": sorted(params)}))
    drugs = tuple(d.symbol for d in catalogue().drugs if d.symbol in params)
    return ModelSummary(name, tuple(species), n_reactions, drugs)


def _sbml_structure(path: Path) -> tuple[str, tuple[str, ...], int, set[str]]:
    """(model id, floating state species, number of reactions, parameter ids) from SBML."""
    import libsbml

    if path.suffix in (".xml", ".sbml"):
        sbml = path.read_text()
    else:
        sbml, _ = _antimony_to_sbml(path)
    m = libsbml.readSBMLFromString(sbml).getModel()
    if m is None:
        raise ModelError(f"{path}: SBML has no model")
    rules = [m.getRule(i) for i in range(m.getNumRules())]
    assigned = {r.getVariable() for r in rules if r.isAssignment()}
    rated = {r.getVariable() for r in rules if r.isRate()}
    species = []
    for i in range(m.getNumSpecies()):
        s = m.getSpecies(i)
        if s.getId() not in assigned and (not s.getBoundaryCondition() or s.getId() in rated):
            species.append(s.getId())
    params = {m.getParameter(i).getId() for i in range(m.getNumParameters())}
    params -= assigned | rated
    return m.getId() or "model", tuple(species), m.getNumReactions(), params


# ====================================================================== drug catalogue
@dataclass(frozen=True)
class Drug:
    """One catalogue entry. ``symbol`` is the model parameter holding its concentration (nM)."""

    id: str
    symbol: str
    aliases: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()
    mechanism: str = ""
    parameters: dict[str, dict[str, Any]] = field(default_factory=dict)
    sources: tuple[str, ...] = ()
    notes: str = ""
    fu_plasma: float | None = None
    """Unbound fraction in 100 % human plasma (dimensionless); None = not known (no shift)."""
    potency: tuple[dict[str, Any], ...] = ()
    """Measured potencies as published: kind (Ki, Kd, IC50, cellular IC50), value (nM), target,
    assay conditions (``atp_uM``, ``serum_percent``) and source. Records, not model inputs."""


#: Default serum in the culture medium, % (v/v) foetal bovine serum (the usual 10 % FBS).
DEFAULT_SERUM_PERCENT = 10.0


def unbound_fraction(fu_plasma: float | None, serum_percent: float,
                     serum_vs_plasma: float = 1.0) -> float:
    """Unbound fraction of a drug in medium with ``serum_percent`` % serum (dimensionless).

    Binding below saturation is proportional to the binding-protein concentration, so with
    ``fu_plasma`` the unbound fraction in 100 % human plasma the bound/free ratio
    ``(1/fu_plasma - 1)`` scales with the serum fraction and with ``serum_vs_plasma`` (binding
    capacity of the serum relative to human plasma, e.g. foetal bovine serum's lower albumin):
    ``fu = 1 / (1 + (1/fu_plasma - 1) * serum_vs_plasma * serum_percent / 100)``.
    ``fu_plasma`` None (not known) gives 1.
    """
    if serum_percent < 0 or serum_vs_plasma < 0:
        raise ModelError(f"serum percentage {serum_percent} must be >= 0")
    if fu_plasma is None:
        return 1.0
    if not 0 < fu_plasma <= 1:
        raise ModelError(f"unbound fraction {fu_plasma} must be in (0, 1]")
    return 1.0 / (1.0 + (1.0 / fu_plasma - 1.0) * serum_vs_plasma * serum_percent / 100.0)


def cheng_prusoff(ic50_nM: float, atp_uM: float, km_atp_uM: float) -> float:
    """Ki (nM) of an ATP-competitive inhibitor from its IC50 (nM) measured at ``atp_uM`` ATP:
    ``Ki = IC50 / (1 + [ATP]/Km)`` (Cheng & Prusoff, Biochem Pharmacol 1973)."""
    return ic50_nM / (1.0 + atp_uM / km_atp_uM)


def apparent_affinity(ki_nM: float, atp_uM: float, km_atp_uM: float) -> float:
    """Apparent Kd / IC50 (nM) of an ATP-competitive inhibitor at ``atp_uM`` ATP (inverse
    Cheng–Prusoff): ``Ki * (1 + [ATP]/Km)``."""
    return ki_nM * (1.0 + atp_uM / km_atp_uM)


@dataclass(frozen=True)
class Catalogue:
    """The drug catalogue (``drugs.yaml``).

    ``conditions`` holds the catalogue-wide values with their sources: ``cell_atp_uM``
    (intracellular ATP, µM) and ``serum_vs_plasma`` (protein binding of foetal bovine serum
    relative to human plasma).
    """

    drugs: tuple[Drug, ...]
    conditions: dict[str, dict[str, Any]] = field(default_factory=dict)

    def condition(self, key: str, default: float) -> float:
        """A catalogue-wide condition's value (``conditions.<key>.value``), or ``default``."""
        spec = self.conditions.get(key)
        return float(spec["value"]) if isinstance(spec, dict) else default

    def free_fraction(self, name: str, serum_percent: float = DEFAULT_SERUM_PERCENT) -> float:
        """Unbound fraction of drug ``name`` in medium with ``serum_percent`` % serum (1 for a
        name outside the catalogue or a drug whose protein binding is not known)."""
        drug = self.get(name)
        return unbound_fraction(drug.fu_plasma if drug else None, serum_percent,
                                self.condition("serum_vs_plasma", 1.0))

    def parameter_value(self, spec: dict[str, Any] | float,
                        cell_atp_uM: float | None = None) -> float:
        """A catalogue parameter's model value.

        A plain value is used as it is. An entry with ``atp_site: {ki_nM, km_atp_uM}`` (an
        ATP-competitive kinase inhibitor) gets its apparent affinity at intracellular ATP,
        ``ki_nM * (1 + cell_atp_uM / km_atp_uM)`` (default ATP: ``conditions.cell_atp_uM``);
        ``drugs.yaml`` states the resulting ``value`` too, and a test keeps them equal.
        """
        if not isinstance(spec, dict):
            return float(spec)
        site = spec.get("atp_site")
        if not site:
            return float(spec["value"])
        atp = self.condition("cell_atp_uM", 3000.0) if cell_atp_uM is None else cell_atp_uM
        return apparent_affinity(float(site["ki_nM"]), atp, float(site["km_atp_uM"]))

    def get(self, name: str) -> Drug | None:
        """The drug whose id, symbol or alias matches ``name`` (case-insensitive), or None."""
        key = name.strip().lower()
        for d in self.drugs:
            if key in {d.id.lower(), d.symbol.lower(), *(a.lower() for a in d.aliases)}:
                return d
        return None

    def names(self) -> list[str]:
        """Canonical drug ids."""
        return [d.id for d in self.drugs]

    def resolve(self, model: Model, doses_nM: Mapping[str, float] | None,
                serum_percent: float = DEFAULT_SERUM_PERCENT) -> dict[str, float]:
        """Map drug names (catalogue id, alias or model symbol) to ``model``'s input parameters,
        as the free (unbound) concentration that drives the intracellular effect.

        ``doses_nM`` are total concentrations in the medium (nM); each is multiplied by the
        drug's unbound fraction at ``serum_percent`` % serum (:meth:`free_fraction`; 1 where the
        binding is not known). Returns ``{parameter: free concentration in nM}``; raises
        :class:`ModelError` for a name the model has no input for, or a negative dose.
        """
        if not 0 <= serum_percent <= 100:
            raise ModelError(f"serum percentage {serum_percent} is not within 0-100 %")
        out: dict[str, float] = {}
        for name, value in (doses_nM or {}).items():
            drug = self.get(name)
            symbol = drug.symbol if drug else name
            if symbol not in model.parameters:
                raise ModelError(
                    f"model {model.name!r} has no input for drug {name!r}; its drug inputs are: "
                    f"{', '.join(model.drug_inputs) or 'none'}"
                )
            if value < 0:
                raise ModelError(f"dose of {name!r} is negative ({value} nM)")
            out[symbol] = float(value) * self.free_fraction(name, serum_percent)
        return out

    def apply(self, model: Model) -> Model:
        """Set catalogue drug parameters on ``model`` and record its drug inputs."""
        from dataclasses import replace

        overrides = {}
        inputs = []
        for d in self.drugs:
            if d.symbol in model.parameters:
                inputs.append(d.symbol)
            for k, spec in d.parameters.items():
                if k in model.parameters:
                    overrides[k] = self.parameter_value(spec)
        model = model.with_overrides(overrides, where="drugs.yaml") if overrides else model
        return replace(model, drug_inputs=tuple(inputs))


@functools.lru_cache(maxsize=8)
def _read_catalogue(path: str, mtime: float) -> Catalogue:
    data = yaml.safe_load(Path(path).read_text()) or {}
    drugs = []
    for i, d in enumerate(data.get("drugs", [])):
        try:
            drugs.append(
                Drug(
                    id=d["id"],
                    symbol=d.get("symbol", d["id"]),
                    aliases=tuple(d.get("aliases", []) or []),
                    targets=tuple(d.get("targets", []) or []),
                    mechanism=d.get("mechanism", ""),
                    parameters=dict(d.get("parameters", {}) or {}),
                    sources=tuple(d.get("sources", []) or []),
                    notes=d.get("notes", "") or "",
                    fu_plasma=_fu((d.get("exposure") or {}).get("fu_plasma") or {}),
                    potency=tuple(d.get("potency", []) or []),
                )
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"{path}: drug entry {i}: missing or bad field {exc}") from exc
    return Catalogue(tuple(drugs), dict(data.get("conditions", {}) or {}))


def _fu(spec: dict[str, Any]) -> float | None:
    """``exposure.fu_plasma.value`` (None when not known)."""
    v = spec.get("value")
    return None if v is None else float(v)


def catalogue() -> Catalogue:
    """The drug catalogue of the models directory."""
    path = models_dir() / "drugs.yaml"
    if not path.is_file():
        return Catalogue(())
    return _read_catalogue(str(path), path.stat().st_mtime)


# ====================================================================== cell contexts
@functools.lru_cache(maxsize=8)
def _read_contexts(path: str, mtime: float) -> dict[str, dict[str, Any]]:
    data = yaml.safe_load(Path(path).read_text()) or {}
    return dict(data.get("contexts", {}) or {})


def contexts() -> dict[str, dict[str, Any]]:
    """Named cell contexts (``contexts.yaml``): name -> {description, models, parameters,
    initial_nM, sources, and optionally culture (:func:`apopsim.culture.context_culture`)}."""
    path = models_dir() / "contexts.yaml"
    if not path.is_file():
        return {}
    return _read_contexts(str(path), path.stat().st_mtime)


def context_spec(name: str) -> dict[str, Any]:
    """One named cell context of ``contexts.yaml`` (raises :class:`ModelError` naming the known
    ones if there is none)."""
    known = contexts()
    if name not in known:
        raise ModelError(
            f"unknown cell context {name!r}; known contexts: {', '.join(sorted(known))}"
        )
    return known[name]


def apply_context(model: Model, context: str | dict[str, Any]) -> Model:
    """Apply a named context or an inline ``{parameters, initial_nM}`` dict to ``model``."""
    if isinstance(context, str):
        spec, where = context_spec(context), f"context {context!r}"
    else:
        spec, where = context, "context"
    return model.with_overrides(
        spec.get("parameters") or {}, spec.get("initial_nM") or {}, where=where
    )
