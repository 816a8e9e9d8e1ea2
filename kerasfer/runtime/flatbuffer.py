"""Reads a `.tflite` flatbuffer into plain Python objects, without TensorFlow.

Parses the model with the TFLite schema that ships with `ai-edge-litert`
(`ai_edge_litert.schema_py_generated`; TensorFlow's copy is the fallback): operator codes
with versions, every operator with its builtin options, every tensor with its shape,
shape signature, type, buffer and quantization, and the model's metadata entries. Also
maps each operator back to the Keras layer it came from through its tensor names
(`"<model>_1/<layer>_1/<op>"` on the TensorFlow backend), and writes metadata entries.

Used by `kerasfer.export.gpu_check` (the GPU-delegate lint) and by the model card.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import re

import numpy as np


@functools.lru_cache(maxsize=1)
def schema():
    """The generated TFLite schema module (ai-edge-litert's, else TensorFlow's)."""
    try:
        from ai_edge_litert import schema_py_generated as s
    except ImportError:  # pragma: no cover - depends on what is installed
        try:
            from tensorflow.lite.python import schema_py_generated as s
        except ImportError as e:
            raise ImportError(
                "Reading .tflite files needs the TFLite schema: `pip install ai-edge-litert` (or tensorflow)."
            ) from e
    return s


def _enum_names(cls) -> dict[int, str]:
    return {v: k for k, v in vars(cls).items() if not k.startswith("_") and isinstance(v, int)}


@functools.lru_cache(maxsize=1)
def _names():
    s = schema()
    return {
        "op": _enum_names(s.BuiltinOperator),
        "type": _enum_names(s.TensorType),
        "activation": _enum_names(s.ActivationFunctionType),
        "padding": _enum_names(s.Padding),
        "mirror": _enum_names(s.MirrorPadMode),
        "weights_format": _enum_names(s.FullyConnectedOptionsWeightsFormat),
    }


def builtin_code(name: str) -> int:
    """The integer code of a builtin operator name, e.g. `builtin_code("CONV_2D") == 3`."""
    return getattr(schema().BuiltinOperator, name)


def is_builtin(name: str) -> bool:
    """True when `name` is a builtin operator name of the TFLite schema (`"PRELU"`)."""
    return isinstance(name, str) and name.isupper() and hasattr(schema().BuiltinOperator, name)


@dataclasses.dataclass
class Tensor:
    """One tensor of a subgraph.

    Attributes:
        index: index in its subgraph.
        name: the tensor name the converter wrote (carries the TF op / Keras layer names).
        shape: static shape as a tuple (`()` for a scalar).
        shape_signature: shape with `-1` for dynamic dimensions (equals `shape` when static).
        dtype: lowercase type name: `"float32"`, `"float16"`, `"int8"`, `"uint8"`, `"int32"`, `"int64"`, `"bool"`...
        buffer: buffer index (0 = no data).
        is_constant: True when the buffer holds data (a weight or another constant).
        is_variable: True for a TFLite variable tensor.
        scale: quantization scales (empty when not quantized).
        zero_point: quantization zero points.
        quantized_dimension: the axis of per-channel quantization.
    """

    index: int
    name: str
    shape: tuple
    shape_signature: tuple
    dtype: str
    buffer: int
    is_constant: bool
    is_variable: bool = False
    scale: tuple = ()
    zero_point: tuple = ()
    quantized_dimension: int = 0

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def is_quantized(self) -> bool:
        return len(self.scale) > 0

    @property
    def per_channel(self) -> bool:
        return len(self.scale) > 1


@dataclasses.dataclass
class Operator:
    """One operator of a subgraph.

    Attributes:
        index: execution order in its subgraph.
        subgraph: subgraph index (0 = main graph).
        name: builtin operator name (`"CONV_2D"`), or `"CUSTOM"`.
        custom_code: the custom op name (`"FlexConv3D"`...) for CUSTOM ops, else `""`.
        version: operator version from the opcode table.
        inputs: input tensor indices (`-1` = optional input left out).
        outputs: output tensor indices.
        options: builtin options as a dict (e.g. `{"fused_activation_function": "RELU", ...}`).
    """

    index: int
    subgraph: int
    name: str
    custom_code: str
    version: int
    inputs: tuple
    outputs: tuple
    options: dict


@dataclasses.dataclass
class FlatModel:
    """A parsed `.tflite` model (see `read_tflite`)."""

    version: int
    description: str
    subgraph_names: list
    tensors: list  # list (per subgraph) of lists of Tensor
    operators: list  # list (per subgraph) of lists of Operator
    inputs: list  # per subgraph: input tensor indices
    outputs: list  # per subgraph: output tensor indices
    metadata: dict  # name -> bytes
    size_bytes: int
    raw: bytes = dataclasses.field(default=b"", repr=False)

    @property
    def ops(self) -> list:
        """The main subgraph's operators."""
        return self.operators[0]

    def tensor(self, index: int, subgraph: int = 0) -> Tensor | None:
        return None if index < 0 else self.tensors[subgraph][index]

    def op_inputs(self, op: Operator) -> list:
        return [self.tensors[op.subgraph][i] for i in op.inputs if i >= 0]

    def op_outputs(self, op: Operator) -> list:
        return [self.tensors[op.subgraph][i] for i in op.outputs if i >= 0]

    def consumers(self, tensor_index: int, subgraph: int = 0) -> list:
        """Operators that read a tensor."""
        return [op for op in self.operators[subgraph] if tensor_index in op.inputs]

    def producer(self, tensor_index: int, subgraph: int = 0) -> Operator | None:
        for op in self.operators[subgraph]:
            if tensor_index in op.outputs:
                return op
        return None

    def constant_data(self, tensor: Tensor) -> np.ndarray | None:
        """The value of a constant tensor as a numpy array (None for a runtime tensor)."""
        if tensor is None or not tensor.is_constant or not self.raw or tensor.buffer <= 0:
            return None
        buf = schema().Model.GetRootAs(self.raw, 0).Buffers(tensor.buffer)
        if buf.DataLength():
            data = buf.DataAsNumpy().tobytes()
        else:
            data = self.raw[buf.Offset() : buf.Offset() + buf.Size()]
        try:
            dtype = np.dtype(tensor.dtype)
        except TypeError:
            return None
        arr = np.frombuffer(data, dtype=dtype)
        return arr.reshape(tensor.shape) if int(np.prod(tensor.shape)) == arr.size else arr

    def op_counts(self) -> dict:
        """`{op name: count}` over every subgraph (custom ops under their custom code)."""
        counts: dict = {}
        for ops in self.operators:
            for op in ops:
                key = op.custom_code or op.name
                counts[key] = counts.get(key, 0) + 1
        return dict(sorted(counts.items()))

    def kerasfer_metadata(self) -> dict | None:
        """The JSON that `export_tflite` embeds under `"kerasfer_metadata"`, or None."""
        raw = self.metadata.get(METADATA_NAME)
        if raw is None:
            return None
        try:
            return json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            return None

    def layer_of(self, op: Operator, from_inputs: bool = True) -> str:
        """The Keras layer(s) an operator came from, recovered from its tensor names.

        The op's output names are read first. An op whose outputs carry no layer scope (the
        quantizer names an int8 SOFTMAX output `PartitionedCall:01`) is attributed, when
        `from_inputs`, to the layer of its inputs; pass `from_inputs=False` where attributing
        it to another layer would be wrong (comparing one layer's output across two files).
        """
        meta = self.kerasfer_metadata() or {}
        known = set(meta.get("layer_names") or ())
        model_name = meta.get("model_name")
        graph_outputs = meta.get("output_layers") or []
        if op.subgraph == 0 and graph_outputs and len(graph_outputs) == len(self.outputs[0]):
            hits = [graph_outputs[k] for k, i in enumerate(self.outputs[0]) if i in op.outputs]
            if hits:  # graph outputs are renamed after the signature, not the layer
                return ", ".join(hits)
        names = [t.name for t in self.op_outputs(op)]
        if from_inputs:
            names += [t.name for t in self.op_inputs(op) if t.is_constant]
            names += [t.name for t in self.op_inputs(op) if not t.is_constant]
        layers: list = []
        for full in names:
            for part in full.split(";"):
                layer = layer_from_tensor_name(part, known, model_name)
                if layer and layer not in layers:
                    layers.append(layer)
            if layers:
                break
        return ", ".join(layers)


