"""LiteRT (ai-edge-litert) CPU latency of exported `.tflite` models.

`benchmark(path)` times `Interpreter.invoke()` for one image over `threads x xnnpack`
settings and reports median and p90 latency, with the model size and the machine.
XNNPACK is LiteRT's default CPU delegate; `use_xnnpack=False` builds the interpreter with
`OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES` (builtin reference/optimized kernels
only). Timings are per image, model only (no face detection, no decoding, no resize).
"""

from __future__ import annotations

import json
import os
import platform
import time

import numpy as np

# The figures users compare against (per face, model only, a desktop-class CPU):
# the `fer` package's mini-Xception (about 0.5 ms) and facex's model (about 25 ms), as their users report them.
REFERENCE_LATENCY_MS = {"fer": 0.51, "facex": 25.0}


def machine_info() -> dict:
    """The CPU, core count, OS and library versions (recorded with every benchmark)."""
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        from importlib.metadata import version

        litert = version("ai-edge-litert")
    except Exception:  # pragma: no cover
        litert = None
    load = None
    if hasattr(os, "getloadavg"):
        load = [round(x, 2) for x in os.getloadavg()]
    return {
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "load_average": load,
        "system": f"{platform.system()} {platform.release()}",
        "machine": platform.machine(),
        "python": platform.python_version(),
        "ai_edge_litert": litert,
    }


def time_invoke(model, num_threads: int = 1, use_xnnpack: bool = True, runs: int = 100, warmup: int = 10,
                min_time_s: float = 0.0, seed: int = 0) -> dict:  # fmt: skip
    """Times `invoke()` of one `.tflite` (path or bytes) on a random raw-pixel image.

    Runs `warmup` untimed invocations, then at least `runs` timed ones (more until
    `min_time_s` has passed).

    Returns:
        dict with `median_ms`, `p90_ms`, `mean_ms`, `min_ms`, `runs`, `delegated`.
    """
    if runs < 1 or warmup < 0:
        raise ValueError(f"runs must be >= 1 and warmup >= 0, got runs={runs}, warmup={warmup}.")
    runner = _ready_runner(model, num_threads, use_xnnpack, warmup, seed)
    ms = _invoke_ms(runner, runs, min_time_s)
    return {**_summary(ms), "delegated": runner.delegated}


def _ready_runner(model, num_threads, use_xnnpack, warmup, seed):
    """A `TFLiteRunner` with a random raw-pixel image set and `warmup` invocations done."""
    from kerasfer.runtime.runners import TFLiteRunner

    runner = TFLiteRunner(model, num_threads=num_threads, use_xnnpack=use_xnnpack)
    runner.set_input(np.random.default_rng(seed).uniform(0, 255, runner.input_shape).astype(np.float32))
    for _ in range(warmup):
        runner.invoke()
    return runner


def _invoke_ms(runner, runs, min_time_s=0.0) -> np.ndarray:
    """Milliseconds of at least `runs` timed invocations (more until `min_time_s` has passed)."""
    times = []
    start = time.perf_counter()
    while len(times) < runs or time.perf_counter() - start < min_time_s:
        t0 = time.perf_counter()
        runner.invoke()
        times.append(time.perf_counter() - t0)
    return np.asarray(times) * 1e3


def _summary(ms) -> dict:
    ms = np.asarray(ms)
    return {"median_ms": float(np.median(ms)), "p90_ms": float(np.percentile(ms, 90)), "mean_ms": float(ms.mean()),
            "min_ms": float(ms.min()), "runs": int(len(ms))}  # fmt: skip


def benchmark(model, threads=(1, 2), xnnpack=(True, False), runs: int = 100, warmup: int = 10,
              min_time_s: float = 0.0, name: str | None = None, quantization: str | None = None) -> list:  # fmt: skip
    """Benchmarks one `.tflite` over every (threads, xnnpack) setting.

    Args:
        model: a `.tflite` path or bytes.
        threads: thread counts to try.
        xnnpack: XNNPACK settings to try (True = LiteRT default).
        runs / warmup / min_time_s: see `time_invoke`.
        name / quantization: labels for the rows (default: from the file name / card).

    Returns:
        A list of row dicts: `model`, `quantization`, `threads`, `xnnpack`, `size_bytes`,
        `median_ms`, `p90_ms`, `mean_ms`, `min_ms`, `runs`.
    """
    info = _file_info(model)
    label = name or _label(model)
    size, quantization = info["size_bytes"], quantization or info["quantization"]
    rows = []
    for n in threads:
        for xnn in xnnpack:
            r = time_invoke(model, num_threads=int(n), use_xnnpack=bool(xnn), runs=runs, warmup=warmup,
                            min_time_s=min_time_s)  # fmt: skip
            rows.append({"model": label, "quantization": quantization, "threads": int(n), "xnnpack": bool(xnn),
                         "size_bytes": size, **r})  # fmt: skip
    return rows


