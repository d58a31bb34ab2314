"""The fast paths that reproduce NumPy bit for bit (the streamed similarity statistics: ``np.sum``'s pairwise order;
the dense fused GW: ``-log N`` as torch computes it) were written against NumPy 2.3 and later; older NumPy rounds
some of those sums and logs differently in the last bit (1e-17), so there such tests are skipped."""

from __future__ import annotations

import numpy as np
import pytest

bit_for_bit_with_numpy = pytest.mark.skipif(
    np.lib.NumpyVersion(np.__version__) < "2.3.0",
    reason="bit for bit with NumPy >= 2.3 (older NumPy rounds some sums and logs otherwise in the last bit)",
)
