"""Physics check of a table's units: every entry within 1000x of what the calibrated prior predicts.

A table in microseconds or seconds parses as well as one in milliseconds; only
the size of the numbers gives it away.  The prior (the shipped joint DPU
calibration, ``dpuczdx8g-joint``) predicts each unit on the table's own
accelerator; an entry more than :data:`MAX_RATIO` away from it is an error
naming the row, unless the file declares its unit (``# unit: us``).
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Sequence

import numpy as np

from .table import LatencyTable

__all__ = ["MAX_RATIO", "check_units"]

#: Largest factor an entry may lie from the prior's prediction (a unit mix-up is 1000x; model error is < 10x).
MAX_RATIO = 1000.0


def check_units(table: LatencyTable, source: str | os.PathLike, lines: Sequence[int]) -> None:
    """Raise :class:`~latency_tables.format.TableFormatError` for the first entry 1000x off the prior.

    ``lines`` are the file lines of the entries, in the table's order.  Tables
    of devices with no DPU prior (no ``B<number>`` in ``dpu_arch``, or no clock)
    are not checked.
    """
    from .format import TableFormatError

    if not table.entries or re.search(r"\bB\d+\b", table.meta.dpu_arch) is None or table.meta.clock_mhz is None:
        return
    predicted = _prior_ms(table)
    if predicted is None:
        return
    measured = np.array([entry.mean_ms for entry in table.entries.values()])
    ratio = measured / predicted
    off = np.flatnonzero((ratio > MAX_RATIO) | (ratio < 1 / MAX_RATIO))
    if off.size == 0:
        return
    i = int(off[0])
    key = list(table.entries)[i]
    median = float(np.median(ratio))
    guess = "microseconds" if median > 100 else "seconds" if median < 0.01 else "another unit"
    raise TableFormatError(
        source, lines[i],
        f"entry {key!r}: mean_ms {measured[i]:g} is {ratio[i]:.3g}x what the calibrated DPU prior predicts for "
        f"this unit on {table.meta.dpu_arch} @ {table.meta.clock_mhz:g} MHz ({predicted[i]:.3g} ms); "
        f"{off.size} of {len(measured)} entries are over {MAX_RATIO:g}x off (median ratio {median:.3g}: "
        f"{guess}?). Latencies are milliseconds; declare another unit with a header line '# unit: us' or '# unit: s'")


def _prior_ms(table: LatencyTable) -> np.ndarray | None:
    from accel_models.blocks import BlockSpec

    from .predictor import calibrated_device
    from .sources import BoardMismatchWarning, table_accelerator

    try:
        with warnings.catch_warnings():
            # a check of the units only: a DPU its board cannot hold is said where the DPU is built for use
            warnings.simplefilter("ignore", BoardMismatchWarning)
            accelerator = table_accelerator(table.meta)
    except (ValueError, KeyError):  # not a configuration the prior models
        return None
    prior = calibrated_device("dpuczdx8g-joint")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        per_unit = [float(np.sum(prior.layer_latency_ms(BlockSpec.from_key(key).layers(), accelerator)))
                    for key in table.entries]
    launch = float(prior.invocation_ms) if table.meta.per_entry_invocation else 0.0
    return np.maximum(np.array(per_unit) + launch, 1e-6)