METADATA_NAME = "kerasfer_metadata"
_SUFFIX = re.compile(r"_\d+$")


def layer_from_tensor_name(name: str, known_layers=(), model_name=None) -> str:
    """`"tiny_1/block_1/conv_1/convolution"` -> `"block/conv"` (TF name scopes stripped of `_N`).

    With `known_layers` (the model's layer names), the result is the innermost segment that
    names a known layer; with `model_name`, that leading scope is dropped.
    """
    parts = [p for p in name.split("/") if p]
    if len(parts) < 2:
        return ""
    scopes = parts[:-1]

    def clean(seg):
        if seg in known_layers:
            return seg
        stripped = _SUFFIX.sub("", seg)
        return stripped

    cleaned = [clean(s) for s in scopes]
    if known_layers:
        hits = [c for c in cleaned if c in known_layers]
        if hits:
            return hits[-1]
    if model_name and cleaned and cleaned[0] == model_name:
        cleaned = cleaned[1:]
    elif len(cleaned) >= 2:
        cleaned = cleaned[1:]
    return "/".join(cleaned)


def _read_bytes(path_or_bytes) -> bytes:
    if isinstance(path_or_bytes, bytes | bytearray | memoryview):
        data = bytes(path_or_bytes)
    else:
        path = os.fspath(path_or_bytes)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"No .tflite file at {path!r}.")
        with open(path, "rb") as f:
            data = f.read()
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise ValueError(
            "Not a TFLite flatbuffer (the file identifier 'TFL3' is missing at bytes 4-8); "
            f"got {len(data)} bytes starting {data[:8]!r}."
        )
    return data


