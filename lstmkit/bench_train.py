"""Training speed and quality at equal wall time: the seed's loop against lstmkit's.

Each setting is a run of :func:`lstmkit.train.train` itself, on the same text, model,
seed and thread count, stopped by the same wall-time budget (``max_seconds``):

    seed's loop   one stream, consecutive chunks of 200 characters, Adam lr 0.001
    lstmkit       32 streams, chunks of 100 characters, Adam lr 0.006

The text's last tenth is held out of training. After each run the weights
``lstmkit train`` saved are scored on the same fixed slice of the held-out tail, in
one stream from a zero state, so the two losses are comparable.

Two speeds per run, in characters trained per second: over the training steps only
(forward, backward, clipping, Adam; what a hand-written loop would time) and over the
whole call of ``train`` (with its loading, the held-out scoring after each epoch and
the saves).

And what the machine allows at most, measured in the same run: the fewest
floating-point operations a trained character needs (:func:`training_flops`) against
the rate of a large float32 matrix product (:func:`matmul_rate`), the best case of
any training code. A speed target above that bound cannot be met on the machine by
any batch size.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from lstmkit import bench_bound, fileio
from lstmkit.bench import _load_average, _machine, _versions
from lstmkit.errors import LstmkitError
from lstmkit.train import TrainConfig, build_model, evaluate, load_text, train

log = logging.getLogger(__name__)

FORMAT = "lstmkit-train-bench 1"
SPEED_TARGET = 20.0  # issue 7: batch 32 at least 20 times the seed's loop


@dataclass(frozen=True)
class Setting:
    """One way of training: what differs between the runs compared."""

    name: str
    batch_size: int
    train_seq_size: int
    learning_rate: float


SEED_LOOP = Setting("seed's loop (batch 1)", 1, 200, 0.001)
BATCHED = Setting("lstmkit train --batch-size 32", 32, 100, 0.006)


@dataclass
class BenchConfig:
    """What every run shares."""

    data_set: str
    data_meta: str | None = None
    model_name: str = "TorchLSTM"
    model_args: tuple = (256, 2)
    seconds: float = 170.0  # wall-time budget of each run
    threads: int = 1
    seed: int = 0
    holdout: float = 0.1
    eval_chars: int = 20_000  # scored characters of the held-out tail
    settings: tuple[Setting, ...] = (SEED_LOOP, BATCHED)


def run(config: BenchConfig) -> dict:
    """Trains once per setting for ``config.seconds`` each and scores the results.

    Returns:
        Everything measured, ready for :func:`save`: the settings, per run the
        characters trained, the seconds, both speeds and the held-out loss, the
        ratios to the first setting, and the load average sampled during the runs.

    Raises:
        LstmkitError: a budget or slice that cannot be measured.
    """
    if config.seconds <= 0:
        raise LstmkitError(f"--seconds: must be positive, got {config.seconds}")
    if config.eval_chars < 1:
        raise LstmkitError(f"--eval-chars: must be positive, got {config.eval_chars}")
    torch.set_num_threads(config.threads)
    load_start = _load_average()
    loads = _LoadSampler()
    started = time.perf_counter()

    # The held-out slice every run is scored on: the first eval_chars + 1 characters
    # of the held-out tail (eval_chars predictions), one stream.
    base = _train_config(config, config.settings[0], None)
    metadata, train_ix, held_ix = load_text(base)
    if len(held_ix) < config.eval_chars + 1:
        raise LstmkitError(
            f"--eval-chars: the held-out tail has {len(held_ix)} characters, fewer "
            f"than {config.eval_chars} + 1; lower --eval-chars or raise --holdout"
        )
    eval_ix = held_ix[: config.eval_chars + 1]
    # A second slice, the next eval_chars predictions, when the tail is long enough:
    # nothing in this benchmark was chosen by its loss (the settings' learning rates
    # were tuned on the first), so it checks the first slice's verdict.
    check_ix = held_ix[config.eval_chars : 2 * config.eval_chars + 1]
    slices = {"eval": eval_ix}
    if len(check_ix) == config.eval_chars + 1:
        slices["check"] = check_ix

    # The loss of the untrained model (the seed fixes it): what training starts from.
    torch.manual_seed(config.seed)
    untrained = build_model(base, len(metadata.charset))
    initial_loss = evaluate(untrained, eval_ix, 1)

    K, H, L = len(metadata.charset), untrained.hidden_size, untrained.num_layers
    rate = bench_bound.matmul_rate(config.threads)
    flops = bench_bound.training_flops(K, H, L)
    runs = []
    with loads, tempfile.TemporaryDirectory() as folder:
        for index, setting in enumerate(config.settings):
            save = Path(folder) / f"run{index}.pth"
            run_config = _train_config(config, setting, save)
            runs.append(_measure(run_config, setting, slices, K))
            runs[-1]["epochs"] = runs[-1]["characters"] / len(train_ix)
            log.info("%s: %s", setting.name, _summary(runs[-1]))

    first = runs[0]
    for entry in runs:
        entry["vs_first_steps"] = (
            entry["chars_per_second_steps"] / first["chars_per_second_steps"]
        )
        entry["vs_first_wall"] = (
            entry["chars_per_second_wall"] / first["chars_per_second_wall"]
        )
        entry["vs_first_cpu"] = (
            entry["chars_per_cpu_second"] / first["chars_per_cpu_second"]
        )
    return {
        "format": FORMAT,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "elapsed_seconds": round(time.perf_counter() - started, 1),
        "machine": {**_machine(load_start), "load_average_samples": loads.samples},
        "versions": _versions(),
        "config": {
            **asdict(config),
            "settings": [asdict(s) for s in config.settings],
            "char_size": len(metadata.charset),
            "train_characters": len(train_ix),
            "held_out_characters": len(held_ix),
            "threads_set_by": "torch.set_num_threads (TrainConfig.threads)",
        },
        "initial_loss": initial_loss,
        "runs": runs,
        "bound": {
            "matmul_flops_per_second": rate["flops_per_second"],
            "matmul_by": rate["by"],
            "matmul_rates": rate["rates"],
            "training_flops_per_char": flops,
            "chars_per_second": rate["flops_per_second"] / flops,
        },
        "targets": _targets(runs, rate["flops_per_second"] / flops),
    }


def save(result: dict, folder: str | os.PathLike, stem: str = "train") -> list[Path]:
    """Writes ``<stem>.md`` and ``<stem>.json`` into ``folder``, atomically."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return [
        fileio.write_text_atomic(folder / f"{stem}.md", to_markdown(result)),
        fileio.write_text_atomic(
            folder / f"{stem}.json", json.dumps(result, indent=1) + "\n"
        ),
    ]