def interleaved(models, num_threads: int = 1, use_xnnpack: bool = True, rounds: int = 15, runs: int = 15,
                warmup: int = 10, seed: int = 0) -> list:  # fmt: skip
    """Times several `.tflite` models in turn, for ratios that one run can be trusted with.

    Timing one model after another lets a change of machine load (another process, CPU
    frequency) fall on one model only. Here every round times `runs` invocations of each
    model in turn, and a model's figure is the median of its round medians, so a load change
    shifts every model alike.

    Args:
        models: `{label: .tflite path or bytes}` (or a list of paths, labelled by file name).
        num_threads / use_xnnpack: the interpreter setting, the same for every model.
        rounds: how many times each model is timed in turn.
        runs: invocations per model and round.
        warmup: untimed invocations of each model first.

    Returns:
        One row per model, as `benchmark`'s (`median_ms` is the median of round medians,
        `p90_ms` / `min_ms` over all invocations), plus `rounds` and `ratio`: the median
        over rounds of this model's round median divided by the first model's in the same
        round (the first model is the reference, ratio 1.0).
    """
    if rounds < 1 or runs < 1 or warmup < 0:
        raise ValueError(f"rounds and runs must be >= 1 and warmup >= 0, got {rounds}, {runs}, {warmup}.")
    if not isinstance(models, dict):
        models = {_label(m): m for m in models}
    if not models:
        raise ValueError("interleaved() needs at least one model.")
    info = {label: _file_info(model) for label, model in models.items()}
    runners = {label: _ready_runner(model, num_threads, use_xnnpack, warmup, seed) for label, model in models.items()}
    samples = {label: [] for label in runners}
    for _ in range(rounds):
        for label, runner in runners.items():
            samples[label].append(_invoke_ms(runner, runs))
    medians = {label: np.asarray([np.median(r) for r in rs]) for label, rs in samples.items()}
    first = next(iter(medians.values()))
    rows = []
    for label, runner in runners.items():
        row = {"model": label, **info[label], "threads": int(num_threads), "xnnpack": bool(use_xnnpack)}
        row.update(_summary(np.concatenate(samples[label])), median_ms=float(np.median(medians[label])))
        row.update(delegated=runner.delegated, rounds=int(rounds), ratio=float(np.median(medians[label] / first)))
        rows.append(row)
    return rows


def _label(model) -> str:
    """A row label: the file name without `.tflite`, or "model" for bytes."""
    if isinstance(model, bytes | bytearray):
        return "model"
    return os.path.splitext(os.path.basename(os.fspath(model)))[0]


def _file_info(model) -> dict:
    """`size_bytes` and the card's `quantization` (None for bytes) of a `.tflite` path or bytes."""
    if isinstance(model, bytes | bytearray):
        return {"size_bytes": len(model), "quantization": None}
    path = os.fspath(model)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No .tflite file at {path!r}.")
    return {"size_bytes": os.path.getsize(path), "quantization": _quantization_from_metadata(path)}


def _quantization_from_metadata(path):
    try:
        from kerasfer.runtime import flatbuffer

        meta = flatbuffer.read_tflite(path).kerasfer_metadata() or {}
        return (meta.get("quantization") or {}).get("mode")
    except (ValueError, OSError):
        return None


def where_it_stands(median_ms: float) -> str:
    """Places a latency against the `fer` (0.51 ms) and facex (25 ms) per-face figures."""
    fer, facex = REFERENCE_LATENCY_MS["fer"], REFERENCE_LATENCY_MS["facex"]
    if median_ms <= fer:
        return f"faster than fer ({fer} ms)"
    if median_ms <= facex:
        return f"{median_ms / fer:.1f}x fer, {facex / median_ms:.1f}x faster than facex"
    return f"{median_ms / facex:.1f}x slower than facex ({facex} ms)"


def format_table(rows) -> str:
    """Markdown table of benchmark rows (with a ratio column for `interleaved` rows)."""
    ratio = any("ratio" in r for r in rows)
    head = "| model | quant | size (bytes) | threads | XNNPACK | median ms | p90 ms |"
    rule = "|---|---|---:|---:|---|---:|---:|"
    if ratio:
        head, rule = head + " ratio to the first |", rule + "---:|"
    lines = [head + " vs fer 0.51 ms / facex 25 ms |", rule + "---|"]
    for r in rows:
        cells = (
            f"| `{r['model']}` | {r.get('quantization') or '-'} | {r['size_bytes']:,} | {r['threads']} | "
            f"{'on' if r['xnnpack'] else 'off'} | {r['median_ms']:.3f} | {r['p90_ms']:.3f} |"
        )
        if ratio:
            cells += f" {r['ratio']:.2f} |" if "ratio" in r else " - |"
        lines.append(f"{cells} {where_it_stands(r['median_ms'])} |")
    return "\n".join(lines)


def write_json(rows, path, extra: dict | None = None) -> dict:
    """Writes `{"machine": ..., "rows": [...], ...}` to `path` and returns it."""
    doc = {
        "machine": machine_info(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "reference_latency_ms": REFERENCE_LATENCY_MS,
        **(extra or {}),
        "rows": list(rows),
    }
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    return doc


__all__ = [
    "REFERENCE_LATENCY_MS",
    "benchmark",
    "format_table",
    "interleaved",
    "machine_info",
    "time_invoke",
    "where_it_stands",
    "write_json",
]
