"""Write ``latency_tables/data/hls_engine_deviation.json``: the HLS engine's cycle count against its model.

For each checked case (an OFA sub-network on an accelerator) the engine's cycle count
(``hls.program.engine_cycles``: the count the C-simulation's counter makes, which
``tests/test_hls_export.py`` checks against a g++ C-simulation) is summed per layer type
(``accel_models.tiling.CLASSES``) and divided by the engine model's prediction
(``accel_models.hls_engine.engine_model``) for the same layers and accelerator.  The
``"hls-engine"`` latency predictor's interval is the range of these ratios per layer type
(:mod:`latency_tables.engine`).  Run from the repository root::

    python scripts/engine_deviation.py
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[1] / "latency_tables" / "data" / "hls_engine_deviation.json"
#: Stock sizes and custom arrays of the "dpu-like" grid (PP 2 / 4 / 8, ICP != OCP), at the clocks the search uses.
ACCELERATORS = (("B512", 300.0), ("B1600", 200.0), ("B2304", 300.0), ("B4096", 300.0),
                ((2, 16, 14), 300.0), ((4, 8, 16), 200.0), ((8, 16, 8), 300.0), ((2, 12, 10), 250.0))
NETWORKS = (("min", 128), ("min", 224), ("max", 160), ("sampled", 192))


def _accelerator(spec, clock_mhz: float):
    from accel_models import Accelerator

    if isinstance(spec, str):
        return Accelerator.from_dpu(spec, clock_mhz=clock_mhz)
    pp, icp, ocp = spec
    return Accelerator(pp, icp, ocp, clock_mhz=clock_mhz)


def _network(kind: str, r: int):
    from ofa_hw import SubnetConfig, sample_subnets

    if kind == "sampled":
        return sample_subnets(1, seed=0, resolutions=[r])[0]
    return SubnetConfig.smallest(r=r) if kind == "min" else SubnetConfig.largest(r=r)


def cases() -> list[dict]:
    """One record per (network, accelerator): engine cycles, model cycles and their ratio per layer type."""
    import hls
    from accel_models.hls_engine import EngineConfig, cycles_by_layer_type, engine_model_cycles
    from accel_models.layer import LayerArrays
    from hls.program import build_program, engine_cycles
    from ofa_hw import build_torch_model, subnet_layers

    rows = []
    for kind, r in NETWORKS:
        cfg = _network(kind, r)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # cycle counts depend on shapes only
            source = hls.TorchNetwork(build_torch_model(cfg, seed=0).eval(), subnet_layers(cfg), cfg.to_dict())
            qnet = hls.quantize(source, n_calibration=1)
        arrays = LayerArrays.from_layers([q.layer for q in qnet.layers])
        for spec, clock_mhz in ACCELERATORS:
            acc = _accelerator(spec, clock_mhz)
            program = build_program(qnet, EngineConfig.from_accelerator(acc))
            engine = np.array([c["cycles"] for c in engine_cycles(program)], dtype=float)
            predicted = engine_model_cycles(arrays, acc)
            by_type = {cls: v["ratio"] for cls, v in cycles_by_layer_type(arrays, engine, predicted).items()}
            rows.append({"network": f"{kind} r={r}", "subnet": cfg.to_dict(), "accelerator": acc.label,
                         "accelerator_config": acc.to_dict(), "clock_mhz": clock_mhz,
                         "engine_cycles": int(engine.sum()), "model_cycles": float(predicted.sum()),
                         "ratio": float(engine.sum() / predicted.sum()), "ratio_by_type": by_type})
    return rows


def main() -> None:
    """Compute the cases and write the file."""
    from ofa_hw import __version__

    rows = cases()
    classes = sorted({c for row in rows for c in row["ratio_by_type"]})
    ranges = {c: (min(r["ratio_by_type"][c] for r in rows if c in r["ratio_by_type"]),
                  max(r["ratio_by_type"][c] for r in rows if c in r["ratio_by_type"])) for c in classes}
    data = {
        "what": "HLS engine cycle count (hls.program.engine_cycles, equal to the C-simulation counter) / engine "
                "model prediction (accel_models.hls_engine.engine_model), summed per layer type per network",
        "generated_by": "scripts/engine_deviation.py", "ofa_hw_version": __version__,
        "not_checked": "synthesis (achieved II, timing closure) and a board: Vitis HLS may make the engine slower",
        "range_by_type": {c: list(v) for c, v in ranges.items()},
        "range_network": [min(r["ratio"] for r in rows), max(r["ratio"] for r in rows)],
        "cases": rows,
    }
    OUT.write_text(json.dumps(data, indent=1) + "\n")
    print(f"wrote {OUT}: {len(rows)} cases; engine / model per type: "
          + ", ".join(f"{c} {lo:.3f}-{hi:.3f}" for c, (lo, hi) in ranges.items()))


if __name__ == "__main__":
    main()
