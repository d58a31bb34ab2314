"""Exact order statistics of values that arrive in pieces (``docs/methods.md``, Long recordings): the values
inside a bracket ``[low, high]`` are counted into equal bins, each bin keeping its smallest and largest value
(:func:`histogram`), until the bin holding the wanted rank is small enough to be kept whole (:func:`gather`).

The bin of ``v`` is ``floor((v/2 - low/2) * bins / (high/2 - low/2))`` (clipped to the last bin): halving keeps
the width finite for any finite bracket, and every step is monotone in ``v``, so a bin's values are exactly the
values between its smallest and its largest.
"""

from __future__ import annotations

from numba import njit


@njit(cache=True, nogil=True)
def histogram(values, low, high, counts, smallest, largest):
    """Count the ``values`` (1-d) inside ``[low, high]`` into ``len(counts)`` bins and widen each bin's
    ``smallest`` / ``largest`` (``inf`` / ``-inf`` at the start)."""
    bins = len(counts)
    half_low = low * 0.5
    scale = bins / (high * 0.5 - half_low)
    for value in values:
        if value < low or value > high:
            continue
        b = min(int((value * 0.5 - half_low) * scale), bins - 1)
        counts[b] += 1
        if value < smallest[b]:
            smallest[b] = value
        if value > largest[b]:
            largest[b] = value


@njit(cache=True, nogil=True)
def gather(values, low, high, out, count):
    """Append the ``values`` inside ``[low, high]`` to ``out`` from ``count[0]`` on."""
    k = count[0]
    for value in values:
        if low <= value <= high:
            out[k] = value
            k += 1
    count[0] = k