def to_markdown(result: dict) -> str:
    """The results as a Markdown page: settings, a table, the targets."""
    c, m, v = result["config"], result["machine"], result["versions"]
    b = result["bound"]
    samples = [s["load_1min"] for s in m["load_average_samples"]]
    load = (
        f"{min(samples):.2f} to {max(samples):.2f} (1-minute, sampled every "
        f"{_LoadSampler.INTERVAL:.0f} s)"
        if samples
        else "not sampled"
    )
    lines = [
        "# Training at equal wall time: the seed's loop and lstmkit's batches",
        "",
        f"{result['date']}, {m['cpu']}, {m['nproc']} cores, {m['platform']}; "
        f"Python {v['python']}, torch {v['torch']}, lstmkit {v['lstmkit']}. "
        f"The whole run took {result['elapsed_seconds']:.0f} s.",
        "",
        f"Model {c['model_name']}(K={c['char_size']}, "
        f"{', '.join(map(str, c['model_args']))}), seed {c['seed']}, "
        f"{c['threads']} torch thread(s), {c['seconds']:g} s of wall time per run. "
        f"Text `{c['data_set']}`: {c['train_characters']:,} characters trained on, "
        f"the last {c['held_out_characters']:,} ({c['holdout']:g}) held out. "
        f"Held-out loss: nats per character on the held-out tail's first "
        f"{c['eval_chars']:,} predictions, one stream from a zero state, for the "
        f"weights `lstmkit train` saved; untrained: {result['initial_loss']:.4f}. "
        "Second slice: the next "
        f"{c['eval_chars']:,} predictions of the tail, scored the same way; the "
        "settings' learning rates were chosen on the first slice's losses, not on "
        "this one, so it checks the first slice's verdict (the epoch `train` saves is "
        "chosen on the whole tail, as in any run with --holdout).",
        "",
        f"Load average during the run: {load}; at the start "
        f"{m['load_average_start']}, at the end {m['load_average_end']}.",
        "",
        "| setting | B | chunk | lr | characters | epochs | chars/s steps "
        "| x seed | chars/s wall | x seed | chars/CPU s | x seed | held-out loss "
        "| second slice |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
        "| ---: | ---: | ---: | ---: |",
    ]
    for r in result["runs"]:
        lines.append(
            f"| {r['setting']['name']} | {r['setting']['batch_size']} "
            f"| {r['setting']['train_seq_size']} | {r['setting']['learning_rate']:g} "
            f"| {r['characters']:,} | {r['epochs']:.2f} "
            f"| {r['chars_per_second_steps']:,.0f} | {r['vs_first_steps']:.1f} "
            f"| {r['chars_per_second_wall']:,.0f} | {r['vs_first_wall']:.1f} "
            f"| {r['chars_per_cpu_second']:,.0f} | {r['vs_first_cpu']:.1f} "
            f"| {r['held_out_loss']:.4f} "
            f"| {_loss(r['check_loss'])} |"
        )
    lines += [
        "",
        "chars/s steps: characters trained per second of training steps (forward, "
        "backward, gradient clipping, Adam). chars/s wall: per second of the whole "
        "`train` call, with the held-out scoring after each epoch. chars/CPU s: per "
        "second of this process's CPU time over that call, which a busy machine "
        "changes less than the wall time. x seed: the ratio to the first row.",
        "",
        "## What the machine allows",
        "",
        "One trained character needs at least "
        f"{b['training_flops_per_char'] / 1e6:,.2f} MFLOP in matrix products "
        "(forward: each layer's recurrent product and, above the first, its input "
        "product, and the decoder; backward: each of them twice; the gates, loss and "
        "optimiser not counted). The fastest large float32 matrix product measured "
        f"in this run, on {c['threads']} thread(s), ran at "
        f"{b['matmul_flops_per_second'] / 1e9:,.1f} GFLOP/s ({b['matmul_by']}; "
        + ", ".join(f"{k} {v / 1e9:,.1f}" for k, v in b["matmul_rates"].items())
        + "). At that rate a trained character takes at least "
        f"1 / {b['chars_per_second']:,.0f} s: "
        f"{b['chars_per_second']:,.0f} characters per second is what training "
        "code can reach here at any batch size, unless its products run faster "
        "than the best large matrix product. The runs' products ran at: "
        + "; ".join(
            f"{r['setting']['name']} "
            f"{r['chars_per_second_steps'] * b['training_flops_per_char'] / 1e9:,.1f}"
            f" GFLOP/s ({r['chars_per_second_steps'] / b['chars_per_second']:.0%})"
            for r in result["runs"]
        )
        + ".",
        "",
        "## Targets (issue 7)",
        "",
    ]
    for target in result["targets"]:
        mark = "met" if target["met"] else "NOT met"
        lines.append(f"- {target['target']}: {target['value']} ({mark})")
    return "\n".join(lines) + "\n"


