"""`TrainConfig` from parsed `kerasfer train | cv | ldl` arguments (imports no keras).

Precedence of settings: TrainConfig defaults < `--preset` < `--config FILE` < explicit flags.
Every `TrainConfig` field has a flag of the same name (its `dest`), except those in
`_SPECIAL_FIELDS`, which flags set in their own way.
"""

from __future__ import annotations

import dataclasses

from kerasfer.training.config import TrainConfig

# Fields set by flags of another shape: --val-split (takes 'none'), --input-size/--channels, --quiet, --preset.
_SPECIAL_FIELDS = ("val_split", "input_shape", "verbose", "preset")
_FIELDS = tuple(f.name for f in dataclasses.fields(TrainConfig) if f.name not in _SPECIAL_FIELDS)


def config_from_args(args) -> TrainConfig:
    """A `TrainConfig` from parsed arguments (defaults < preset < --config < flags)."""
    from kerasfer.models import get_model_info
    from kerasfer.training.presets import preset_dict

    d = {}
    if getattr(args, "preset", None):
        d.update(preset_dict(args.preset))
        d["preset"] = args.preset
    if getattr(args, "config", None):
        d.update(TrainConfig.from_json(args.config).to_dict())
    for name in _FIELDS:
        v = getattr(args, name, None)
        if v is not None:
            d[name] = v
    vs = getattr(args, "val_split", None)
    if vs is not None:
        d["val_split"] = None if vs.lower() == "none" else vs
    if getattr(args, "quiet", False) or not _is_terminal():
        d["verbose"] = 2  # one line per epoch: no progress bar, and no ANSI codes in a log file
    size = getattr(args, "input_size", None)
    channels = getattr(args, "channels", None)
    if size is not None or channels is not None:
        base = d.get("input_shape") or get_model_info(d.get("model", "lfnsb")).input_shape
        h, w = (size[0], size[1]) if size else (base[0], base[1])
        c = channels or (size[2] if size and size[2] else base[2])
        d["input_shape"] = (h, w, c)
    return TrainConfig.from_dict(d)


def _is_terminal() -> bool:
    import sys

    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False
