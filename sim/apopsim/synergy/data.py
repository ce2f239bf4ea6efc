"""Input handling: reading, validating and converting drug-combination response data.

Conventions
-----------
* Internally every response is **fractional inhibition** ``y`` (0 = untreated control,
  1 = complete inhibition).  Input may be viability or inhibition, in percent or in fractions;
  the user declares which (``data_type``, ``scale``) and nothing is guessed.  Values that look
  like the wrong declared scale trigger a :class:`SynergyWarning`, never a silent rescaling.
* Doses are non-negative concentrations in the unit of the ``conc_unit`` column (``nM`` when a
  data frame gives no unit).  Dose 0 marks the absence of a drug; wells with ``conc1 == 0``
  (``conc2 == 0``) form the monotherapy margin of drug 2 (drug 1).
* Replicates are rows sharing ``(block_id, conc1, conc2)``; they are averaged for the
  non-parametric methods and used whole for curve and surface fits.

The long ("tidy") input format is SynergyFinder's: one row per well and replicate with columns
``block_id, drug1, drug2, conc1, conc2, response, conc_unit``.  SynergyFinder 2 names
(``drug_row, drug_col, conc_r, conc_c, conc_r_unit, conc_c_unit``) and per-drug units
(``conc_unit1, conc_unit2``) are accepted as well.
"""

from __future__ import annotations

import csv
import io
import os
import warnings
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from .flags import DATA_TYPES, SCALES

DataType = Literal["viability", "inhibition"]
Scale = Literal["percent", "fraction"]
OutOfRange = Literal["keep", "clip", "baseline", "baseline_part"]


#: Columns of SynergyFinder's long format that the CSV reader requires.
CSV_COLUMNS: tuple[str, ...] = (
    "block_id",
    "drug1",
    "drug2",
    "conc1",
    "conc2",
    "response",
    "conc_unit",
)
#: SynergyFinder 2 column names and their SynergyFinder 3 / apopsim equivalents.
SF2_ALIASES: dict[str, str] = {
    "drug_row": "drug1",
    "drug_col": "drug2",
    "conc_r": "conc1",
    "conc_c": "conc2",
    "conc_r_unit": "conc_unit1",
    "conc_c_unit": "conc_unit2",
}
DEFAULT_UNIT = "nM"


class SynergyInputError(ValueError):
    """Invalid input data, with the location of the problem.

    Attributes
    ----------
    source
        File name (or ``"<DataFrame>"``) the data came from.
    row
        Human-readable row location (``"line 7"`` for a CSV file, ``"row index 5"`` for a data
        frame, ``"block 'A'"`` for a block-level problem) or None.
    column
        Offending column or None.
    expected
        What was expected there.
    """

    def __init__(
        self,
        expected: str,
        *,
        source: str | None = None,
        row: str | None = None,
        column: str | None = None,
        got: object = None,
        has_got: bool = False,
    ) -> None:
        self.source = source
        self.row = row
        self.column = column
        self.expected = expected
        parts = [p for p in (source, row) if p]
        if column:
            parts.append(f"column '{column}'")
        where = ", ".join(parts)
        msg = f"{where}: {expected}" if where else expected
        if has_got:
            msg += f", got {_short_repr(got)}"
        super().__init__(msg)


class SynergyWarning(UserWarning):
    """Suspicious but accepted input (e.g. values that look like the wrong declared scale)."""


