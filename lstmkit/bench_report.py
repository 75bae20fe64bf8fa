"""The benchmark's results (:func:`lstmkit.bench.run`) as a Markdown page."""

from __future__ import annotations

from lstmkit.backends import REFERENCE
from lstmkit.bench_timing import EAGER

TITLES = {
    "score": "score: one call on {steps:,} characters",
    "generate": "generate: {steps:,} characters, one per call, state carried",
    "batch": "batched score: {streams} streams x {steps:,} characters in one call",
}


def to_markdown(result: dict) -> str:
    """The page: how and where it was measured, one table per workload, and the
    issue's targets checked against the figures."""
    settings = result["settings"]
    threads = settings["threads"]
    lines = _header(result)
    for workload in ("score", "generate", "batch"):
        rows = [r for r in result["results"] if r["workload"] == workload]
        if rows:
            lines += ["", *_table(rows, threads, result["settings"]["backends"])]
    lines += ["", *_targets(result)]
    return "\n".join(lines) + "\n"


def _header(result: dict) -> list[str]:
    machine, versions, settings = (
        result["machine"],
        result["versions"],
        result["settings"],
    )
    minutes, seconds = divmod(round(result["elapsed_seconds"]), 60)
    quick = " (--quick: tiny sizes, a smoke test; not a measurement)"
    lines = [
        f"# lstmkit benchmark{quick if settings['quick'] else ''}",
        "",
        f"Measured {result['date']} on {machine['cpu']}, nproc {machine['nproc']} "
        f"({machine['platform']}); load average {machine['load_average_start']} at "
        f"the start, {machine['load_average_end']} at the end. The run took "
        f"{minutes} min {seconds} s.",
        "",
        "Python {python}, numpy {numpy} ({numpy_blas}), torch {torch}, onnxruntime "
        "{onnxruntime}, onnx {onnx}, lstmkit {lstmkit}.".format(**versions),
        "",
        f"Models: TorchLSTM(K, H, L) with K = {settings['char_size']}, the charset of "
        f"{settings['text']}; weights {settings['weights']}; inputs: the text's "
        f"first characters. Each figure is the median of {settings['repeat']} timed "
        "calls after a warm-up. Every ratio divides figures measured in the same run, "
        "in the same process, in interleaved rounds. Threads: "
        f"{settings['thread_control']}.",
        "",
        "Columns: characters per second; x eager = divided by plain nn.LSTM + "
        "nn.Linear in eager PyTorch on the same workload; x limit = divided by the "
        "machine's limit (the workload's matrix products alone, the fastest of NumPy "
        "and torch in either layout, W x or x W^T, named in its row); max abs diff = "
        "the largest |score - numpy64| on the same input.",
    ]
    busiest = max(
        filter(None, [machine["load_average_start"], machine["load_average_end"]]),
        default=0,
    )
    if busiest > machine["nproc"] - min(settings["threads"]):
        lines += [
            "",
            f"The machine was busy with other work (load average up to {busiest} on "
            f"{machine['nproc']} cores): a run with more threads than the idle cores "
            "measures waiting for the cores as much as the code.",
        ]
    for name, why in result["skipped"].items():
        lines += ["", f"Not timed: {name}, which {why}."]
    return lines