def _options_dict(opts) -> dict:
    if opts is None:
        return {}
    names = _names()
    out = {}
    for key, value in vars(opts).items():
        if isinstance(value, np.ndarray):
            value = value.tolist()
        if key == "fusedActivationFunction":
            value = names["activation"].get(value, value)
        elif key == "padding":
            value = names["padding"].get(value, value)
        elif key == "mode" and isinstance(value, int):
            value = names["mirror"].get(value, value)
        elif key == "weightsFormat":
            value = names["weights_format"].get(value, value)
        out[_snake(key)] = value
    return out


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _decode(b) -> str:
    if b is None:
        return ""
    return b.decode("utf-8", "replace") if isinstance(b, bytes) else str(b)


def read_tflite(path_or_bytes) -> FlatModel:
    """Parses a `.tflite` file (path or bytes) into a `FlatModel`.

    Raises:
        FileNotFoundError: the path does not exist.
        ValueError: the bytes are not a TFLite flatbuffer.
    """
    data = _read_bytes(path_or_bytes)
    s = schema()
    names = _names()
    try:
        model = s.Model.GetRootAs(data, 0)
        num_buffers = model.BuffersLength()
        buffer_has_data = []
        for i in range(num_buffers):
            b = model.Buffers(i)
            buffer_has_data.append(b is not None and (b.DataLength() > 0 or b.Offset() > 1))
        opcodes = []
        for i in range(model.OperatorCodesLength()):
            oc = model.OperatorCodes(i)
            code = max(int(oc.BuiltinCode()), int(oc.DeprecatedBuiltinCode()))
            opcodes.append((names["op"].get(code, f"OP_{code}"), _decode(oc.CustomCode()), int(oc.Version())))
        tensors, operators, inputs, outputs, sg_names = [], [], [], [], []
        for g in range(model.SubgraphsLength()):
            sg = model.Subgraphs(g)
            sg_names.append(_decode(sg.Name()))
            ts = []
            for t in range(sg.TensorsLength()):
                tt = sg.Tensors(t)
                shape = tuple(int(d) for d in tt.ShapeAsNumpy()) if tt.ShapeLength() else ()
                sig = tuple(int(d) for d in tt.ShapeSignatureAsNumpy()) if tt.ShapeSignatureLength() else shape
                q = tt.Quantization()
                scale, zp, qdim = (), (), 0
                if q is not None and q.ScaleLength():
                    scale = tuple(float(v) for v in q.ScaleAsNumpy())
                    zp = tuple(int(v) for v in q.ZeroPointAsNumpy()) if q.ZeroPointLength() else ()
                    qdim = int(q.QuantizedDimension())
                buf = int(tt.Buffer())
                ts.append(
                    Tensor(
                        index=t,
                        name=_decode(tt.Name()),
                        shape=shape,
                        shape_signature=sig,
                        dtype=names["type"].get(int(tt.Type()), str(tt.Type())).lower(),
                        buffer=buf,
                        is_constant=0 < buf < num_buffers and buffer_has_data[buf],
                        is_variable=bool(tt.IsVariable()),
                        scale=scale,
                        zero_point=zp,
                        quantized_dimension=qdim,
                    )
                )
            ops = []
            for o in range(sg.OperatorsLength()):
                op = sg.Operators(o)
                name, custom, version = opcodes[op.OpcodeIndex()]
                opts = None
                if op.BuiltinOptionsType():
                    opts = s.BuiltinOptionsCreator(op.BuiltinOptionsType(), op.BuiltinOptions())
                elif op.BuiltinOptions2Type():
                    opts = s.BuiltinOptions2Creator(op.BuiltinOptions2Type(), op.BuiltinOptions2())
                ops.append(
                    Operator(
                        index=o,
                        subgraph=g,
                        name=name,
                        custom_code=custom,
                        version=version,
                        inputs=tuple(int(i) for i in op.InputsAsNumpy()) if op.InputsLength() else (),
                        outputs=tuple(int(i) for i in op.OutputsAsNumpy()) if op.OutputsLength() else (),
                        options=_options_dict(opts),
                    )
                )
            tensors.append(ts)
            operators.append(ops)
            inputs.append(tuple(int(i) for i in sg.InputsAsNumpy()) if sg.InputsLength() else ())
            outputs.append(tuple(int(i) for i in sg.OutputsAsNumpy()) if sg.OutputsLength() else ())
        metadata = {}
        for i in range(model.MetadataLength()):
            m = model.Metadata(i)
            buf = model.Buffers(m.Buffer())
            metadata[_decode(m.Name())] = bytes(buf.DataAsNumpy().tobytes()) if buf.DataLength() else b""
    except (IndexError, AttributeError, TypeError) as e:  # a truncated / corrupt flatbuffer
        raise ValueError(f"Corrupt TFLite flatbuffer: {e}") from e
    return FlatModel(
        version=int(model.Version()),
        description=_decode(model.Description()),
        subgraph_names=sg_names,
        tensors=tensors,
        operators=operators,
        inputs=inputs,
        outputs=outputs,
        metadata=metadata,
        size_bytes=len(data),
        raw=data,
    )


