"""``search_codesign``: the joint sub-network x accelerator search hardware engineers call."""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from accel_models import Accelerator, Board, get_board
from accel_models.atomic import atomic_write_bytes
from accel_models.cpu_fallback import fallback_layers
from accel_models.validation import is_real_number, python_number
from accel_models.wording import COMMAND_LINE, PYTHON, WordedError

from .._version import __version__
from ..layers import subnet_layers
from ..space import OFASpace, SubnetBatch, SubnetConfig, get_space
from .accelerators import AcceleratorGrid, AcceleratorSpace, DpuGrid, InfeasibleConstraintError
from .evaluate import CandidateParts, Candidates, Evaluator, Scores
from .evolution import Constraint, EvolutionSettings, first_ranked, run_evolution
from .genome import Genome
from .intervals import LatencyBounds
from .pareto import pareto_mask
from .result import CodesignResult, Design, GenerationStats

__all__ = ["DEFAULT_BUDGETS", "DEFAULT_LATENCY_PREDICTOR", "SearchSettings", "search_codesign"]

ALGORITHMS = ("auto", "evolution", "nsga2")
#: Evaluations a search spends unless told (per algorithm).  The constrained search's local optima lie
#: 0.1-0.5 pp apart, and which one a seed ends in is chance until the budget lets its climbers visit most
#: of them: at 300,000 evaluations (about 3.5 s) the seeds end on the design of a 500,000-evaluation run in
#: nearly every board x latency case, at 100,000 in about half of them (``python -m benchmarks search``).
#: NSGA-II's front keeps 20,000.
DEFAULT_BUDGETS = {"evolution": 300_000, "nsga2": 20_000}
#: Population unless told: NSGA-II's; the evolution's is its evaluations per restart over
#: ``EVOLUTION_EVALUATIONS_PER_MEMBER``, clipped to ``EVOLUTION_POPULATION_RANGE`` (400 at the default budget:
#: four islands of OFA's 100, :mod:`ofa_hw.search.evolution`).
NSGA2_POPULATION = 100
EVOLUTION_EVALUATIONS_PER_MEMBER = 50
EVOLUTION_POPULATION_RANGE = (100, 400)
#: Version of the checkpoint file layout (part of the checkpoint hash: older files are not reused).
CHECKPOINT_FORMAT = 3  # 3: the evolution ends with a local search (a restart's candidates differ from format 2)
#: Latency predictor used when none is given: the measured Ultra96-V2 table of
#: OFA-MobileNetV3 w1.2 blocks (the only one that measured this search space's
#: units, SE and h-swish, on a DPU) wherever it applies, and for every other
#: accelerator the model calibrated jointly on that table and the ZCU102 B4096
#: per-layer profiles, which transfers across devices far better than the
#: Ultra96-only calibration (benchmarks/bench_transfer.py: 13-17 % instead of
#: 55 % MAPE on a device left out of the fit; Vitis AI model-zoo networks on
#: ZCU102 / ZCU104 / KV260 / Ultra96 at a median 1.12x instead of 1.6x their
#: published end-to-end latency).
#: On every board: a search explores hundreds of accelerators, and the joint model is the
#: one validated on accelerators nobody measured.  For the one accelerator the Ultra96-V2
#: table was measured on (B2304 @ 200 MHz), ``predictor="ultra96v2-b2304"`` predicts the
#: blocks the table lacks more closely (7 % against 14 % MAPE on the table).
#: A custom accelerator (not a DPUCZDX8G configuration) is priced by the HLS engine that builds
#: it instead ("by-build" dispatches per accelerator: latency_tables.by_build).
DEFAULT_LATENCY_PREDICTOR = "by-build"