def _train_config(config: BenchConfig, setting: Setting, save: Path | None):
    return TrainConfig(
        data_set=config.data_set,
        data_meta=config.data_meta,
        model_name=config.model_name,
        model_args=tuple(config.model_args),
        num_epoch=1_000_000,  # the wall-time budget ends the run
        train_seq_size=setting.train_seq_size,
        learning_rate=setting.learning_rate,
        model_save=str(save) if save else None,
        batch_size=setting.batch_size,
        seed=config.seed,
        holdout=config.holdout,
        sample_length=0,  # a sample per epoch is for people watching, not training
        threads=config.threads,
        progress=False,
        max_seconds=config.seconds,
    )


def _measure(
    config: TrainConfig, setting: Setting, slices: dict[str, np.ndarray], char_size: int
) -> dict:
    """One run of ``train`` within its budget, then the saved weights scored."""
    log.info("%s: training for %g s", setting.name, config.max_seconds)
    start, cpu_start = time.perf_counter(), time.process_time()
    reports = train(config)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start

    # What the user gets: the weights train saved (the best epoch on the held-out
    # tail, which is the last one when the loss still falls).
    trained = build_model(replace(config, model_load=config.model_save), char_size)
    losses = {name: evaluate(trained, ix, 1) for name, ix in slices.items()}

    characters = sum(r.characters for r in reports)
    steps = sum(r.train_seconds for r in reports)
    saved = [r.epoch for r in reports if r.saved]
    return {
        "setting": asdict(setting),
        "characters": characters,
        "seconds_steps": steps,
        "seconds_wall": wall,
        "seconds_cpu": cpu,
        "chars_per_second_steps": characters / steps,
        "chars_per_second_wall": characters / wall,
        "chars_per_cpu_second": characters / cpu,
        "held_out_loss": losses["eval"],
        "check_loss": losses.get("check"),
        "saved_epoch": saved[-1],
        "last_epoch_saved": saved[-1] == reports[-1].epoch,
        "epoch_reports": [asdict(r) for r in reports],
    }