def _short_repr(value: object, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --------------------------------------------------------------------------------------------
# Reading and validation
# --------------------------------------------------------------------------------------------


def read_synergyfinder_csv(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read and validate a SynergyFinder long-format CSV file.

    Parameters
    ----------
    path
        CSV file with a header row and columns ``block_id, drug1, drug2, conc1, conc2,
        response, conc_unit`` (SynergyFinder 2 names are accepted; extra columns are kept but
        ignored; a ``replicate`` column is optional).  Doses must be non-negative numbers in
        ``conc_unit``; responses must be finite numbers in the scale the caller will declare.

    Returns
    -------
    pandas.DataFrame
        Canonical tidy table (see :func:`validate_wells`), responses unconverted.

    Raises
    ------
    SynergyInputError
        Unreadable file or invalid content; the message names the file, line and column.
    """
    source = str(path)
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            text = fh.read()
    except FileNotFoundError:
        raise SynergyInputError("file not found", source=source) from None
    except IsADirectoryError:
        raise SynergyInputError("expected a CSV file, got a directory", source=source) from None
    except UnicodeDecodeError as exc:
        raise SynergyInputError(f"not UTF-8 text ({exc.reason})", source=source) from None
    reader = csv.reader(io.StringIO(text), skipinitialspace=True)
    header: list[str] | None = None
    rows: list[list[str]] = []
    lines: list[int] = []
    try:
        for row in reader:
            if not row or all(not cell.strip() for cell in row):
                continue  # blank line
            if header is None:
                header = [cell.strip() for cell in row]
                continue
            if len(row) != len(header):
                raise SynergyInputError(
                    f"expected {len(header)} comma-separated fields (as in the header), got "
                    f"{len(row)}",
                    source=source,
                    row=f"line {reader.line_num}",
                )
            rows.append(row)
            lines.append(reader.line_num)
    except csv.Error as exc:
        raise SynergyInputError(
            f"cannot parse as CSV ({exc})", source=source, row=f"line {reader.line_num}"
        ) from None
    if header is None:
        raise SynergyInputError(
            "file is empty; expected a header row with columns " + ", ".join(CSV_COLUMNS),
            source=source,
        )
    raw = pd.DataFrame(rows, columns=header, index=lines, dtype=object)
    return validate_wells(raw, source=source, from_csv=True)


def _where(index: Hashable, from_csv: bool) -> str:
    if from_csv:
        return f"line {index}"  # CSV frames are indexed by file line number
    return f"row index {index!r}"


def _parse_numbers(
    values: pd.Series, column: str, *, source: str, from_csv: bool, nonnegative: bool
) -> np.ndarray:
    """Convert a column to float64, raising on the first non-numeric/non-finite/negative cell."""
    if values.dtype == bool or pd.api.types.is_bool_dtype(values.dtype):
        bad = values.index[0]
        raise SynergyInputError(
            "expected a number",
            source=source,
            row=_where(bad, from_csv),
            column=column,
            got=values.iloc[0],
            has_got=True,
        )
    if pd.api.types.is_numeric_dtype(values.dtype):
        num = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    else:
        cleaned = values.astype(object).map(lambda v: v.strip() if isinstance(v, str) else v)
        num = pd.to_numeric(cleaned, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    bad_mask = ~np.isfinite(num)
    what = "a non-negative number" if nonnegative else "a finite number"
    if nonnegative:
        bad_mask |= num < 0
    if bad_mask.any():
        pos = int(np.flatnonzero(bad_mask)[0])
        raise SynergyInputError(
            f"expected {what}",
            source=source,
            row=_where(values.index[pos], from_csv),
            column=column,
            got=values.iloc[pos],
            has_got=True,
        )
    return num


def _text_column(values: pd.Series, column: str, *, source: str, from_csv: bool) -> np.ndarray:
    out = values.astype(object).map(lambda v: v.strip() if isinstance(v, str) else v)
    missing = out.map(lambda v: v is None or (isinstance(v, float) and np.isnan(v)) or v == "")
    if missing.any():
        pos = int(np.flatnonzero(missing.to_numpy())[0])
        raise SynergyInputError(
            "expected a non-empty value",
            source=source,
            row=_where(values.index[pos], from_csv),
            column=column,
            got=values.iloc[pos],
            has_got=True,
        )
    return out.to_numpy(dtype=object)


def validate_wells(
    frame: pd.DataFrame,
    *,
    source: str | None = None,
    from_csv: bool = False,
    conc_unit: str | None = None,
) -> pd.DataFrame:
    """Validate a tidy well table and return it in canonical form.

    Parameters
    ----------
    frame
        One row per well and replicate.  Required columns: ``block_id, conc1, conc2,
        response``; for CSV input also ``drug1, drug2`` and a unit (``conc_unit`` or
        ``conc_unit1`` + ``conc_unit2``).  Data frames may omit drug names (``"drug1"``,
        ``"drug2"`` are used) and units (``conc_unit`` argument, default ``"nM"``).
    source
        Name used in error messages (file name); ``"<DataFrame>"`` by default.
    from_csv
        True when ``frame`` was read from CSV with all cells as strings: row locations are then
        reported as file line numbers.
    conc_unit
        Unit used when the frame has no unit column.

    Returns
    -------
    pandas.DataFrame
        Columns ``block_id, drug1, drug2, conc1, conc2, response, conc_unit1, conc_unit2,
        replicate, source_row`` with float doses/responses (responses still in the input scale).

    Raises
    ------
    SynergyInputError
        Missing columns, empty table, non-numeric or negative doses, non-numeric or non-finite
        responses, empty identifiers, or drug names/units that change within a block.
    """
    if source is None:
        source = "<DataFrame>"
    if not isinstance(frame, pd.DataFrame):
        raise SynergyInputError("expected a pandas DataFrame of wells", source=source)
    df = frame.copy()
    df.columns = [str(c).strip().lower() for c in df.columns]
    df = df.rename(columns=SF2_ALIASES)
    dupes = sorted({c for c in df.columns if list(df.columns).count(c) > 1})
    if dupes:
        raise SynergyInputError(
            "duplicate column(s) " + ", ".join(f"'{c}'" for c in dupes), source=source
        )
    has_unit = "conc_unit" in df.columns or {"conc_unit1", "conc_unit2"} <= set(df.columns)
    required = ["block_id", "conc1", "conc2", "response"]
    if from_csv:
        required = ["block_id", "drug1", "drug2", "conc1", "conc2", "response"]
    missing = [c for c in required if c not in df.columns]
    if from_csv and not has_unit:
        missing.append("conc_unit")
    if missing:
        raise SynergyInputError(
            "missing column(s) "
            + ", ".join(f"'{c}'" for c in missing)
            + "; expected SynergyFinder long format with columns "
            + ", ".join(CSV_COLUMNS),
            source=source,
            column=missing[0],
        )
    if len(df) == 0:
        raise SynergyInputError("no data rows", source=source)

    out = pd.DataFrame(index=df.index)
    if from_csv:
        out["block_id"] = _text_column(df["block_id"], "block_id", source=source, from_csv=from_csv)
    else:
        block = df["block_id"]
        if block.isna().any():
            pos = int(np.flatnonzero(block.isna().to_numpy())[0])
            raise SynergyInputError(
                "expected a block identifier",
                source=source,
                row=_where(df.index[pos], from_csv),
                column="block_id",
            )
        out["block_id"] = block.to_numpy(dtype=object)
    for col in ("drug1", "drug2"):
        if col in df.columns:
            out[col] = _text_column(df[col], col, source=source, from_csv=from_csv)
        else:
            out[col] = col
    out["conc1"] = _parse_numbers(
        df["conc1"], "conc1", source=source, from_csv=from_csv, nonnegative=True
    )
    out["conc2"] = _parse_numbers(
        df["conc2"], "conc2", source=source, from_csv=from_csv, nonnegative=True
    )
    out["response"] = _parse_numbers(
        df["response"], "response", source=source, from_csv=from_csv, nonnegative=False
    )
    if {"conc_unit1", "conc_unit2"} <= set(df.columns):
        out["conc_unit1"] = _text_column(
            df["conc_unit1"], "conc_unit1", source=source, from_csv=from_csv
        )
        out["conc_unit2"] = _text_column(
            df["conc_unit2"], "conc_unit2", source=source, from_csv=from_csv
        )
    elif "conc_unit" in df.columns:
        unit = _text_column(df["conc_unit"], "conc_unit", source=source, from_csv=from_csv)
        out["conc_unit1"] = unit
        out["conc_unit2"] = unit
    else:
        out["conc_unit1"] = conc_unit or DEFAULT_UNIT
        out["conc_unit2"] = conc_unit or DEFAULT_UNIT
    out["replicate"] = df["replicate"].to_numpy(dtype=object) if "replicate" in df else 1
    out["source_row"] = [_where(i, from_csv) for i in df.index]

    # Names and units must be constant within a block.
    for col in ("drug1", "drug2", "conc_unit1", "conc_unit2"):
        first = out.groupby("block_id", sort=False)[col].transform("first")
        differs = (out[col] != first).to_numpy()
        if differs.any():
            pos = int(np.flatnonzero(differs)[0])
            raise SynergyInputError(
                f"expected the same {col} within block {out['block_id'].iloc[pos]!r} "
                f"({first.iloc[pos]!r})",
                source=source,
                row=out["source_row"].iloc[pos],
                column=col if col in df.columns else "conc_unit",
                got=out[col].iloc[pos],
                has_got=True,
            )
    return out.reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# Scale conversion
# --------------------------------------------------------------------------------------------


def check_scale(response: np.ndarray, scale: str, *, source: str = "") -> list[str]:
    """Warn when responses look like the wrong declared scale.

    Heuristics (documented, deliberately conservative): values declared in percent whose
    absolute values are all <= 1.5 look like fractions; values declared as fractions of which
    more than 10 % exceed 2 in absolute value (i.e. 200 %), or any exceeds 10, look like percent.

    Returns
    -------
    list of str
        The warning messages that were issued (also emitted as :class:`SynergyWarning`).
    """
    vals = np.abs(np.asarray(response, dtype=float))
    vals = vals[np.isfinite(vals)]
    msgs: list[str] = []
    if vals.size == 0:
        return msgs
    prefix = f"{source}: " if source else ""
    if scale == "percent" and vals.max() <= 1.5 and vals.size >= 3:
        msgs.append(
            f"{prefix}responses were declared in percent but all lie within [-1.5, 1.5]; they "
            "look like fractions (use scale='fraction' / --scale fraction if so)"
        )
    elif scale == "fraction" and (np.mean(vals > 2.0) > 0.1 or vals.max() > 10.0):
        msgs.append(
            f"{prefix}responses were declared as fractions but many exceed 2 (max "
            f"{vals.max():.4g}); they look like percent (use scale='percent' / --scale percent "
            "if so)"
        )
    for m in msgs:
        warnings.warn(m, SynergyWarning, stacklevel=3)
    return msgs


def to_inhibition(response: np.ndarray, data_type: str, scale: str) -> np.ndarray:
    """Convert responses to fractional inhibition.

    Parameters
    ----------
    response
        Responses as declared.
    data_type
        ``"viability"`` (fraction/percent of untreated control; inhibition = 1 - viability) or
        ``"inhibition"``.
    scale
        ``"percent"`` (divide by 100) or ``"fraction"``.

    Returns
    -------
    numpy.ndarray
        Fractional inhibition (0 = control, 1 = complete inhibition; values outside [0, 1] are
        kept as they are).
    """
    if data_type not in DATA_TYPES:
        raise ValueError(f"data_type must be one of {DATA_TYPES}, got {data_type!r}")
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}, got {scale!r}")
    y = np.asarray(response, dtype=float)
    if scale == "percent":
        y = y / 100.0
    if data_type == "viability":
        y = 1.0 - y
    return y


def baseline_correct(y: np.ndarray, baseline: float, *, part: bool = False) -> np.ndarray:
    """SynergyFinder-style baseline correction of fractional inhibition.

    ``y' = y - (1 - y) * baseline``: maps complete inhibition (1) to itself and moves the
    baseline (the average of the minima of the two fitted monotherapy curves) close to 0.  With
    ``part=True`` only negative inhibition values are corrected (SynergyFinder's ``"part"``).
    """
    y = np.asarray(y, dtype=float)
    corrected = y - (1.0 - y) * baseline
    if part:
        return np.where(y < 0, corrected, y)
    return corrected


# --------------------------------------------------------------------------------------------
# Dose matrix
# --------------------------------------------------------------------------------------------


@dataclass
class DoseMatrix:
    """Responses of one drug pair on a (possibly incomplete) dose grid.

    Attributes
    ----------
    d1, d2, y
        Long arrays over all wells and replicates: doses (conc unit) and fractional inhibition.
    dose1, dose2
        Sorted unique doses of drug 1 and drug 2 (include 0 when present).
    mean, sd, count
        ``(len(dose1), len(dose2))`` arrays: replicate mean and standard deviation of the
        inhibition and replicate count; ``mean`` is NaN where no well was measured.  Index
        ``[i, j]`` is the well ``(dose1[i], dose2[j])``.
    """

    d1: np.ndarray
    d2: np.ndarray
    y: np.ndarray
    dose1: np.ndarray = field(init=False)
    dose2: np.ndarray = field(init=False)
    mean: np.ndarray = field(init=False)
    sd: np.ndarray = field(init=False)
    count: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.d1 = np.asarray(self.d1, dtype=float).ravel()
        self.d2 = np.asarray(self.d2, dtype=float).ravel()
        self.y = np.asarray(self.y, dtype=float).ravel()
        if not (self.d1.shape == self.d2.shape == self.y.shape):
            raise ValueError("d1, d2 and y must have the same length")
        if self.d1.size == 0:
            raise ValueError("no wells")
        if np.any(~np.isfinite(self.d1) | (self.d1 < 0) | ~np.isfinite(self.d2) | (self.d2 < 0)):
            raise ValueError("doses must be finite and non-negative")
        self.dose1, i1 = np.unique(self.d1, return_inverse=True)
        self.dose2, i2 = np.unique(self.d2, return_inverse=True)
        shape = (self.dose1.size, self.dose2.size)
        count = np.zeros(shape, dtype=int)
        total = np.zeros(shape)
        np.add.at(count, (i1, i2), 1)
        np.add.at(total, (i1, i2), self.y)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = total / count
            sq = np.zeros(shape)
            np.add.at(sq, (i1, i2), (self.y - mean[i1, i2]) ** 2)
            sd = np.sqrt(sq / (count - 1))
        mean[count == 0] = np.nan
        sd[count < 2] = np.nan
        self.mean, self.sd, self.count = mean, sd, count
        self._idx = (i1, i2)

    @classmethod
    def from_arrays(
        cls, d1: Sequence[float], d2: Sequence[float], y: Sequence[float]
    ) -> DoseMatrix:
        """Build from long arrays of doses and fractional inhibition (replicates allowed)."""
        return cls(np.asarray(d1, float), np.asarray(d2, float), np.asarray(y, float))

    @property
    def measured(self) -> np.ndarray:
        """Boolean ``(n1, n2)`` mask of wells with at least one measurement."""
        return self.count > 0

    @property
    def combination(self) -> np.ndarray:
        """Boolean ``(n1, n2)`` mask of measured combination wells (both doses > 0)."""
        return self.measured & (self.dose1[:, None] > 0) & (self.dose2[None, :] > 0)

    def margin(self, drug: int) -> tuple[np.ndarray, np.ndarray]:
        """Measured monotherapy doses and mean inhibition of ``drug`` (1 or 2), other dose 0.

        Includes the zero-dose control when it was measured.
        """
        if drug == 1:
            if self.dose2[0] != 0:
                return np.empty(0), np.empty(0)
            ok = self.measured[:, 0]
            return self.dose1[ok], self.mean[ok, 0]
        if self.dose1[0] != 0:
            return np.empty(0), np.empty(0)
        ok = self.measured[0, :]
        return self.dose2[ok], self.mean[0, ok]

    def margin_points(self, drug: int) -> tuple[np.ndarray, np.ndarray]:
        """All replicate points ``(dose, inhibition)`` on the monotherapy margin of ``drug``."""
        sel = self.d2 == 0 if drug == 1 else self.d1 == 0
        return (self.d1 if drug == 1 else self.d2)[sel], self.y[sel]

    def n_nonzero_margin_doses(self, drug: int) -> int:
        """Number of distinct non-zero monotherapy doses of ``drug``."""
        doses, _ = self.margin(drug)
        return int(np.count_nonzero(doses > 0))

    def well_values(self, matrix: np.ndarray) -> np.ndarray:
        """Broadcast an ``(n1, n2)`` array back onto the long arrays (one value per replicate)."""
        return np.asarray(matrix)[self._idx]