def search_codesign(
    board: str | Board | None = "ultra96v2",
    latency_ms: float | None = None,
    fps: float | None = None,
    *,
    min_accuracy: float | None = None,
    confidence: float | None = None,
    space: str | OFASpace = "ofa-mbv3-w1.2",
    accelerators: str | Accelerator | Sequence[Accelerator] | AcceleratorGrid | DpuGrid = "dpu",
    predictor=None,
    accuracy: str | None = None,
    quantization: str | None = "int8-pow2",
    accuracy_scale: str = "imagenet-val",
    algorithm: str = "auto",
    budget: int | None = None,
    population: int | None = None,
    resolutions: Sequence[int] | None = None,
    dsp_objective: bool = False,
    max_utilization: float = 1.0,
    restarts: int = 1,
    seed: int = 0,
    progress: bool = True,
    executor: Executor | None = None,
    checkpoint: str | os.PathLike | None = None,
    threads: int | None = None,
    latency_mode: str = "dpu",
) -> CodesignResult:
    """Search OFA sub-networks and DPU-like accelerators jointly for a board.

    Parameters
    ----------
    board : str, Board or None
        Resource and bandwidth budget (``"ultra96v2"``, ``"zcu102"``, ``"zcu104"``, ``"kv260"``).
        ``None``: no FPGA to fit; the search runs on the latency predictor's
        own device (e.g. ``predictor="note10"``, a phone CPU) and
        ``accelerators=`` must stay at its default.
    latency_ms, fps : float, optional
        Constraint: single-image latency ceiling (what ``latency_mode`` says) and/or
        deployed-throughput floor (images/s with ``threads`` threads, ARM pre/post-processing
        and DDR contention: :mod:`accel_models.deployed`).  Neither: the full
        accuracy-latency Pareto front.
    min_accuracy : float, optional
        Accuracy floor (top-1 %, on the accuracy predictor's scale, ImageNet-val
        by default): ``best`` is then the *fastest* design at or above it
        (within ``latency_ms`` / ``fps`` if given too).  Alone it searches the
        front (NSGA-II), on which the fastest design above any accuracy lies.
    confidence : float, optional
        Meet ``latency_ms`` / ``fps`` at this confidence: the search sums the
        upper end of every unit's latency interval at ``confidence``
        (:mod:`latency_tables.uncertainty`), so ``latency_high_ms`` of every
        design it keeps is within the budget (``fps`` is then the throughput at
        that bound too).  Every design carries its point latency and interval
        either way (at 90 % by default).
    space : str
        Sub-network space, ``"ofa-mbv3-w1.2"`` or ``"ofa-mbv3-w1.0"``.
    accelerators : "dpu", "dpu-like", DpuGrid, AcceleratorGrid, Accelerator or list of Accelerator
        ``"dpu"`` (default): every stock DPUCZDX8G configuration (PG338 size x
        clock x cores x RAM / DSP usage, :class:`DpuGrid`) that fits the
        board, each buildable with the vendor IP; ``"dpu-like"``: every
        PP/ICP/OCP/clock/cores combination of the default
        :class:`AcceleratorGrid` that fits, most of them *custom
        accelerators, not DPUCZDX8G configurations*; a grid; a fixed
        accelerator; or a list to choose from.  Candidates that do not fit are
        dropped (an error if none fits), never clamped.
    predictor : str or predictor, optional
        Latency: a device name of :func:`latency_tables.get_predictor`, a
        ``HybridPredictor``, ``CalibratedModel`` or ``RooflineModel``.
        Default: :data:`DEFAULT_LATENCY_PREDICTOR` (``"by-build"``: a stock
        DPUCZDX8G configuration by ``"dpuczdx8g-joint"``, the Ultra96-V2's
        measured entries on the accelerator they were measured on, the jointly
        calibrated model elsewhere; a custom accelerator by ``"hls-engine"``,
        the model of the HLS engine that builds it).
    accuracy : str, optional
        Accuracy predictor name (default: the one of ``space``).
    quantization : str or None
        Deployment scheme whose accuracy is optimised (``"int8-pow2"``: the
        DPU's per-tensor power-of-two int8); ``None`` optimises float accuracy.
    accuracy_scale : {"imagenet-val", "raw"}
        Scale of every accuracy in the result: ImageNet-val top-1 calibrated
        on OFA's specialized nets (default), or the predictor's own
        (:mod:`ofa_hw.accuracy.scale`); ``settings["accuracy_scale"]`` names it.
    algorithm : {"auto", "evolution", "nsga2"}
        ``"auto"``: evolution under a constraint, NSGA-II without one.
    budget : int, optional
        Candidate evaluations in total (over all restarts): the candidates
        the search asks to be scored, repeats included (the evolution
        predicts a repeated genome once, :mod:`ofa_hw.search.evolution`;
        the local search asks for none twice).  Default
        (:data:`DEFAULT_BUDGETS`): 300,000 for the evolution under a
        constraint (about 3.5 s), 20,000 for NSGA-II's front.  At 100,000 the
        constrained search's seeds end in distinct local optima 0.1 pp
        apart far more often (``benchmarks/bench_search.py``).
    population : int, optional
        Population size.  Default: NSGA-II 100; evolution one fiftieth of the
        evaluations per restart, at least 100 and at most 400 (400 at the
        default budget: four islands of OFA's 100 that never mix, whose
        best designs start the local search in up to four basins, see
        :mod:`ofa_hw.search.evolution` and ``benchmarks/bench_search.py``).
    resolutions : sequence of int, optional
        Resolutions to consider (default: those of the space the accuracy
        predictor can encode).
    dsp_objective : bool
        NSGA-II: add DSP use as a third objective.
    max_utilization : float
        Largest fraction of any board resource an accelerator may use.
    restarts : int
        Independent runs with seeds spawned from ``seed``, merged; they run on
        ``executor`` when one is given.
    seed : int
        Same seed, same settings -> identical result.
    progress : bool
        Show a tqdm progress bar.
    executor : concurrent.futures.Executor, optional
        Runs the restarts (a process pool, or a ``dask.distributed`` client's
        ``get_executor()`` for a cluster).
    checkpoint : path, optional
        Folder where each finished restart is saved atomically; a rerun with
        the same settings reuses finished restarts instead of recomputing them.
    threads : int, optional
        Application threads feeding the DPU cores for ``fps`` (default: as many as saturate them).
    latency_mode : {"dpu", "e2e"}
        ``"dpu"`` (default): ``latency_ms`` is DPU time per image; ``"e2e"``: plus the modelled ARM
        pre/post-processing (single thread). DPU-only is the default because, on the model zoo's
        networks we build as layers, the predicted DPU time alone lands closer to the published
        end-to-end latency than the predicted end-to-end time does (``python -m benchmarks
        deployed_fps``).

    Returns
    -------
    CodesignResult

    Raises
    ------
    InfeasibleConstraintError
        Nothing fits the board, or the constraint is beyond the fastest (or
        highest-throughput) design reachable; the message gives that value.
    """
    if board is None and predictor is None:
        raise ValueError("board must be a board name (e.g. 'ultra96v2') or an accel_models.Board; board=None "
                         "searches a latency predictor's own device and needs predictor= (e.g. 'note10')")
    board = _board(board)
    # numpy scalars (np.arange(5, 15)[i]) are numbers: as Python ones, the checks below and the settings take them
    latency_ms, fps, min_accuracy = (python_number(v) for v in (latency_ms, fps, min_accuracy))
    threads = int(threads) if isinstance(threads, np.integer) else threads
    if algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm must be one of {ALGORITHMS}, got {algorithm!r}")
    constraint = Constraint(latency_ms, fps)
    if min_accuracy is not None and not (isinstance(min_accuracy, (int, float)) and 0 < min_accuracy < 100):
        raise ValueError(f"min_accuracy must be a top-1 percentage between 0 and 100, got {min_accuracy!r}")
    if min_accuracy is not None and min_accuracy <= 1:  # no ImageNet network is this bad: a fraction was meant
        raise ValueError(f"min_accuracy is a top-1 percentage (75 for 75 %), got {min_accuracy!r}; "
                         f"for {min_accuracy * 100:g} % pass {min_accuracy * 100:g}")
    _check_arguments(confidence=confidence, max_utilization=max_utilization, checkpoint=checkpoint,
                     progress=progress, dsp_objective=dsp_objective)
    if algorithm == "auto":
        algorithm = "evolution" if constraint.active and min_accuracy is None else "nsga2"
    if algorithm == "evolution" and not constraint.active:
        raise ValueError("the evolutionary search needs a constraint (latency_ms= or fps=); use algorithm='nsga2' "
                         "for an unconstrained Pareto front")
    if budget is None:
        budget = DEFAULT_BUDGETS[algorithm]
    _check_scalars(budget=budget, restarts=restarts, seed=seed,
                   **({} if population is None else {"population": population}))
    space = get_space(space)
    if population is None:
        per_restart = int(budget) // max(1, int(restarts))
        population = NSGA2_POPULATION if algorithm == "nsga2" else int(
            np.clip(per_restart // EVOLUTION_EVALUATIONS_PER_MEMBER, *EVOLUTION_POPULATION_RANGE))
    for name, value, low in (("restarts", restarts, 1), ("population", population, 8)):  # integers: checked above
        if value < low:
            raise WordedError(f"{{{name}}} is below the minimum {low}", arguments={name: value})
    if budget // restarts < population:
        split = "" if restarts == 1 else " split over {restarts}"
        raise WordedError("{budget}" + split + " is fewer evaluations per restart than {population}: each "
                          "generation evaluates the whole population; raise the budget or lower the population",
                          arguments={"budget": budget, "restarts": restarts, "population": population})
    settings = EvolutionSettings(population=population)

    from latency_tables import as_predictor, predictor_record

    from ..accuracy import get_predictor as get_accuracy_predictor

    if predictor is None:
        predictor = DEFAULT_LATENCY_PREDICTOR
    latency_name = str(predictor) if isinstance(predictor, (str, os.PathLike)) else None
    latency_predictor = as_predictor(predictor)
    if board is not None:
        _check_times_a_dpu(latency_predictor, latency_name)
    accuracy_name = space.name if accuracy is None else accuracy
    deployed = get_accuracy_predictor(accuracy_name, quantization=quantization, scale=accuracy_scale)
    resolutions = _resolutions(space, deployed, resolutions)
    evaluator = _evaluator(board, accelerators, max_utilization, latency_name, latency_predictor, confidence,
                           latency_mode, threads, space, resolutions, deployed)
    accel_space = evaluator.accelerators
    from .intervals import interval_settings, latency_bounds, warn_outside_validity

    outside = warn_outside_validity(latency_name, evaluator.keys, accel_space.accelerators)
    _check_reachable(evaluator, constraint)
    deployment = evaluator.deployment
    no_arm = ("no board" if board is None else f"no ARM data for board {board.name!r}")
    on = f"({deployed.scale.label}; {deployed.derivation})"
    objective = (f"minimise latency at predicted {deployed.kind} >= {min_accuracy:g}% {on}"
                 if min_accuracy is not None else f"maximise predicted {deployed.kind} {on}")
    search = SearchSettings(
        board=board.name if board is not None else None, latency_ms=latency_ms, fps=fps,
        deployment={"threads": threads, "latency_mode": latency_mode,
                    "text": (deployment.describe() if deployment
                             else f"fps: all cores busy on DPU time alone ({no_arm})")},
        space=space.name, resolutions=tuple(resolutions), accelerators=accel_space.describe(),
        latency_predictor=latency_name or type(latency_predictor).__name__,
        latency_predictor_record=predictor_record(latency_predictor), accuracy_predictor=accuracy_name,
        quantization=quantization, accuracy_scale=deployed.scale.name, accuracy_scale_label=deployed.scale.label,
        min_accuracy=min_accuracy, confidence=confidence, latency_validity_warnings=outside, objective=objective,
        algorithm=algorithm, budget=budget, population=population, restarts=restarts, dsp_objective=dsp_objective,
        max_utilization=max_utilization, seed=seed)
    seeds = np.random.SeedSequence(seed).spawn(restarts)
    run = _Restart(evaluator, algorithm, constraint, budget // restarts, settings, dsp_objective)
    store = _CheckpointStore(checkpoint, search, evaluator.genome) if checkpoint is not None else None
    runs = _run_restarts(run, seeds, store, executor, progress)
    candidates = CandidateParts(tuple(part for c, _, _ in runs for part in c.parts))
    scores = Scores.concat([s for _, s, _ in runs])
    history = [h for _, _, hist in runs for h in hist]
    description = {**search.to_dict(), "ofa_hw_version": __version__}
    description["latency_interval"] = interval_settings(latency_name, confidence, latency_predictor)
    return _result(evaluator, constraint, candidates, scores, history, description, dsp_objective, min_accuracy,
                   lambda chosen, latency: latency_bounds(evaluator, latency_name, confidence, chosen, latency,
                                                          latency_predictor))


@dataclass(frozen=True)
class SearchSettings:
    """Everything that determines a search's result: the identity checkpoints are hashed from.

    :meth:`to_dict` is the JSON form stored in ``CodesignResult.settings``
    (with the package version added) and hashed by :meth:`checkpoint_tag`.
    A new search parameter is one more field here (with a default, so old
    results still describe themselves).
    """

    board: str | None
    latency_ms: float | None
    fps: float | None
    space: str
    resolutions: tuple[int, ...]
    accelerators: dict
    latency_predictor: str
    accuracy_predictor: str
    quantization: str | None
    accuracy_scale: str
    accuracy_scale_label: str
    min_accuracy: float | None
    confidence: float | None
    deployment: dict
    latency_predictor_record: dict | None
    latency_validity_warnings: list
    objective: str
    algorithm: str
    budget: int
    population: int
    restarts: int
    dsp_objective: bool
    max_utilization: float
    seed: int

    def to_dict(self) -> dict:
        """JSON-able form; ``constraint`` carries the limits and their text."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        constraint = Constraint(self.latency_ms, self.fps)
        out["constraint"] = {"latency_ms": out.pop("latency_ms"), "fps": out.pop("fps"),
                             "text": constraint.describe()}
        out["resolutions"] = list(self.resolutions)
        return out

    def checkpoint_tag(self) -> str:
        """16 hex digits of the SHA-256 of :meth:`to_dict` (the checkpoint file format included)."""
        text = json.dumps({**self.to_dict(), "checkpoint_format": CHECKPOINT_FORMAT}, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


# ---------------------------------------------------------------- set-up
def _resolutions(space: OFASpace, predictor, requested: Sequence[int] | None) -> tuple[int, ...]:
    usable = set(getattr(predictor, "valid_resolutions", space.resolutions))
    if requested is None:
        chosen = sorted(set(space.resolutions) & usable)
        if not chosen:
            raise ValueError(f"the accuracy predictor encodes none of the space's resolutions "
                             f"{list(space.resolutions)}")
        return tuple(chosen)
    if isinstance(requested, str | bytes) or not isinstance(requested, Sequence | np.ndarray) or len(requested) == 0 \
            or any(isinstance(r, bool) or not isinstance(r, int | np.integer) for r in requested):
        raise ValueError(f"resolutions must be a non-empty list of integers from {sorted(usable)}, got {requested!r}")
    chosen = sorted({int(r) for r in requested})
    bad = [r for r in chosen if r not in usable]
    if bad:
        raise ValueError(f"resolution(s) {bad} cannot be scored by accuracy predictor {predictor.name!r}; "
                         f"it encodes {sorted(usable)}")
    SubnetBatch.from_configs([SubnetConfig.smallest(r=r, width_mult=space.width_mult) for r in chosen])  # validates
    return tuple(chosen)


_EVALUATORS: OrderedDict[tuple, Evaluator] = OrderedDict()
_EVALUATORS_KEPT = 4


def _evaluator(board: Board | None, accelerators, max_utilization: float, latency_name: str | None, predictor,
               confidence: float | None, latency_mode: str, threads: int | None, space: OFASpace,
               resolutions: tuple[int, ...], deployed) -> Evaluator:
    """The search's evaluator, one of the last few built when the set-up is the same.

    Repeated searches (seeds, budgets, studies) then skip the resource checks
    and the (accelerators x units) latency matrix, the set-up cost of a joint search.
    """
    choice = tuple(accelerators) if isinstance(accelerators, (list, tuple)) else accelerators
    key = (repr(board), choice, max_utilization, latency_name, id(predictor), confidence, latency_mode, threads,
           space.name, tuple(resolutions), id(deployed))
    if key in _EVALUATORS:
        _EVALUATORS.move_to_end(key)
        return _EVALUATORS[key]
    from .intervals import search_predictor

    accel_space = _accelerator_space(board, accelerators, max_utilization, predictor)
    evaluator = Evaluator(space, resolutions, accel_space,
                          search_predictor(latency_name, predictor, confidence, latency_mode), deployed,
                          _deployment(board, threads, latency_mode))
    _EVALUATORS[key] = evaluator
    while len(_EVALUATORS) > _EVALUATORS_KEPT:
        _EVALUATORS.popitem(last=False)
    return evaluator


#: Largest ``budget`` accepted: about 2 minutes at the search's ~90,000 evaluations/s on one core (300,000 in
#: 3.1-3.3 s of CPU time, ``python -m benchmarks search``).
MAX_BUDGET = 10_000_000
_EVALUATIONS_PER_S = 90_000


def _board(board) -> Board | None:
    if board is None:  # the latency predictor's own device (a phone / CPU table)
        return None
    if isinstance(board, str):
        return get_board(board)
    if not isinstance(board, Board):
        raise ValueError(f"board must be a board name (e.g. 'ultra96v2') or an accel_models.Board, got {board!r}")
    return board


def _check_times_a_dpu(predictor, name: str | None) -> None:
    """A board search prices DPU designs: a predictor of another device (a phone CPU) would pass its times as DPU's."""
    own = getattr(predictor, "accelerator", None)  # the device it was measured / calibrated on; None: it prices any
    if not isinstance(own, Accelerator) or own.is_dpuczdx8g:
        return
    from latency_tables.predictor import DEVICES

    device = DEVICES[name].description if name in DEVICES else own.name or own.label
    given = "{predictor}" if name else f"the latency predictor {type(predictor).__name__}"
    raise WordedError(f"{given} times {device}, not a DPU: a board search prices DPU designs; "
                      "{fix}", arguments={"predictor": name}, hints={"fix": {
                          PYTHON: "search its own device with board=None (no FPGA to fit), or leave predictor= at "
                                  "its default (by-build: each DPU by dpuczdx8g-joint)",
                          COMMAND_LINE: "the command line searches boards only: drop --predictor (the default, "
                                        "by-build, times each DPU by dpuczdx8g-joint), or search its own device from "
                                        f"Python, search_codesign(board=None, predictor={name or '...'!r})"}})


def _check_arguments(*, confidence, max_utilization, checkpoint, progress, dsp_objective) -> None:
    """Types of the arguments whose range the later stages check (a string there would fail on ``<``)."""
    for name, value, allowed in (("confidence", confidence, "strictly between 0 and 1 (e.g. 0.9) or None"),
                                 ("max_utilization", max_utilization, "in (0, 1]")):
        if (value is not None or name == "max_utilization") and not is_real_number(value):
            raise ValueError(f"{name} must be a number {allowed}, got {type(value).__name__} {value!r}")
    if checkpoint is not None and not isinstance(checkpoint, str | os.PathLike):
        raise TypeError(f"checkpoint must be a folder path or None, got {type(checkpoint).__name__} {checkpoint!r}")
    for name, value in (("progress", progress), ("dsp_objective", dsp_objective)):
        if not isinstance(value, bool | np.bool_):
            raise TypeError(f"{name} must be True or False, got {type(value).__name__} {value!r}")


def _check_scalars(**values) -> None:
    """Integers are integers (not bools, floats or text) and the budget is bounded, before any allocation."""
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise ValueError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    if values["seed"] < 0:  # numpy's SeedSequence would say "expected non-negative integer", naming nothing
        raise ValueError(f"seed must be a non-negative integer, got {values['seed']}")
    budget = values["budget"]
    if budget > MAX_BUDGET:
        seconds = budget / _EVALUATIONS_PER_S
        duration = f"{seconds / 3600:,.1f} hours" if seconds >= 3600 else f"{seconds / 60:,.0f} minutes"
        raise ValueError(f"budget {budget:,} is above the maximum {MAX_BUDGET:,}: it would run for about {duration} "
                         f"at ~{_EVALUATIONS_PER_S:,} evaluations/s; use restarts= with an executor to spread a "
                         "larger search")


def _deployment(board: Board | None, threads: int | None, latency_mode: str):
    from accel_models.deployed import BOARD_CPUS, Deployment

    if board is None or board.name not in BOARD_CPUS:
        if threads is not None or latency_mode != "dpu":
            raise ValueError(f"threads= and latency_mode='e2e' need the ARM cores of a known board, "
                             f"got {board.name if board else None!r}; "
                             f"known: {', '.join(sorted(BOARD_CPUS))}")
        return None
    return Deployment(board.name, threads, latency_mode)


def _accelerator_space(board: Board | None, accelerators, max_utilization: float, predictor) -> AcceleratorSpace:
    if board is None:
        own = getattr(predictor, "accelerator", None)
        if not (isinstance(accelerators, str) and accelerators == "dpu") or not isinstance(own, Accelerator):
            raise ValueError("board=None searches the latency predictor's own device: pass a device predictor "
                             "(e.g. predictor='note10') and leave accelerators= at its default, or name a board")
        return AcceleratorSpace.device(own)
    if isinstance(accelerators, str):
        return AcceleratorSpace.named(board, accelerators, max_utilization)
    if isinstance(accelerators, DpuGrid):
        return AcceleratorSpace.stock(board, accelerators, max_utilization)
    if isinstance(accelerators, AcceleratorGrid):
        return AcceleratorSpace.from_grid(board, accelerators, max_utilization)
    if isinstance(accelerators, Accelerator):
        return AcceleratorSpace.fixed(board, accelerators, max_utilization)
    if not isinstance(accelerators, Iterable):
        raise TypeError("accelerators must be 'dpu', 'dpu-like', a DpuGrid, an AcceleratorGrid, an Accelerator or "
                        f"a list of them, got {type(accelerators).__name__} {accelerators!r}")
    return AcceleratorSpace.from_list(board, list(accelerators), max_utilization)


def _check_reachable(evaluator: Evaluator, constraint: Constraint) -> None:
    """Fail fast when even the smallest network on the best accelerator misses the constraint."""
    if not constraint.active:
        return
    n = len(evaluator.accelerators)
    smallest = SubnetConfig.smallest(r=evaluator.resolutions[0], width_mult=evaluator.space.width_mult)
    probe = Candidates(SubnetBatch.from_configs([smallest] * n), np.arange(n))
    scores = evaluator.evaluate(probe)
    board = evaluator.accelerators.board
    device = board.name if board is not None else "the predictor's device"
    where = f"on {device} (smallest sub-network, k3 e3 d2 at r={evaluator.resolutions[0]})"
    if constraint.latency_ms is not None and scores.latency_ms.min() > constraint.latency_ms:
        best = int(np.argmin(scores.latency_ms))
        raise InfeasibleConstraintError(
            f"{{latency_ms:g}} is below the fastest design reachable {where}: "
            f"{scores.latency_ms[best]:.3f} ms on {evaluator.accelerators.accelerators[best].label}",
            arguments={"latency_ms": constraint.latency_ms})
    if constraint.fps is not None and scores.fps.max() < constraint.fps:
        best = int(np.argmax(scores.fps))
        raise InfeasibleConstraintError(
            f"{{fps:g}} is above the highest throughput reachable {where}: "
            f"{scores.fps[best]:.1f} fps on {evaluator.accelerators.accelerators[best].label}",
            arguments={"fps": constraint.fps})


# -------------------------------------------------------------- restarts
def _median(values: np.ndarray) -> float:
    """The median of a few hundred values: one sort (``np.median`` costs 10x that in overhead)."""
    ordered = np.sort(values)
    middle = len(ordered) // 2
    return float(ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2)


class _Restart:
    """One independent search run (picklable, so executors can run it elsewhere)."""

    def __init__(self, evaluator, algorithm, constraint, budget, settings, dsp_objective):
        self.evaluator, self.algorithm, self.constraint = evaluator, algorithm, constraint
        self.budget, self.settings, self.dsp_objective = budget, settings, dsp_objective

    def __call__(self, seed: np.random.SeedSequence, on_progress=None):
        history: list[GenerationStats] = []

        def on_generation(generation: int, candidates: Candidates, scores: Scores) -> None:
            feasible = self.constraint.violation(scores) == 0
            history.append(GenerationStats(
                generation=generation,
                evaluated=len(candidates),
                feasible=int(feasible.sum()),
                best_accuracy_top1=float(scores.accuracy_top1[feasible].max()) if feasible.any() else None,
                best_latency_ms=float(scores.latency_ms[feasible].min()) if feasible.any() else None,
                median_latency_ms=_median(scores.latency_ms),
            ))
            if on_progress:
                on_progress(len(candidates))

        from threadpoolctl import threadpool_limits

        # Populations are ~100 rows: multi-threaded BLAS only adds synchronisation there, and on a
        # busy 2-core machine it made one 100x400x400 product 60x slower than a single thread.
        # Set here, in whichever process (or cluster worker) runs the restart.
        with threadpool_limits(limits=1, user_api="blas"):
            if self.algorithm == "evolution":
                candidates, scores = run_evolution(self.evaluator, self.constraint, self.budget,
                                                   np.random.default_rng(seed), self.settings, on_generation)
            else:
                from .nsga2 import run_nsga2  # imports pymoo (0.3 s): only when NSGA-II runs

                candidates, scores = run_nsga2(self.evaluator, self.constraint, self.budget,
                                               seed=int(seed.generate_state(1)[0]),
                                               population=self.settings.population,
                                               mutation_prob=self.settings.mutation_prob,
                                               dsp_objective=self.dsp_objective, on_generation=on_generation)
        return candidates, scores, history


def _run_restarts(run: _Restart, seeds, store, executor: Executor | None, progress: bool):
    from tqdm.auto import tqdm

    results: list = [None] * len(seeds)
    todo = []
    for i in range(len(seeds)):
        loaded = store.load(i, run.evaluator) if store else None
        if loaded is not None:
            results[i] = loaded
        else:
            todo.append(i)
    total = run.budget * len(todo)
    with tqdm(total=total, disable=not progress or not todo, desc="co-design search", unit="design") as bar:
        if executor is None:
            for i in todo:
                results[i] = run(seeds[i], bar.update)
                if store:
                    store.save(i, *results[i])
        else:
            futures = {i: executor.submit(run, seeds[i]) for i in todo}
            for i in todo:
                results[i] = futures[i].result()
                bar.update(run.budget)
                if store:
                    store.save(i, *results[i])
    return results


class _CheckpointStore:
    """Finished restarts as ``restart-<i>-<settings hash>.npz`` files (genes, scores, history), written atomically."""

    def __init__(self, folder, settings: SearchSettings, genome: Genome):
        self.genome = genome
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.tag = settings.checkpoint_tag()

    def _path(self, i: int) -> Path:
        return self.folder / f"restart-{i}-{self.tag}.npz"

    def save(self, i: int, candidates: CandidateParts, scores: Scores, history: list[GenerationStats]) -> None:
        buffer = io.BytesIO()
        np.savez(buffer, genes=self.genome.encode(candidates.joined()),
                 history=np.array(json.dumps([asdict(h) for h in history])),
                 **{f"score_{f}": getattr(scores, f) for f in Scores.__dataclass_fields__})
        atomic_write_bytes(self._path(i), buffer.getvalue())

    def load(self, i: int, evaluator: Evaluator):
        path = self._path(i)
        if not path.exists():
            return None
        try:  # an npz is read lazily: a flipped bit shows as a bad CRC only when a member is read
            with np.load(path, allow_pickle=False) as data:
                candidates = CandidateParts((self.genome.decode(data["genes"]),))
                scores = Scores(*(data[f"score_{f}"] for f in Scores.__dataclass_fields__))
                history = [GenerationStats(**h) for h in json.loads(str(data["history"]))]
        except (OSError, ValueError, EOFError, KeyError, TypeError, zipfile.BadZipFile) as exc:
            raise ValueError(f"checkpoint file {path} is corrupt or truncated ({exc}); delete it to recompute "
                             "that restart") from None
        return candidates, scores, history


# ---------------------------------------------------------------- result
def _result(evaluator: Evaluator, constraint: Constraint, candidates: CandidateParts, scores: Scores,
            history: list[GenerationStats], description: dict, dsp_objective: bool,
            min_accuracy: float | None = None,
            bounds_of: Callable[[Candidates, np.ndarray], LatencyBounds | None] = lambda chosen, latency: None
            ) -> CodesignResult:
    """The result: distinct candidates, the front of those meeting the constraint, the best.

    ``bounds_of(candidates, latency_ms)`` gives the latency interval of the
    designs returned (only those: one gather).
    """
    # No de-duplication pass: a candidate evaluated twice has the same scores twice, and the front
    # (pareto_mask), the best (rank) and the fastest above a floor each keep the first of equal rows.
    feasible = constraint.violation(scores) == 0
    if constraint.active and not feasible.any():
        closest = int(np.argmin(constraint.violation(scores)))
        distinct = len(evaluator.genome.first_of_each(candidates.joined()))
        raise InfeasibleConstraintError(
            f"no design met {constraint.describe()} after {distinct} distinct candidates; the closest reached "
            f"{scores.latency_ms[closest]:.3f} ms / {scores.fps[closest]:.1f} fps "
            f"({evaluator.accelerators.accelerators[candidates.accelerator[closest]].label})")
    objectives = [-scores.accuracy_top1, scores.latency_ms]
    if dsp_objective:
        objectives.append(evaluator.accelerators.dsp[candidates.accelerator])
    # The front of a constrained search holds only designs meeting every constraint (it is what the user may build).
    pool = np.flatnonzero(feasible) if constraint.active else np.arange(len(candidates))
    front = pool[pareto_mask(np.column_stack([objective[pool] for objective in objectives]))]
    front = front[np.argsort(scores.latency_ms[front], kind="stable")]
    best = None
    if min_accuracy is not None:
        best = _fastest_above(scores, feasible, min_accuracy, constraint)
    elif constraint.active:
        best = first_ranked(scores, constraint)
    chosen = np.array([*front.tolist(), *([] if best is None else [best])], dtype=np.int64)
    picked = candidates.take(chosen)
    bounds = bounds_of(picked, scores.latency_ms[chosen])
    designs = [_design(evaluator, picked, scores.take(chosen), bounds, j) for j in range(len(chosen))]
    return CodesignResult(best=None if best is None else designs[-1], pareto=designs[:len(front)],
                          history=history, settings=description)


def _fastest_above(scores: Scores, feasible: np.ndarray, min_accuracy: float, constraint: Constraint) -> int:
    """Index of the fastest candidate meeting the constraint with top-1 >= ``min_accuracy``."""
    ok = feasible & (scores.accuracy_top1 >= min_accuracy)
    if not ok.any():
        reached = float(scores.accuracy_top1[feasible].max())
        raise InfeasibleConstraintError(
            "no design reached {min_accuracy:g}% top-1"
            + (f" within {constraint.describe()}" if constraint.active else "")
            + f"; the most accurate design found reaches {reached:.2f}%", arguments={"min_accuracy": min_accuracy})
    rows = np.flatnonzero(ok)
    return int(rows[np.argmin(scores.latency_ms[rows])])


def _design(evaluator: Evaluator, candidates: Candidates, scores: Scores, bounds: LatencyBounds | None,
            i: int) -> Design:
    """Design of candidate ``i``; its latency interval is row ``i`` of ``bounds``."""
    fraction = float(scores.measured_fraction[i])
    source = "measured" if fraction >= 1 - 1e-9 else "model" if fraction <= 1e-9 else "mixed"
    acc_index = int(candidates.accelerator[i])
    accelerator = evaluator.accelerators.accelerators[acc_index]
    subnet = candidates.subnets[i]
    deployed = None
    if evaluator.deployment is not None:
        dpu_ms = float(evaluator.dpu_ms(candidates.take([i]))[0])
        deployed = evaluator.deployment.estimate(dpu_ms, accelerator.cores, int(candidates.subnets.r[i])).to_dict()
    # no unit of the search falls back on this accelerator: no layer of any sub-network does (no layers to build)
    fallback = fallback_layers(subnet_layers(subnet), accelerator) if evaluator.falls_back[acc_index] else ()
    latency = {"latency_ms": float(scores.latency_ms[i])}
    if bounds is not None:
        latency = {"latency_ms": float(bounds.latency_ms[i]), "latency_low_ms": float(bounds.low_ms[i]),
                   "latency_high_ms": float(bounds.high_ms[i]), "latency_confidence": bounds.confidence}
    return Design(
        subnet=subnet,
        accelerator=accelerator,
        fps=float(scores.fps[i]),
        accuracy_top1=float(scores.accuracy_top1[i]),
        accuracy_float_top1=float(scores.accuracy_float_top1[i]),
        resources=evaluator.accelerators.fit[acc_index],
        latency_source=source,
        measured_fraction=fraction,
        cpu_fallback=fallback,
        deployed=deployed,
        **latency,
    )
