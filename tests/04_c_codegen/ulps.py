"""Distance between float32 results in units in the last place: the measure the vector-math tests state bounds in."""

import numpy as np


def ulps(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    """Distance in float32 units in the last place (0 where both are the same value, NaN included)."""
    def ordered(v):
        i = v.astype(np.float32).view(np.int32).astype(np.int64)
        return np.where(i < 0, -(i & 0x7FFFFFFF), i)
    same = (got == want) | (np.isnan(got) & np.isnan(want))
    return np.where(same, 0, np.abs(ordered(got) - ordered(want)))
