"""What a GPU run returns or raises: `GpuRunResult`, `UnsupportedOp`, `GpuUnavailableError`, `GpuRuntimeError`."""

from __future__ import annotations

import dataclasses

import numpy as np


class GpuUnavailableError(RuntimeError):
    """No GPU adapter the accelerator accepts, or no accelerator library: the message says which and why."""


class GpuRuntimeError(RuntimeError):
    """The GPU run failed for another reason (compile error, crash, time-out); the message holds the log's gist."""


@dataclasses.dataclass(frozen=True)
class UnsupportedOp:
    """An op the GPU delegate refused, with the delegate's reason."""

    op: str
    reason: str

    def __str__(self):
        return f"{self.op}: {self.reason}" if self.reason else self.op


@dataclasses.dataclass
class GpuRunResult:
    """What `run_on_gpu` found.

    Attributes:
        fully_accelerated: every op ran on the GPU (`CompiledModel.is_fully_accelerated()`, and no op refused).
        not_accelerated: the ops the delegate refused (empty when fully accelerated).
        outputs: `(N, ...)` float32 GPU outputs (dequantized), or None when the GPU-only compile was refused.
        cpu_outputs: the CPU outputs of the same file (`TFLiteRunner(...).raw`), or None (`compare_cpu=False`).
        max_abs_diff: `max |outputs - cpu_outputs|`, or None.
        gpu_median_ms: median of `runs` GPU runs of one image (write input, run, read output), or None.
        cpu_median_ms: the same for the CPU (`TFLiteRunner.raw` of one image), or None.
        compile_ms: creating the compiled model (delegate, shaders), or None.
        first_run_ms: the first GPU run (lazy work), or None.
        adapter: Dawn's "Selected adapter" line (name, vendor, backend, type), when logged.
        accelerator: the GPU accelerator library LiteRT loaded.
        accelerators: `"gpu"` or `"gpu+cpu"` (with `allow_cpu_fallback`).
        enforce_f32: whether GPU math was forced to float32.
        runs: the number of timed runs.
        delegate_summary: the delegate's "N operations will run on the GPU, ..." line, when logged.
        error: why there are no outputs (the GPU-only compile refused), else None.
        log: the native log of the GPU process (stderr), for digging.
    """

    fully_accelerated: bool
    not_accelerated: tuple = ()
    outputs: np.ndarray | None = None
    cpu_outputs: np.ndarray | None = None
    max_abs_diff: float | None = None
    gpu_median_ms: float | None = None
    cpu_median_ms: float | None = None
    compile_ms: float | None = None
    first_run_ms: float | None = None
    adapter: str | None = None
    accelerator: str | None = None
    accelerators: str = "gpu"
    enforce_f32: bool = False
    runs: int = 0
    delegate_summary: str | None = None
    error: str | None = None
    log: str = dataclasses.field(default="", repr=False)

    def summary(self) -> str:
        """One line: accelerated or not (and which ops), the difference and the latencies."""
        parts = ["fully accelerated" if self.fully_accelerated else "NOT fully accelerated"]
        if self.not_accelerated:
            parts.append("refused: " + "; ".join(str(op) for op in self.not_accelerated))
        if self.max_abs_diff is not None:
            parts.append(f"max |GPU - CPU| = {self.max_abs_diff:.3g}")
        if self.gpu_median_ms is not None:
            parts.append(f"GPU {self.gpu_median_ms:.3f} ms")
        if self.cpu_median_ms is not None:
            parts.append(f"CPU {self.cpu_median_ms:.3f} ms")
        if self.adapter:
            parts.append(f"on {self.adapter.split(',')[0]}")
        if self.error:
            parts.append(self.error)
        return ", ".join(parts)
