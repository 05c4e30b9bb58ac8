"""Two small classic data sets for Bayesian inference (public domain), bundled as constants.

- `EIGHT_SCHOOLS`: the effects of coaching programs on SAT-V scores in eight schools, as published
  estimates `y` and their standard errors `sigma` (Rubin, "Estimation in parallel randomized
  experiments", Journal of Educational Statistics 6, 1981; Gelman et al., Bayesian Data Analysis,
  section 5.5).
- `CHALLENGER`: launch temperature (degrees F) and whether any field-joint O-ring showed thermal
  distress, for the 23 space-shuttle flights before the Challenger accident (Report of the
  Presidential Commission, 1986; Dalal, Fowlkes and Hoadley, JASA 84, 1989).
"""

from __future__ import annotations

import numpy as np

__all__ = ["CHALLENGER", "EIGHT_SCHOOLS"]

EIGHT_SCHOOLS = {
    "y": np.array([28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0]),
    "sigma": np.array([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0]),
}

CHALLENGER = {
    "temperature": np.array(
        [66, 70, 69, 68, 67, 72, 73, 70, 57, 63, 70, 78, 67, 53, 67, 75, 70, 81, 76, 79, 75, 76, 58],
        dtype=np.float64,
    ),
    "distress": np.array(
        [0, 1, 0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 1], dtype=np.float64
    ),
}
