"""A strict static check that a `.tflite` runs fully on the TFLite GPU delegate.

`tf.lite.experimental.Analyzer(gpu_compatibility=True)` checks nothing in TF 2.21, and no
GPU delegate binary ships with the pip wheels, so this module carries its own rules,
read from the delegate's source (TensorFlow Lite's `delegates/gpu` op parsers and ML Drift's op caps):

* **L1** every op is in the delegate's op switch; CUSTOM only for its 4 custom ops; no Flex.
* **L2** the op version is at most the delegate's cap (ML Drift caps differ).
* **L3** every tensor an op touches has rank <= 4; runtime tensors have rank >= 1.
* **L4** runtime tensors are float32/float16 (int8/uint8 in quantized models); int32 only
  as GATHER indices / CAST / ONE_HOT; bool only on comparison -> CAST/SELECT; never int64,
  int16 or string.
* **L5** static shapes (no -1 in a shape signature), no control flow, parameter tensors
  (reshape shape, axes, paddings, perm, slice bounds, resize size, split axis) constant.
* **L6** op parameters (strided-slice masks, softmax beta, FC weights format, fused
  activations, depthwise channel counts, ...).
* **L7** broadcasting limits of the classic delegate (kStandard) and constant operands.
* **L8** PRELU alpha is constant and linear or equal to the input's (H, W, C).
* **L9** quantization: no int16 / per-channel DEQUANTIZE, no quantized GATHER, runtime
  quantized tensors per-tensor.
* **L10** full residency: any unsupported op splits the graph and only the largest
  partition runs on the GPU.
* **L11** portable to the OpenGL fallback (no TRANSPOSE/GATHER/CAST... shaders): reported as
  `report.warnings`, or as errors with `strict_gl=True`.

Nothing here was run on a GPU: passing the check means the graph is inside the
delegate's documented/coded limits, not that outputs match (fp16 accumulation can still
overflow). `check` needs no TensorFlow.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from kerasfer.runtime import flatbuffer

TARGETS = ("classic", "mldrift")

# L1 + L2: classic delegate op switch (model_builder.cc) -> max version (None = not checked).
_BINARY = ("SUB", "DIV", "MAXIMUM", "MINIMUM", "POW", "SQUARED_DIFFERENCE", "FLOOR_DIV", "FLOOR_MOD")
_UNARY = (
    "LOGISTIC", "TANH", "EXP", "LOG", "RSQRT", "SQRT", "SQUARE", "NEG", "ABS", "SIN", "COS", "ELU", "FLOOR",
    "GELU", "SIGN",
)  # fmt: skip
_COMPARISONS = ("EQUAL", "NOT_EQUAL", "GREATER", "GREATER_EQUAL", "LESS", "LESS_EQUAL")
CLASSIC_MAX_VERSION: dict = {
    "CONV_2D": 6,
    "DEPTHWISE_CONV_2D": 6,
    "FULLY_CONNECTED": 9,
    "AVERAGE_POOL_2D": 2,
    "MAX_POOL_2D": 2,
    "ADD": 2,
    "MUL": 3,
    **{k: 2 for k in _BINARY},
    **{k: 2 for k in _UNARY},
    "HARD_SWISH": None,
    "RELU": 2,
    "RELU6": 2,
    "RELU_0_TO_1": 2,
    "RELU_N1_TO_1": 2,
    "LEAKY_RELU": 2,
    "PRELU": 1,
    "CONCATENATION": 2,
    "RESHAPE": 1,
    "TRANSPOSE": 4,
    "MEAN": None,
    "SUM": None,
    "REDUCE_MAX": None,
    "REDUCE_MIN": None,
    "REDUCE_PROD": None,
    "PAD": 2,
    "PADV2": 2,
    "MIRROR_PAD": 2,
    "STRIDED_SLICE": 4,
    "SLICE": 2,
    "SPLIT": None,
    "SPLIT_V": None,
    "SOFTMAX": 2,
    "RESIZE_BILINEAR": 3,
    "RESIZE_NEAREST_NEIGHBOR": 3,
    "GATHER": 1,
    "BATCH_MATMUL": None,
    "DEQUANTIZE": 3,
    "QUANTIZE": 2,
    "CAST": None,
    **{k: 2 for k in _COMPARISONS},
    "SELECT": 1,
    "SELECT_V2": 1,
    "TRANSPOSE_CONV": 3,
    "DEPTH_TO_SPACE": None,
    "SPACE_TO_DEPTH": 2,
    "TILE": None,
    "PACK": None,
    "UNPACK": None,
    "ADD_N": None,
    "CUMSUM": 1,
    "ONE_HOT": 1,
    "DENSIFY": 1,
    "LSTM": 4,
    "LOGICAL_AND": None,
}
# ML Drift (ai-edge-litert's CompiledModel GPU): different caps, a few more ops, no DENSIFY.
MLDRIFT_MAX_VERSION: dict = {
    **{k: v for k, v in CLASSIC_MAX_VERSION.items() if k != "DENSIFY"},
    "FULLY_CONNECTED": 14,
    "ADD": 6,
    "MUL": 8,
    "MAXIMUM": 4,
    "MINIMUM": 4,
    "FLOOR_DIV": 3,
    "ABS": 5,
    "GELU": 3,
    "CONCATENATION": 6,
    "TRANSPOSE": 9,
    "PAD": 5,
    "PADV2": 5,
    "MIRROR_PAD": 5,
    "STRIDED_SLICE": 2,
    "SLICE": 8,
    "SOFTMAX": 4,
    "ARG_MAX": None,
    "TOPK_V2": 1,
    "CEIL": None,
    "ROUND": None,
    "LOGICAL_OR": None,
    "LOGICAL_NOT": None,
    "REVERSE_V2": None,
    "REDUCE_ANY": None,
    "REDUCE_ALL": None,
    "EMBEDDING_LOOKUP": None,
    "DYNAMIC_UPDATE_SLICE": None,
    "BITCAST": None,
    "ATAN2": None,
}
GPU_CUSTOM_OPS = ("Convolution2DTransposeBias", "MaxPoolingWithArgmax2D", "MaxUnpooling2D", "Resampler")
ALLOWED_ACTIVATIONS = ("NONE", "RELU", "RELU_N1_TO_1", "RELU6", "TANH", "SIGMOID")
_CONTROL_FLOW = ("WHILE", "IF", "CALL_ONCE", "CALL")
_REDUCE = ("MEAN", "SUM", "REDUCE_MAX", "REDUCE_MIN", "REDUCE_PROD")
_GL_MISSING = (
    "TRANSPOSE", "GATHER", "BATCH_MATMUL", "SPLIT", "SPLIT_V", "CAST", *_COMPARISONS, "SELECT", "SELECT_V2",
    "SUM", "REDUCE_MAX", "REDUCE_MIN", "REDUCE_PROD", "SIGN", "LOGICAL_AND", "CUMSUM", "ONE_HOT",
)  # fmt: skip
RULES = {
    "L1": "op not accepted by the delegate",
    "L2": "op version above the delegate's cap",
    "L3": "tensor rank",
    "L4": "runtime tensor type",
    "L5": "static shapes and constant parameters",
    "L6": "op parameters",
    "L7": "broadcasting / constant operand",
    "L8": "PRELU alpha",
    "L9": "quantization",
    "L10": "full residency",
    "L11": "OpenGL fallback portability",
}


@dataclasses.dataclass
class Issue:
    """One rule violation.

    Attributes:
        op_index: operator index in the main subgraph (-1 for a model-level issue).
        op_name: builtin op name, or the custom code for CUSTOM ops.
        rule: `"L1"` .. `"L11"`.
        message: what is wrong, in words.
        input_shapes: shapes (with dtypes) of the op's inputs, e.g. `["1x8x8x3 float32", "const 3 float32"]`.
        output_shapes: shapes of the op's outputs.
        layer: the Keras layer the op came from (from tensor names), or `""`.
    """

    op_index: int
    op_name: str
    rule: str
    message: str
    input_shapes: list
    output_shapes: list
    layer: str = ""

    def __str__(self):
        where = f"op {self.op_index} {self.op_name}" if self.op_index >= 0 else "model"
        layer = f" [layer {self.layer}]" if self.layer else ""
        shapes = ""
        if self.input_shapes or self.output_shapes:
            shapes = f" ({', '.join(self.input_shapes)} -> {', '.join(self.output_shapes)})"
        return f"{self.rule} {where}{layer}: {self.message}{shapes}"


@dataclasses.dataclass
class Report:
    """The result of `check`: `ok` when no rule is violated; `str(report)` is readable."""

    target: str
    issues: list
    warnings: list
    num_ops: int
    op_counts: dict
    strict_gl: bool = False

    @property
    def ok(self) -> bool:
        return not self.issues

    @property
    def rules(self) -> list:
        return sorted({i.rule for i in self.issues}, key=lambda r: int(r[1:]))

    def by_rule(self, rule: str) -> list:
        return [i for i in self.issues if i.rule == rule]

    def summary(self) -> dict:
        """JSON-able summary (for the model card and the CLI report)."""
        return {
            "target": self.target,
            "strict_gl": self.strict_gl,
            "ok": self.ok,
            "num_ops": self.num_ops,
            "num_issues": len(self.issues),
            "rules": self.rules,
            "issues": [dataclasses.asdict(i) for i in self.issues],
            "warnings": [str(w) for w in self.warnings],
        }

    def __str__(self):
        head = f"GPU-delegate check ({self.target}{', strict GL' if self.strict_gl else ''}): {self.num_ops} ops, "
        if self.ok:
            lines = [head + "OK: every op is accepted."]
        else:
            lines = [head + f"{len(self.issues)} issue(s) [{', '.join(self.rules)}]"]
            lines += [f"  {issue}" for issue in self.issues]
        if self.warnings:
            lines.append(f"  warnings (OpenGL fallback, L11; errors with strict_gl=True): {len(self.warnings)}")
            lines += [f"  - {w}" for w in self.warnings]
        return "\n".join(lines)


def _shape_str(t) -> str:
    if t is None:
        return "none"
    shape = "x".join(str(d) for d in t.shape_signature) if t.shape_signature else "scalar"
    return f"{'const ' if t.is_constant else ''}{shape} {t.dtype}"


class _Checker:
    def __init__(self, fm, target, strict_gl, allow_quantized, layer_names, model_name):
        self.fm = fm
        self.target = target
        self.strict_gl = strict_gl
        self.allow_quantized = allow_quantized
        self.caps = CLASSIC_MAX_VERSION if target == "classic" else MLDRIFT_MAX_VERSION
        self.issues: list = []
        self.warnings: list = []
        self.unsupported: set = set()
        if layer_names is not None or model_name is not None:
            meta = fm.kerasfer_metadata() or {}
            meta = dict(meta)
            if layer_names is not None:
                meta["layer_names"] = list(layer_names)
            if model_name is not None:
                meta["model_name"] = model_name
            import json

            fm.metadata = dict(fm.metadata)
            fm.metadata[flatbuffer.METADATA_NAME] = json.dumps(meta).encode()
        # G7: a DEQUANTIZE of a constant fp16 tensor (fp16 weights) is folded by the delegate, so
        # its output counts as a constant.
        self.fp16_source: dict = {}
        for op in fm.operators[0] if fm.operators else []:
            if op.name == "DEQUANTIZE" and op.inputs:
                src = fm.tensor(op.inputs[0])
                if src is not None and src.is_constant and src.dtype == "float16":
                    out = fm.tensor(op.outputs[0])
                    fm.tensors[0][out.index] = dataclasses.replace(out, is_constant=True)
                    self.fp16_source[out.index] = src
        self.consumers: dict = {}
        self.producers: dict = {}
        for ops in fm.operators[:1]:
            for op in ops:
                for i in op.inputs:
                    if i >= 0:
                        self.consumers.setdefault(i, []).append(op)
                for i in op.outputs:
                    self.producers[i] = op

    def add(self, op, rule, message, warning=False):
        target = self.warnings if warning else self.issues
        if op is None:
            target.append(Issue(-1, "", rule, message, [], []))
            return
        name = op.custom_code or op.name
        ins = [_shape_str(self.fm.tensor(i, op.subgraph)) for i in op.inputs if i >= 0]
        outs = [_shape_str(self.fm.tensor(i, op.subgraph)) for i in op.outputs if i >= 0]
        target.append(Issue(op.index, name, rule, message, ins, outs, self.fm.layer_of(op)))
        if not warning:
            self.unsupported.add(op.index)

    # -- helpers ----------------------------------------------------------------------------
    def ins(self, op):
        return [self.fm.tensor(i, op.subgraph) if i >= 0 else None for i in op.inputs]

    def outs(self, op):
        return [self.fm.tensor(i, op.subgraph) for i in op.outputs if i >= 0]

    def runtime_ins(self, op):
        return [t for t in self.ins(op) if t is not None and not t.is_constant]

    def const(self, t):
        if t is not None and t.index in self.fp16_source and t.dtype == "float32":
            data = self.fm.constant_data(self.fp16_source[t.index])
            return None if data is None else data.astype(np.float32)
        return self.fm.constant_data(t)

    # -- rules ------------------------------------------------------------------------------
    def run(self):
        fm = self.fm
        if len(fm.operators) > 1:
            self.add(None, "L5", f"the model has {len(fm.operators)} subgraphs (control flow); the delegate runs one")
        for t in fm.tensors[0]:
            if any(d < 0 for d in t.shape_signature):
                op = self.producers.get(t.index) or (self.consumers.get(t.index) or [None])[0]
                self.add(op, "L5", f"tensor {t.name!r} has a dynamic shape {list(t.shape_signature)}")
        for op in fm.operators[0]:
            self.check_op(op)
        if self.unsupported:
            self.residency()
        return self.issues

    def check_op(self, op):
        name = op.name
        if name == "CUSTOM":
            if op.custom_code.startswith("Flex"):
                self.add(op, "L1", f"Flex (SELECT_TF_OPS) op {op.custom_code!r}: TensorFlow ops never run on the GPU")
            elif op.custom_code not in GPU_CUSTOM_OPS:
                self.add(op, "L1", f"custom op {op.custom_code!r} is not one of the delegate's {GPU_CUSTOM_OPS}")
        elif name in _CONTROL_FLOW:
            self.add(op, "L5", f"control flow op {name} is not supported")
        elif name not in self.caps:
            self.add(op, "L1", f"{name} is not supported by the {self.target} GPU delegate")
        else:
            cap = self.caps[name]
            if cap is not None and op.version > cap:
                self.add(op, "L2", f"{name} version {op.version} > the delegate's maximum {cap}")
            if name in ("QUANTIZE", "DEQUANTIZE") and not self.allow_quantized:
                self.add(op, "L9", f"{name}: quantized ops not allowed (allow_quantized=False)")
        self.check_ranks(op)
        self.check_types(op)
        act = op.options.get("fused_activation_function")
        if act is not None and act not in ALLOWED_ACTIVATIONS:
            self.add(op, "L6", f"fused activation {act} is not supported (allowed: {', '.join(ALLOWED_ACTIVATIONS)})")
        method = getattr(self, f"op_{name.lower()}", None)
        if method is not None:
            method(op)
        if name in ("ADD", "MUL", *_BINARY):
            self.binary(op)
        if name in _REDUCE:
            self.reduce(op)
        if name in _COMPARISONS:
            self.comparison(op)
        self.gl(op)

    def check_ranks(self, op):
        tensors = [t for t in self.ins(op) if t is not None] + self.outs(op)
        high = [t for t in tensors if t.rank > 4]
        if high:
            listed = ", ".join(f"{t.name!r} {list(t.shape)}" for t in high)
            self.add(op, "L3", f"rank {max(t.rank for t in high)} > 4: {listed}")
        for t in tensors:
            if t.rank == 0 and not t.is_constant:
                self.add(op, "L3", f"runtime tensor {t.name!r} is a scalar (rank 0); the delegate needs rank 1-4")

    def check_types(self, op):
        ins = self.ins(op)
        for pos, t in enumerate(ins):
            if t is not None and not t.is_constant:
                self.check_runtime_type(op, t, "input", pos)
        for pos, t in enumerate(self.outs(op)):
            self.check_runtime_type(op, t, "output", pos)

    def check_runtime_type(self, op, t, role, pos):
        dt = t.dtype
        if dt in ("float32", "float16"):
            return
        if dt in ("int8", "uint8"):
            if not self.allow_quantized:
                self.add(op, "L4", f"{role} {t.name!r} is {dt} but quantized models are not allowed")
            return
        if dt == "int32":
            if op.name == "CAST" or op.name == "ONE_HOT" and role == "input":
                return
            if op.name == "GATHER" and role == "input" and pos == 1:
                return
            self.add(op, "L4", f"runtime {role} {t.name!r} is int32; allowed only as GATHER indices, CAST, ONE_HOT")
            return
        if dt == "bool":
            if role == "output" and op.name in _COMPARISONS:
                return
            if role == "input" and op.name in ("CAST", "SELECT", "SELECT_V2", "LOGICAL_AND"):
                return
            if role == "output" and op.name in ("LOGICAL_AND", "CAST"):
                return
            self.add(op, "L4", f"runtime {role} {t.name!r} is bool outside a comparison -> CAST/SELECT chain")
            return
        self.add(op, "L4", f"runtime {role} {t.name!r} is {dt}; the delegate never accepts {dt} at runtime")

    def need_const(self, op, pos, what):
        ins = self.ins(op)
        if pos >= len(ins) or ins[pos] is None:
            self.add(op, "L5", f"{op.name}: missing {what} input")
            return None
        t = ins[pos]
        if not t.is_constant:
            self.add(op, "L5", f"{op.name}: {what} must be a constant tensor, got runtime tensor {t.name!r}")
            return None
        return self.const(t)

    # per-op rules (L5/L6)
    def op_reshape(self, op):
        if len(self.runtime_ins(op)) != 1:
            self.add(op, "L5", f"RESHAPE needs exactly 1 runtime input (a constant new shape), got "
                     f"{len(self.runtime_ins(op))}")  # fmt: skip

    def op_transpose(self, op):
        perm = self.need_const(op, 1, "perm")
        if perm is not None and not 2 <= perm.size <= 4:
            self.add(op, "L6", f"TRANSPOSE perm has length {perm.size}; the delegate accepts 2-4")

    def op_pad(self, op):
        pads = self.need_const(op, 1, "paddings")
        if pads is not None and tuple(pads.shape) not in ((4, 2), (3, 2)):
            self.add(op, "L6", f"{op.name} paddings have shape {list(pads.shape)}; must be [4, 2] or [3, 2]")

    op_padv2 = op_pad

    def op_mirror_pad(self, op):
        self.op_pad(op)
        if op.options.get("mode") not in ("REFLECT", 0):
            self.add(op, "L6", f"MIRROR_PAD mode {op.options.get('mode')} is not supported (only REFLECT)")

    def op_strided_slice(self, op):
        o = op.options
        for mask in ("ellipsis_mask", "new_axis_mask", "shrink_axis_mask"):
            if o.get(mask, 0):
                self.add(op, "L6", f"STRIDED_SLICE {mask}={o[mask]} is not supported (must be 0)")
        ins = self.ins(op)
        if len(ins) < 4:
            self.add(op, "L6", f"STRIDED_SLICE needs 4 inputs, got {len(ins)}")
            return
        rank = ins[0].rank
        if rank not in (3, 4):
            self.add(op, "L6", f"STRIDED_SLICE input has rank {rank}; the delegate slices rank 3-4 only")
        begin = self.need_const(op, 1, "begin")
        self.need_const(op, 2, "end")
        strides = self.need_const(op, 3, "strides")
        if begin is not None:
            ok = (begin.size in (3, 4)) if self.target == "classic" else (begin.size in (rank, rank - 1))
            if not ok:
                self.add(op, "L6", f"STRIDED_SLICE begin has {begin.size} elements for a rank-{rank} input")
        if strides is not None and np.any(strides <= 0):
            self.add(op, "L6", f"STRIDED_SLICE strides {strides.tolist()} must be > 0 (no reverse slices)")

    def op_slice(self, op):
        ins = self.ins(op)
        if ins[0].rank not in (3, 4):
            self.add(op, "L6", f"SLICE input has rank {ins[0].rank}; the delegate slices rank 3-4 only")
        for pos, what in ((1, "begin"), (2, "size")):
            v = self.need_const(op, pos, what)
            if v is not None and v.size not in (3, 4):
                self.add(op, "L6", f"SLICE {what} has {v.size} elements; must be 3 or 4")

    def op_softmax(self, op):
        beta = op.options.get("beta", 1.0)
        if abs(float(beta) - 1.0) > 1e-6:
            self.add(op, "L6", f"SOFTMAX beta={beta}; the delegate supports beta == 1 only")
        t = self.ins(op)[0]
        if t.rank < 2:
            self.add(op, "L6", "SOFTMAX on a rank-1 tensor maps to the batch axis and is computed over size 1")

    def op_resize_bilinear(self, op):
        if op.options.get("align_corners") and op.options.get("half_pixel_centers"):
            self.add(op, "L6", "RESIZE_BILINEAR with both align_corners and half_pixel_centers is not supported")
        self.need_const(op, 1, "size")

    def op_resize_nearest_neighbor(self, op):
        self.need_const(op, 1, "size")

    def op_transpose_conv(self, op):
        act = op.options.get("fused_activation_function", "NONE")
        if act not in ("NONE", None):
            self.add(op, "L6", f"TRANSPOSE_CONV with a fused activation ({act}) is rejected (version 4)")

    def op_depthwise_conv_2d(self, op):
        ins, outs = self.ins(op), self.outs(op)
        x, w, y = ins[0], ins[1], outs[0]
        if x.rank != 4 or w.rank != 4 or y.rank != 4:
            self.add(op, "L6", "DEPTHWISE_CONV_2D input, filter and output must be rank 4")
            return
        mult = int(op.options.get("depth_multiplier", 1) or 1)
        if w.shape[3] != y.shape[3]:
            self.add(op, "L6", f"DEPTHWISE_CONV_2D filter channels {w.shape[3]} != output channels {y.shape[3]}")
        if y.shape[3] != x.shape[3] * mult and y.shape[3] % x.shape[3] != 0:
            self.add(op, "L6", f"DEPTHWISE_CONV_2D output channels {y.shape[3]} != input {x.shape[3]} x {mult}")

    def op_conv_2d(self, op):
        ins = self.ins(op)
        if len(self.runtime_ins(op)) > 2:
            self.add(op, "L6", "CONV_2D with more than 2 runtime inputs")
        if ins[0] is not None and ins[0].is_constant:
            self.add(op, "L6", "CONV_2D input must be a runtime tensor")

    def op_fully_connected(self, op):
        o = op.options
        if o.get("weights_format") not in (None, "DEFAULT", 0):
            self.add(op, "L6", f"FULLY_CONNECTED weights_format {o['weights_format']} (only DEFAULT)")
        ins, y = self.ins(op), self.outs(op)[0]
        x, w = ins[0], ins[1]
        if x.is_constant:
            self.add(op, "L6", "FULLY_CONNECTED input must be a runtime tensor")
        if len(self.runtime_ins(op)) > 2:
            self.add(op, "L6", "FULLY_CONNECTED with more than 2 runtime inputs")
        if w.rank == 2 and x.rank >= 1 and x.shape[-1] != w.shape[1]:
            self.add(op, "L6", f"FULLY_CONNECTED input channels {x.shape[-1]} != weights width {w.shape[1]}")
        if o.get("keep_num_dims") and x.rank != y.rank:
            self.add(op, "L6", f"FULLY_CONNECTED keep_num_dims with input rank {x.rank} != output rank {y.rank}")

    def op_add_n(self, op):
        if len(op.inputs) != 2:
            self.add(op, "L6", f"ADD_N with {len(op.inputs)} inputs; the delegate takes exactly 2")

    def op_gather(self, op):
        ins = self.ins(op)
        idx = ins[1] if len(ins) > 1 else None
        if idx is not None and (idx.dtype != "int32" or idx.rank != 1):
            self.add(op, "L6", f"GATHER indices must be 1-D int32, got rank {idx.rank} {idx.dtype}")
        if ins[0].dtype in ("int8", "uint8"):
            self.add(op, "L9", f"quantized ({ins[0].dtype}) GATHER is version 2; the delegate accepts float only")

    def op_split(self, op):
        self.need_const(op, 0, "axis")

    def op_split_v(self, op):
        self.need_const(op, 2, "axis")

    def op_batch_matmul(self, op):
        ins = self.ins(op)
        if len(ins) != 2:
            self.add(op, "L6", f"BATCH_MATMUL needs 2 inputs, got {len(ins)}")
            return
        if ins[1].is_constant and ins[1].rank != 2:
            self.add(op, "L5", f"BATCH_MATMUL constant second operand must be 2-D, got rank {ins[1].rank}")
        if ins[0].is_constant:
            self.add(op, "L5", "BATCH_MATMUL first operand must be a runtime tensor")

    def op_prelu(self, op):
        ins = self.ins(op)
        x, alpha = ins[0], ins[1]
        if not alpha.is_constant:
            self.add(op, "L8", f"PRELU alpha {alpha.name!r} must be a constant tensor")
            return
        a = tuple(alpha.shape)
        c = x.shape[-1] if x.rank else None
        linear = len(a) >= 1 and all(d == 1 for d in a[:-1]) and a[-1] == c
        hwc = x.rank == 4 and (a == tuple(x.shape[1:]) or (len(a) == 4 and a[0] == 1 and a[1:] == tuple(x.shape[1:])))
        if not (linear or hwc):
            self.add(op, "L8", f"PRELU alpha shape {list(a)} is neither [..., 1, C={c}] nor the input's H,W,C "
                     f"{list(x.shape[1:])}")  # fmt: skip

    def op_dequantize(self, op):
        t = self.ins(op)[0]
        if t.dtype == "int16":
            self.add(op, "L9", "DEQUANTIZE of int16 is not supported")
        if t.dtype in ("int8", "uint8") and t.per_channel:
            self.add(op, "L9", f"per-channel DEQUANTIZE ({len(t.scale)} scales) is version 5 and rejected")

    def op_cast(self, op):
        x, y = self.ins(op)[0], self.outs(op)[0]
        ok = {("float32", "int32"), ("int32", "float32"), ("float32", "float32"), ("int32", "int32")}
        ok |= {("float32", "bool"), ("float16", "bool"), ("bool", "float32"), ("bool", "float16")}
        if (x.dtype, y.dtype) not in ok:
            self.add(op, "L6", f"CAST {x.dtype} -> {y.dtype} is not supported")
        if x.dtype == "bool":
            prod = self.producers.get(op.inputs[0])
            if prod is None or prod.name not in _COMPARISONS:
                self.add(op, "L6", "CAST from bool must take the output of a comparison op")
            if op.outputs[0] in self.fm.outputs[0]:
                self.add(op, "L6", "CAST from bool cannot be a graph output")

    def comparison(self, op):
        cons = self.consumers.get(op.outputs[0], [])
        ok = len(cons) == 1 and cons[0].name in ("CAST", "SELECT", "SELECT_V2")
        if ok and cons[0].name == "CAST":
            ok = self.outs(cons[0])[0].dtype in ("float32", "float16")
        if not ok:
            self.add(op, "L6", f"{op.name} output must have exactly one consumer, a CAST/SELECT to float "
                     f"(has {[c.name for c in cons]})")  # fmt: skip

    def reduce(self, op):
        axes = self.need_const(op, 1, "axes")
        ins = self.ins(op)
        if len(ins) > 1 and ins[1] is not None and ins[1].dtype != "int32":
            self.add(op, "L5", f"{op.name} axes must be int32, got {ins[1].dtype}")
        if axes is not None:
            rank = ins[0].rank
            bad = [int(a) for a in np.ravel(axes) if not -rank <= int(a) < rank]
            if bad:
                self.add(op, "L6", f"{op.name} axes {bad} out of range for rank {rank}")

    def binary(self, op):
        ins = [t for t in self.ins(op) if t is not None]
        if len(ins) != 2:
            self.add(op, "L6", f"{op.name} needs exactly 2 inputs, got {len(ins)}")
            return
        a, b = ins
        consts = [t for t in ins if t.is_constant]
        if len(consts) == 2:
            self.add(op, "L7", f"{op.name} has two constant inputs")
            return
        if op.name not in ("ADD", "MUL") and op.inputs[0] == op.inputs[1]:
            self.add(op, "L7", f"{op.name} with identical inputs is not supported")
        for t in consts:
            s = tuple(t.shape)
            scalar = t.rank == 0 or int(np.prod(s)) == 1
            linear = t.rank >= 1 and all(d == 1 for d in s[:-1])
            batch1 = t.rank == 3 or (t.rank == 4 and s[0] == 1)
            if not (scalar or linear or t.rank == 2 or batch1):
                self.add(op, "L7", f"{op.name} constant operand {list(s)} must be a scalar, [..., 1, C], 2-D "
                         "or 3-D/4-D with batch 1")  # fmt: skip
        if self.target != "classic":
            return  # ML Drift broadcasts numpy-style
        ra, rb = a.rank, b.rank
        check = (op.name == "ADD" and ra > 1 and rb > 1 and ra != rb) or (op.name != "ADD" and ra != rb)
        if not check or min(ra, rb) <= 1:
            return
        big, small = (a, b) if ra > rb else (b, a)
        bs, ss = tuple(big.shape), tuple(small.shape)
        ok = False
        if big.rank == 4 and small.rank == 3 and bs[0] == 1:
            ok = True
        elif big.rank == 4 and small.rank == 2 and (ss == (1, 1) and bs[0] == 1 or ss == (bs[0], bs[3])):
            ok = True
        if not ok:
            self.add(op, "L7", f"{op.name} broadcasts {list(bs)} with {list(ss)}; the classic delegate allows only "
                     "4D+3D (batch 1), 4D+[1,1] (batch 1) and [b,h,w,c]+[b,c]")  # fmt: skip

    def gl(self, op):
        name = op.name
        if name in _GL_MISSING:
            self.add(op, "L11", f"{name} has no OpenGL shader", warning=not self.strict_gl)
        ins, outs = self.ins(op), self.outs(op)
        if name == "MEAN":
            axes = self.const(ins[1]) if len(ins) > 1 and ins[1] is not None else None
            rank = ins[0].rank
            if axes is None or rank != 4 or sorted(int(a) % 4 for a in np.ravel(axes)) != [1, 2]:
                self.add(
                    op, "L11", "OpenGL MEAN works only over axes {1, 2} of a 4-D tensor", warning=not self.strict_gl
                )
        if name in ("RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR") and ins[0].rank == 4:
            if outs[0].shape[1] < ins[0].shape[1] or outs[0].shape[2] < ins[0].shape[2]:
                self.add(op, "L11", "OpenGL RESIZE cannot downsample", warning=not self.strict_gl)
        if name == "CONCATENATION" and int(op.options.get("axis", -1)) % max(outs[0].rank, 1) == 0:
            self.add(
                op, "L11", "OpenGL CONCATENATION cannot concatenate along the batch axis", warning=not self.strict_gl
            )
        batches = {t.shape[0] for t in [*ins, *outs] if t is not None and not t.is_constant and t.rank >= 1}
        if len(batches) > 1:
            self.add(op, "L11", f"tensors disagree on dims[0] {sorted(batches)} (OpenGL 'Batch size mismatch')",
                     warning=not self.strict_gl)  # fmt: skip

    def residency(self):
        ops = self.fm.operators[0]
        partitions, current = [], 0
        for op in ops:
            if op.index in self.unsupported:
                if current:
                    partitions.append(current)
                current = 0
            else:
                current += 1
        if current:
            partitions.append(current)
        largest = max(partitions) if partitions else 0
        self.add(
            None,
            "L10",
            f"{len(self.unsupported)} of {len(ops)} ops are not delegated; the supported ops form "
            f"{len(partitions)} partition(s) and only the largest ({largest} ops) would run on the GPU "
            "(max_delegated_partitions = 1), the rest on the CPU",
        )


def check(
    model,
    target: str = "classic",
    strict_gl: bool = False,
    allow_quantized: bool = True,
    layer_names=None,
    model_name: str | None = None,
) -> Report:
    """Checks a `.tflite` (path, bytes or a parsed `FlatModel`) against the GPU-delegate rules.

    Args:
        model: the `.tflite` file path, its bytes, or a `flatbuffer.FlatModel`.
        target: `"classic"` (the TFLite GPU delegate, OpenCL) or `"mldrift"` (ai-edge-litert's
            `CompiledModel` GPU accelerator; different version caps and broadcasting).
        strict_gl: also apply L11 (portable to the OpenGL fallback).
        allow_quantized: accept int8/uint8 tensors and QUANTIZE/DEQUANTIZE (the delegate's default).
        layer_names / model_name: the Keras model's layer names and name, to map ops to layers
            (default: read from the embedded `kerasfer_metadata`, else guessed from tensor names).

    Returns:
        A `Report`; `report.ok` is True when no rule is violated.

    Example:
    >>> report = check("lfnsb_fp16.tflite")
    >>> print(report)  # lists each offending op with its shapes and layer
    """
    if target not in TARGETS:
        raise ValueError(f"Unknown target {target!r}; choose one of {TARGETS}.")
    fm = model if isinstance(model, flatbuffer.FlatModel) else flatbuffer.read_tflite(model)
    checker = _Checker(fm, target, strict_gl, allow_quantized, layer_names, model_name)
    issues = checker.run()
    return Report(
        target=target,
        issues=issues,
        warnings=checker.warnings,
        num_ops=len(fm.operators[0]) if fm.operators else 0,
        op_counts=fm.op_counts(),
        strict_gl=strict_gl,
    )


__all__ = ["CLASSIC_MAX_VERSION", "MLDRIFT_MAX_VERSION", "RULES", "Issue", "Report", "check"]