def add_metadata(model_bytes: bytes, name: str, data: bytes) -> bytes:
    """Returns `model_bytes` with a metadata entry `name` holding `data` (replacing one of that name).

    Uses the schema's object API to unpack and re-pack the flatbuffer, the same way
    TensorFlow's `flatbuffer_utils` does. Models over 2 GB (buffers outside the flatbuffer)
    are not supported.
    """
    import flatbuffers

    s = schema()
    raw = _read_bytes(model_bytes)
    model = s.ModelT.InitFromPackedBuf(bytearray(raw), 0)
    if any(getattr(b, "offset", 0) > 1 for b in model.buffers or []):
        raise ValueError("Cannot add metadata to a model whose buffers live outside the flatbuffer (> 2 GB).")
    buffer = s.BufferT()
    buffer.data = np.frombuffer(data, dtype=np.uint8)
    entries = [m for m in (model.metadata or []) if _decode(m.name) != name]
    model.buffers = list(model.buffers or [])
    model.buffers.append(buffer)
    entry = s.MetadataT()
    entry.name = name
    entry.buffer = len(model.buffers) - 1
    entries.append(entry)
    model.metadata = entries
    builder = flatbuffers.Builder(len(raw) + len(data) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


__all__ = ["FlatModel", "Operator", "Tensor", "read_tflite", "add_metadata", "layer_from_tensor_name", "schema"]