def _table(rows: list[dict], threads: list[int], names: list[str]) -> list[str]:
    first = rows[0]
    lines = [f"## {TITLES[first['workload']].format(**first)}", ""]
    head = ["model", "backend"]
    for count in threads:
        head += [_threads(count), "x eager", "x limit"]
    head.append("max abs diff")
    lines += [_cells(head), _cells(["---", "---"] + ["---:"] * (len(head) - 2))]

    cut = []  # runners timed on a prefix, for the footnote
    models = list(dict.fromkeys((r["hidden_size"], r["num_layers"]) for r in rows))
    for H, L in models:
        by_threads = {
            r["threads"]: r
            for r in rows
            if (r["hidden_size"], r["num_layers"]) == (H, L)
        }
        label = f"{H}x{L}"
        for name in [*names, EAGER, "limit"]:
            cells = [label, name]
            label = ""
            diffs = []
            for count in threads:
                row = by_threads.get(count)
                figure = _figure(row, name) if row else None
                if figure is None or "note" in figure:
                    cells += [figure["note"] if figure else "-", "", ""]
                    continue
                mark = ""
                if figure["timed_steps"] < row["steps"]:
                    mark = " †"
                    cut.append(
                        f"{name} {H}x{L}, {_threads(count)}: {figure['timed_steps']:,}"
                    )
                by = f" ({figure['note_by']})" if "note_by" in figure else ""
                cells += [
                    f"{figure['chars_per_second']:,.0f}{mark}{by}",
                    f"{figure['vs_eager']:.2f}" if "vs_eager" in figure else "",
                    f"{figure['vs_limit']:.2f}",
                ]
                if "max_abs_diff" in figure:
                    diffs.append(figure["max_abs_diff"])
            cells.append(_diff_cell(name, diffs))
            lines.append(_cells(cells))
    largest = max(r["reference_max_abs"] for r in rows)
    lines += ["", f"The largest |score| of numpy64 in this table: {largest:.2g}."]
    if cut:
        lines += [
            "",
            f"† timed on a prefix to keep the run short (steps of {first['steps']:,}); "
            f"characters per second scaled from it: {'; '.join(cut)}.",
        ]
    return lines


def _figure(row: dict, name: str) -> dict | None:
    """The figures of one runner in one row, the limit and eager shaped alike."""
    if name == EAGER:
        return row["eager"]
    if name == "limit":
        limit = row["limit"]
        by = limit[limit["by"]]
        return {
            "chars_per_second": limit["chars_per_second"],
            "vs_eager": limit["chars_per_second"] / row["eager"]["chars_per_second"],
            "vs_limit": 1.0,
            "timed_steps": by["steps"],
            "note_by": limit["by"],
        }
    return row["backends"].get(name)


def _diff_cell(name: str, diffs: list[float]) -> str:
    if name == REFERENCE:
        return "reference"
    if not diffs:
        return ""
    return f"{max(diffs):.1e}"


def _threads(count: int) -> str:
    return f"{count} thread{'s' if count > 1 else ''}"


def _cells(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _targets(result: dict) -> list[str]:
    """The issue's speed targets, checked against this run's figures."""
    lines = ["## Against the targets", ""]
    rows = result["results"]
    for row in rows:
        if row["workload"] == "generate" and row["threads"] == 1:
            name, figure = _fastest(row)
            met = figure["vs_limit"] >= 0.8 and figure["vs_eager"] >= 4
            lines.append(
                f"- generate, {row['hidden_size']}x{row['num_layers']}, 1 thread: "
                f"fastest {name}, {figure['vs_limit']:.2f} x limit (target 0.8), "
                f"{figure['vs_eager']:.1f} x eager (target 4): "
                f"{'met' if met else 'not met'}."
            )
    for row in rows:
        if row["workload"] == "score":
            name, figure = _fastest(row)
            met = figure["vs_eager"] >= 1
            lines.append(
                f"- score, {row['hidden_size']}x{row['num_layers']}, "
                f"{_threads(row['threads'])}: fastest {name}, "
                f"{figure['vs_eager']:.2f} x eager (target 1): "
                f"{'met' if met else 'not met'}."
            )
    if len(lines) == 2:
        lines.append("- no generate or score figures in this run.")
    return lines


def _fastest(row: dict) -> tuple[str, dict]:
    timed = {
        name: figure
        for name, figure in row["backends"].items()
        if "chars_per_second" in figure
    }
    name = max(timed, key=lambda n: timed[n]["chars_per_second"])
    return name, timed[name]
