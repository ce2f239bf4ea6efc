"""The result of simulating one cell: output times (h) and variables (nM)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd


@dataclass
class Trajectory:
    """Output of :func:`simulate`.

    Attributes
    ----------
    times_h
        Output times in hours after treatment start.
    names
        Names of the columns of ``values`` (state variables, then assignment-rule variables).
    values
        Array (n_times, n_names): species as concentrations in nM (amount / compartment size);
        rule variables in their own units.
    """

    times_h: np.ndarray
    names: tuple[str, ...]
    values: np.ndarray
    meta: dict = field(default_factory=dict)

    def __getitem__(self, name: str) -> np.ndarray:
        try:
            return self.values[:, self.names.index(name)]
        except ValueError:
            raise KeyError(f"no variable {name!r} in trajectory") from None

    def to_dataframe(self) -> pd.DataFrame:
        """Wide table: ``time_h`` then one column per variable."""
        df = pd.DataFrame(self.values, columns=list(self.names))
        df.insert(0, "time_h", self.times_h)
        return df

    def final(self) -> dict[str, float]:
        """Values at the last output time."""
        return dict(zip(self.names, self.values[-1].tolist()))