def _loss(value: float | None) -> str:
    return "tail too short" if value is None else f"{value:.4f}"


def _summary(entry: dict) -> str:
    return (
        f"{entry['characters']:,} characters, "
        f"{entry['chars_per_second_steps']:,.0f} chars/s in steps, "
        f"{entry['chars_per_second_wall']:,.0f} overall, "
        f"held-out loss {entry['held_out_loss']:.4f}"
    )


def _targets(runs: list[dict], bound: float) -> list[dict]:
    """Issue 7's training target, each later run against the first; ``bound`` is
    the machine's most characters per second (see :func:`training_flops`)."""
    targets = []
    first = runs[0]
    needed = SPEED_TARGET * first["chars_per_second_steps"]
    for entry in runs[1:]:
        name = entry["setting"]["name"]
        targets += [
            {
                "target": f"{name}: at least {SPEED_TARGET:g} times the characters "
                "per second of the first row (training steps)",
                "value": f"{entry['vs_first_steps']:.1f} times "
                f"({entry['vs_first_wall']:.1f} over the whole call); "
                f"{SPEED_TARGET:g} times is {needed:,.0f} chars/s, "
                f"{needed / bound:.1f} times the {bound:,.0f} that the fastest "
                "matrix product measured allows",
                "met": entry["vs_first_steps"] >= SPEED_TARGET,
            },
            {
                "target": f"{name}: held-out loss no worse than the first row's "
                "after the same wall time",
                "value": f"{entry['held_out_loss']:.4f} against "
                f"{first['held_out_loss']:.4f} nats/char",
                "met": entry["held_out_loss"] <= first["held_out_loss"],
            },
            *(
                [
                    {
                        "target": f"{name}: the same on the second slice (not used "
                        "to choose any setting)",
                        "value": f"{entry['check_loss']:.4f} against "
                        f"{first['check_loss']:.4f} nats/char",
                        "met": entry["check_loss"] <= first["check_loss"],
                    }
                ]
                if entry["check_loss"] is not None
                else []
            ),
        ]
    return targets


class _LoadSampler:
    """Samples the 1-minute load average every INTERVAL seconds while in use."""

    INTERVAL = 10.0

    def __init__(self) -> None:
        self.samples: list[dict] = []
        self._stop = threading.Event()
        self._start = time.perf_counter()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> _LoadSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while True:
            load = _load_average()
            if load is not None:
                seconds = round(time.perf_counter() - self._start, 1)
                self.samples.append({"seconds": seconds, "load_1min": load})
            if self._stop.wait(self.INTERVAL):
                return
