"""Deployed throughput on the Vitis AI model zoo: is the model's multi-thread fps what the boards deliver?

The zoo (``benchmarks/data/vitis_ai_model_zoo_e2e.csv``, a copy of
``shared/data/dpu/vitis_ai_model_zoo_e2e.csv``) publishes, per network, board
and Vitis AI release, the single-thread end-to-end latency and the multi-thread
throughput (the zoo's thread count, which saturates the board).

* **Multi-thread fps from the published single-thread latency** (most zoo
  networks cannot be built as layers here): the DPU-time input of each row is its
  published single-thread latency minus the modelled ARM time;
  :class:`accel_models.deployed.DeployedModel` predicts the saturated fps.
  Leave-one-network-out (every row of a network held out, parameters refitted on
  the rest) and leave-one-board-out; MAPE, worst and Spearman per board and per
  (board, Vitis AI release).  Baseline: the search's old ``fps`` ("all cores
  busy": ``cores * 1000 / latency``).
* **The chain from our own predicted DPU time**, on the 13 networks
  ``benchmarks/networks.py`` builds as layers: DPU time from the joint latency
  model (``dpuczdx8g-joint``), plus the modelled ARM time, against the published
  single-thread latency; and the multi-thread fps from that predicted DPU time.
  The deployed parameters are refitted without the network (leave-one-network-out).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from accel_models.deployed import (
    DeployedModel,
    ZooThroughputRow,
    fit_deployed,
    predict_multi_thread_fps,
    read_zoo,
)
from benchmarks.networks import predicted_dpu_ms, zoo_rows
from latency_tables.metrics import error_report
from latency_tables.predictor import calibrated_device

ZOO_E2E_CSV = Path(__file__).with_name("data") / "vitis_ai_model_zoo_e2e.csv"
TARGET_MAPE_PCT = 15.0
MIN_NETWORKS = 20
SOURCE = "Vitis AI model zoo v1.0-v3.0 (benchmarks/data/vitis_ai_model_zoo_e2e.csv), all paired rows"


def _report(predicted, published) -> dict:
    report = error_report(np.asarray(predicted), np.asarray(published))
    return {"mape_pct": report.mape_pct, "worst_pct": report.max_abs_pct_error, "spearman": report.spearman,
            "n": report.n}


def _leave_one_out(rows: tuple[ZooThroughputRow, ...], group, quick: bool, fit_on=lambda held, other: True
                   ) -> np.ndarray:
    """Predicted fps of every row from parameters fitted without its group (network or board).

    ``fit_on(held_row, other_row)`` restricts the fit further (e.g. to the held row's board).
    """
    predicted = np.full(len(rows), np.nan)
    groups = defaultdict(list)
    for i, row in enumerate(rows):
        groups[group(row)].append(i)
    for _, held in sorted(groups.items())[:: 4 if quick else 1]:
        held_set = set(held)
        by_fit = defaultdict(list)
        for i in held:
            by_fit[rows[i].board].append(i)
        for board_rows in by_fit.values():
            first = rows[board_rows[0]]
            params = fit_deployed([r for i, r in enumerate(rows) if i not in held_set and fit_on(first, r)],
                                  source=SOURCE)
            predicted[board_rows] = predict_multi_thread_fps(params, [rows[i] for i in board_rows])
    return predicted


def _per_board(rows, predicted, published, key=lambda row: row.board) -> dict:
    groups = defaultdict(list)
    for i, row in enumerate(rows):
        if np.isfinite(predicted[i]):
            groups[key(row)].append(i)
    return {name: _report(predicted[idx], published[idx]) | {"networks": len({rows[i].model for i in idx})}
            for name, idx in sorted(groups.items())}


def _chain(rows: tuple[ZooThroughputRow, ...], figures: dict) -> dict:
    """Our predicted DPU time -> single-thread latency and multi-thread fps, networks we build as layers."""
    joint = calibrated_device("dpuczdx8g-joint")
    by_key = {(r.model, r.board, r.clock_mhz, r.vitis_ai): r for r in rows}
    pairs = [(built, by_key[key]) for built in zoo_rows()
             if (key := (built.model, built.board, built.clock_mhz, built.vitis_ai)) in by_key]
    models_of = defaultdict(set)
    for built, _ in pairs:
        models_of[built.network].add(built.model)
    held_out = {network: DeployedModel(fit_deployed([r for r in rows if r.model not in models], source=SOURCE))
                for network, models in models_of.items()}
    latency_pred, fps_pred = [], []
    for built, row in pairs:
        model = held_out[built.network]
        dpu_ms = predicted_dpu_ms(joint.model, joint.invocation_ms, built)
        estimate = model.estimate(dpu_ms, board=row.board, design_cores=row.cores, input_hw=row.input_hw,
                                  head=row.head)
        latency_pred.append(estimate.single_thread_latency_ms)
        fps_pred.append(estimate.fps)
    published_latency = np.array([row.latency_ms for _, row in pairs])
    published_fps = np.array([row.fps for _, row in pairs])
    chain_rows = [row for _, row in pairs]
    out = {
        "rows": len(pairs), "networks": len({b.network for b, _ in pairs}),
        "single_thread_latency": _per_board(chain_rows, np.array(latency_pred), published_latency),
        "multi_thread_fps": _per_board(chain_rows, np.array(fps_pred), published_fps),
        "dpu_only_as_latency": _per_board(chain_rows, np.array([predicted_dpu_ms(joint.model, joint.invocation_ms, b)
                                                                for b, _ in pairs]), published_latency),
    }
    figures["chain"] = out
    return out


def _print_table(title: str, table: dict, baseline: dict | None = None, baseline_label: str = "all-cores-busy") -> None:
    print(f"\n{title}")
    extra = f" {baseline_label + ' MAPE':>20s}" if baseline else ""
    print(f"  {'group':24s} {'networks':>8s} {'rows':>5s} {'MAPE':>7s} {'worst':>7s} {'Spearman':>9s}{extra}")
    for name, r in table.items():
        tail = f" {baseline[name]['mape_pct']:19.1f}%" if baseline else ""
        print(f"  {str(name):24s} {r['networks']:8d} {r['n']:5d} {r['mape_pct']:6.1f}% {r['worst_pct']:6.1f}% "
              f"{r['spearman']:9.3f}{tail}")


def run(quick: bool = False) -> dict:
    rows = read_zoo(ZOO_E2E_CSV)
    published = np.array([row.fps for row in rows])
    params = fit_deployed(rows, source=SOURCE)
    print(f"{len(rows)} (network, board, release) pairs, {len({r.model for r in rows})} networks")
    print("parameters fitted on all of them (shipped as accel_models/data/deployed_params.json):")
    for name, value in params.to_dict().items():
        if name != "source":
            print(f"  {name:26s} {value}")
    figures: dict = {"rows": len(rows), "parameters": params.to_dict()}

    in_sample = predict_multi_thread_fps(params, rows)
    all_busy = np.array([row.cores * 1000.0 / row.latency_ms for row in rows])
    lono = _leave_one_out(rows, lambda row: row.model, quick)
    lobo = _leave_one_out(rows, lambda row: row.board, quick=False)
    per_board = _leave_one_out(rows, lambda row: row.model, quick, fit_on=lambda held, other: other.board == held.board)
    tables = {
        "in_sample": _per_board(rows, in_sample, published),
        "leave_one_network_out": _per_board(rows, lono, published),
        "leave_one_board_out": _per_board(rows, lobo, published),
        "all_cores_busy_baseline": _per_board(rows, all_busy, published),
        "per_board_fit_leave_one_network_out": _per_board(rows, per_board, published),
    }
    by_version = _per_board(rows, lono, published, key=lambda row: f"{row.board} VAI {row.vitis_ai}")
    by_head = _per_board(rows, lono, published, key=lambda row: f"{row.board} {row.head}")
    _print_table("multi-thread fps, leave-one-network-out (DPU-time input: published single-thread latency "
                 "minus modelled ARM time)", tables["leave_one_network_out"], tables["all_cores_busy_baseline"])
    _print_table("multi-thread fps, leave-one-board-out", tables["leave_one_board_out"])
    _print_table("multi-thread fps, in-sample", tables["in_sample"])
    _print_table("multi-thread fps, leave-one-network-out, parameters fitted per board (the board's own rows only)",
                 tables["per_board_fit_leave_one_network_out"])
    _print_table("multi-thread fps, leave-one-network-out, per board and Vitis AI release", by_version)
    _print_table("multi-thread fps, leave-one-network-out, per board and head", by_head)
    chain = _chain(rows, figures)
    _print_table(f"chain on {chain['networks']} networks built as layers: predicted DPU time (dpuczdx8g-joint) + "
                 "modelled ARM time vs published single-thread latency (LONO)", chain["single_thread_latency"],
                 chain["dpu_only_as_latency"], baseline_label="DPU-only")
    print("  (last column: the predicted DPU time alone taken as the end-to-end latency)")
    _print_table("chain: multi-thread fps from the predicted DPU time (LONO)", chain["multi_thread_fps"])

    boards = {}
    for board, lono_report in tables["leave_one_network_out"].items():
        boards[board] = {
            "networks": lono_report["networks"],
            "multi_thread_fps_mape": lono_report["mape_pct"],
            "single_thread_latency_mape": chain["single_thread_latency"].get(board, {}).get("mape_pct"),
            "leave_one_network_out": lono_report,
            "leave_one_board_out": tables["leave_one_board_out"][board],
            "in_sample": tables["in_sample"][board],
            "per_board_fit_leave_one_network_out": tables["per_board_fit_leave_one_network_out"][board],
            "all_cores_busy_baseline": tables["all_cores_busy_baseline"][board],
            "chain_multi_thread_fps": chain["multi_thread_fps"].get(board),
            "by_vitis_ai": {k: v for k, v in by_version.items() if k.startswith(board + " ")},
            "by_head": {k: v for k, v in by_head.items() if k.startswith(board + " ")},
            "meets_target": (lono_report["mape_pct"] <= TARGET_MAPE_PCT
                             or lono_report["networks"] < MIN_NETWORKS),
        }
    print(f"\ntarget: leave-one-network-out multi-thread fps MAPE <= {TARGET_MAPE_PCT:g} % on every board with "
          f">= {MIN_NETWORKS} networks: " + ", ".join(
              f"{b} {'met' if v['meets_target'] else 'NOT met'} ({v['multi_thread_fps_mape']:.1f} %)"
              for b, v in boards.items()))
    figures.update(boards=boards, tables=tables, by_vitis_ai=by_version, by_head=by_head)
    return figures
