"""Reading the native log of a GPU run: the adapter Dawn selected, the adapters it refused and why, a missing
Vulkan loader, and the ops the GPU delegate refused (`_Log`)."""

from __future__ import annotations

import dataclasses
import re

from kerasfer.export.gpu_runtime.types import UnsupportedOp
from kerasfer.export.gpu_runtime.vulkan import VULKAN_LOADER

# ---------------------------------------------------------------------------------------------------------------
# The native log


_ADAPTER = re.compile(r"Selected adapter: (.*)")
_ACCELERATOR = re.compile(r"Dynamically loaded GPU accelerator\((.*?)\) registered")
_REFUSED_ADAPTER = re.compile(r"Warning: (.+)\n\s*- While initializing adapter \(backend=([^)]*)\)")
_NO_LOADER = re.compile(r"Couldn't load Vulkan: (.*)")
_DELEGATE_SUMMARY = re.compile(r"^(?:\d+|No) operations will run on the .*$", re.M)
_UNSUPPORTED_HEADER = "Following operations are not supported by GPU delegate:"
_OP_LINE = re.compile(r"^([A-Z][A-Z0-9_]*): (.*)$")


@dataclasses.dataclass
class _Log:
    text: str

    @property
    def adapter(self):
        m = _ADAPTER.search(self.text)
        return m.group(1).strip() if m else None

    @property
    def accelerator(self):
        found = _ACCELERATOR.findall(self.text)
        return found[-1] if found else None

    @property
    def delegate_summary(self):
        m = _DELEGATE_SUMMARY.search(self.text)
        return m.group(0).strip() if m else None

    def unsupported_ops(self) -> tuple:
        ops, seen = [], set()
        lines = self.text.splitlines()
        for i, line in enumerate(lines):
            if _UNSUPPORTED_HEADER not in line:
                continue
            for follow in lines[i + 1 :]:
                m = _OP_LINE.match(follow.strip())
                if not m:
                    break
                op = UnsupportedOp(m.group(1), m.group(2).strip())
                if op not in seen:
                    seen.add(op)
                    ops.append(op)
        return tuple(ops)

    def why_no_adapter(self) -> str | None:
        """Why Dawn found no adapter, from the log; None when it found one or the log does not say."""
        if self.adapter:
            return None
        reasons = []
        m = _NO_LOADER.search(self.text)
        if m:
            reasons.append(
                f"no Vulkan loader ({m.group(1).strip()}): install libvulkan1, or pass vulkan_loader= a folder "
                f"with {VULKAN_LOADER}"
            )
        if "Found no drivers" in self.text or "VK_ERROR_INCOMPATIBLE_DRIVER" in self.text:
            missing = re.findall(r"Failed to open JSON file (\S+)", self.text)
            detail = f" (cannot open {', '.join(missing)})" if missing else ""
            reasons.append(f"the Vulkan loader found no driver{detail}")
        for message, backend in _REFUSED_ADAPTER.findall(self.text):
            backend = backend.replace("BackendType::", "")
            reasons.append(f"Dawn refused the {backend} adapter: {message.strip().rstrip('.')}")
        if "No adapters found" in self.text or "No supported adapters" in self.text:
            reasons.append("no WebGPU adapter found")
        return "; ".join(reasons) if reasons else None

    def gist(self, limit: int = 12) -> str:
        """The error lines of the log (the last `limit` of them)."""
        keep = [
            line.strip()
            for line in self.text.splitlines()
            if re.match(r"^(ERROR|E\d{4}|Warning|F\d{4}|Fatal|Check failed|Traceback|\w+Error)", line.strip())
            and "compiler_plugin" not in line
            and "XDG_RUNTIME_DIR" not in line
        ]
        if not keep:  # nothing that looks like an error: the last lines, less the loader's chatter
            keep = [
                line.strip()
                for line in self.text.splitlines()
                if line.strip() and not re.search(r"registry|compiler_plugin|XDG_RUNTIME_DIR|^└", line)
            ]
            limit = min(limit, 4)
        return "\n".join(keep[-limit:])
