"""How a model's codes are spread, against the prior N(0, I): numpy in, plain Python out."""

from __future__ import annotations

import numpy as np

# Eigenvalues of a covariance within this band are "like the prior's" (N(0, I) has both at 1):
# the rule that chose the WAE's MMD weight (scripts/choose_mmd_weight.py) and the report use it.
PRIOR_BAND = (0.5, 2.0)


def covariance_eigenvalues(codes: np.ndarray) -> tuple[float, float]:
    """The largest and smallest eigenvalue of the covariance of the N x d codes (d >= 2): the
    variances along the codes' principal axes, both 1 for codes distributed as N(0, I)."""
    codes = np.asarray(codes, dtype=np.float64)
    if codes.ndim != 2 or codes.shape[0] < 2 or codes.shape[1] < 2:
        raise ValueError(
            f"eigenvalues of a covariance need N >= 2 codes of d >= 2, not {codes.shape}"
        )
    eigenvalues = np.linalg.eigvalsh(np.cov(codes, rowvar=False))  # ascending
    return float(eigenvalues[-1]), float(eigenvalues[0])
