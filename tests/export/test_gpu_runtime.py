"""LiteRT's GPU accelerator at run time (`kerasfer.export.gpu_runtime`).

The GPU tests compile with the GPU accelerator alone and compare with the CPU run of the same file. They use the
system's Vulkan adapter, else SwiftShader (a CPU Vulkan that Dawn accepts, found by `find_swiftshader_icd`: Debian's
`chromium-common` files, `$KERASFER_SWIFTSHADER_ICD` or `~/.cache/kerasfer/swiftshader`), and skip with
`gpu_available`'s reason where there is neither. The log-parsing and argument tests need no GPU.
"""

import json

import numpy as np
import pytest

from kerasfer.export import gpu_runtime

ATOL = 1e-3
GPU_MARKS = [pytest.mark.tflite, pytest.mark.tf_only]


# ----------------------------------------------------------------------------------------------------------------
# Without a GPU


def test_probe_model_is_a_valid_tflite():
    pytest.importorskip("ai_edge_litert")
    from kerasfer.inference.runners import TFLiteRunner

    runner = TFLiteRunner(gpu_runtime.probe_model(), output="probabilities")
    x = np.ones((1, 2, 2, 4), np.float32)
    np.testing.assert_allclose(runner.raw(x), x + np.arange(16, dtype=np.float32).reshape(x.shape))


LAVAPIPE_LOG = """INFO: [delegate_webgpu.cc:342] Create WebGPU environment (use_low_power=0)
Warning: Vulkan shaderUniform*ArrayDynamicIndexing required.
 - While initializing adapter (backend=BackendType::Vulkan)
    at InitializeImpl (third_party/dawn/src/dawn/native/vulkan/PhysicalDeviceVk.cpp:256)

ERROR: [delegate_webgpu.cc:359] Failed to initialize WebGPU environment: INTERNAL: No adapters found
"""
NO_LOADER_LOG = """INFO: [delegate_webgpu.cc:342] Create WebGPU environment (use_low_power=0)
Warning: Couldn't load Vulkan: libvulkan.so.1: cannot open shared object file: No such file or \
directory
    at operator() (third_party/dawn/src/dawn/native/vulkan/BackendVk.cpp:368)

ERROR: [delegate_webgpu.cc:359] Failed to initialize WebGPU environment: INTERNAL: No adapters found
"""
NO_DRIVER_LOG = """Warning: loader_get_json: Failed to open JSON file /nonexistent.json
Warning: vkCreateInstance: Found no drivers!
Warning: vkCreateInstance failed with VK_ERROR_INCOMPATIBLE_DRIVER
ERROR: [delegate_webgpu.cc:359] Failed to initialize WebGPU environment: INTERNAL: No adapters found
"""
REFUSED_OPS_LOG = """INFO: [gpu_registry.cc:138] Dynamically loaded GPU accelerator(libLiteRtWebGpuAccelerator.so) \
registered.
I0000 00:00:1796188106.887688   27296 environment.cc:532] Selected adapter: SwiftShader Device (Subzero), \
arch=swiftshader, vendor=google, backend=Vulkan, adapterType=CPU / Software
ERROR: Following operations are not supported by GPU delegate:
ARG_MAX: Tensor type(INT64) is not supported. ArgMax
CAST: Tensor type(INT64) is not supported. ArgMax
1 operations will run on the GPU, and the remaining 3 operations will run on the CPU.
"""


def test_log_reasons_for_no_adapter():
    assert gpu_runtime._Log(LAVAPIPE_LOG).why_no_adapter() == (
        "Dawn refused the Vulkan adapter: Vulkan shaderUniform*ArrayDynamicIndexing required; no WebGPU adapter found"
    )
    why = gpu_runtime._Log(NO_LOADER_LOG).why_no_adapter()
    assert why.startswith("no Vulkan loader (libvulkan.so.1: cannot open shared object file")
    assert "libvulkan1" in why
    why = gpu_runtime._Log(NO_DRIVER_LOG).why_no_adapter()
    assert "the Vulkan loader found no driver (cannot open /nonexistent.json)" in why
    assert gpu_runtime._Log(REFUSED_OPS_LOG).why_no_adapter() is None  # an adapter was selected


def test_log_refused_ops_adapter_and_accelerator():
    log = gpu_runtime._Log(REFUSED_OPS_LOG)
    assert log.unsupported_ops() == (
        gpu_runtime.UnsupportedOp("ARG_MAX", "Tensor type(INT64) is not supported. ArgMax"),
        gpu_runtime.UnsupportedOp("CAST", "Tensor type(INT64) is not supported. ArgMax"),
    )
    assert log.adapter.startswith("SwiftShader Device (Subzero), arch=swiftshader")
    assert log.accelerator == "libLiteRtWebGpuAccelerator.so"
    assert log.delegate_summary.startswith("1 operations will run on the GPU, and the remaining 3")
    assert gpu_runtime._Log(LAVAPIPE_LOG).unsupported_ops() == ()


def _fake_icd(folder, library="libvk_fake.so", make_library=True):
    folder.mkdir(parents=True, exist_ok=True)
    icd = folder / gpu_runtime.SWIFTSHADER_ICD_NAME
    icd.write_text(json.dumps({"file_format_version": "1.0.0", "ICD": {"library_path": f"./{library}"}}))
    if make_library:
        (folder / library).write_bytes(b"")
    return icd


def test_find_swiftshader_icd(tmp_path, monkeypatch):
    icd = _fake_icd(tmp_path / "deb" / "usr" / "lib" / "chromium")
    # a folder laid out as `dpkg-deb -x chromium-common_*.deb DIR` does, the manifest itself, the variable
    assert gpu_runtime.find_swiftshader_icd([tmp_path / "deb"]) == icd.resolve()
    assert gpu_runtime.find_swiftshader_icd([icd]) == icd.resolve()
    monkeypatch.setenv(gpu_runtime.SWIFTSHADER_ICD_ENV, str(tmp_path / "deb"))
    assert gpu_runtime.find_swiftshader_icd() == icd.resolve()
    # a manifest whose driver library is missing does not count
    broken = _fake_icd(tmp_path / "broken", make_library=False)
    assert gpu_runtime.find_swiftshader_icd([broken]) == icd.resolve()


def test_vulkan_environment(tmp_path):
    icd = _fake_icd(tmp_path / "icd")
    (tmp_path / "icd" / gpu_runtime.VULKAN_LOADER).write_bytes(b"")
    env = gpu_runtime.vulkan_environment(icd, vulkan_loader=tmp_path / "icd", base={"LD_LIBRARY_PATH": "/x"})
    assert env["VK_ICD_FILENAMES"] == env["VK_DRIVER_FILES"] == str(icd.resolve())
    assert env["LD_LIBRARY_PATH"] == f"{tmp_path / 'icd'}:/x"
    assert gpu_runtime.vulkan_environment(None, base={"A": "1"}) == {"A": "1"}
    with pytest.raises(gpu_runtime.GpuUnavailableError, match="No Vulkan ICD manifest at"):
        gpu_runtime.vulkan_environment(tmp_path / "nothing.json")
    with pytest.raises(gpu_runtime.GpuUnavailableError, match="names a driver library that does not exist"):
        gpu_runtime.vulkan_environment(_fake_icd(tmp_path / "broken", make_library=False))
    with pytest.raises(gpu_runtime.GpuUnavailableError, match="No libvulkan.so.1 at"):
        gpu_runtime.vulkan_environment(icd, vulkan_loader=tmp_path)


def test_gpu_available_says_why_not(tmp_path):
    ok, reason = gpu_runtime.gpu_available(tmp_path / "nothing.json")
    assert not ok
    assert reason.startswith("No Vulkan ICD manifest at") or "ai-edge-litert" in reason


def test_run_on_gpu_bad_arguments(tmp_path):
    pytest.importorskip("ai_edge_litert")
    with pytest.raises(FileNotFoundError, match="no_such.tflite"):
        gpu_runtime.run_on_gpu(tmp_path / "no_such.tflite", np.zeros((1, 2, 2, 4)))
    with pytest.raises(ValueError, match=r"Expected images of shape \(N, 2, 2, 4\)"):
        gpu_runtime.run_on_gpu(gpu_runtime.probe_model(), np.zeros((1, 3, 3, 4)))
    with pytest.raises(ValueError, match="NaN"):
        gpu_runtime.run_on_gpu(gpu_runtime.probe_model(), np.full((1, 2, 2, 4), np.nan))
    with pytest.raises(ValueError, match="runs and warmup"):
        gpu_runtime.run_on_gpu(gpu_runtime.probe_model(), np.zeros((1, 2, 2, 4)), runs=-1)


# ----------------------------------------------------------------------------------------------------------------
# On a GPU adapter (the system's, else SwiftShader)


@pytest.fixture(scope="module")
def vulkan_icd():
    """`"auto"` when LiteRT's GPU accelerator finds an adapter (the system's or SwiftShader's), else a skip."""
    pytest.importorskip("ai_edge_litert")
    ok, reason = gpu_runtime.gpu_available("auto")
    if not ok:
        pytest.skip(f"no GPU adapter for LiteRT's GPU accelerator: {reason}")
    return "auto"


def _images(shape, n=3, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (n, *shape)).astype(np.float32)


def _assert_matches_cpu(content, shape, vulkan_icd, label):
    result = gpu_runtime.run_on_gpu(content, _images(shape), runs=3, warmup=1, vulkan_icd=vulkan_icd)
    assert result.fully_accelerated, f"{label}: {result.summary()}"
    assert result.not_accelerated == ()
    assert result.outputs.shape == result.cpu_outputs.shape == (3, 7)
    # the comparison means something only when the outputs differ between images and classes
    assert result.cpu_outputs.std() > 1e-2, f"{label}: degenerate CPU outputs {result.cpu_outputs}"
    assert result.max_abs_diff <= ATOL, f"{label}: {result.summary()}"
    assert result.runs == 3 and result.gpu_median_ms > 0 and result.cpu_median_ms > 0
    assert result.adapter and result.accelerator
    return result


def _tiny_model():
    import keras

    inputs = keras.Input((32, 32, 1))
    x = keras.layers.Rescaling(1 / 255.0)(inputs)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(x)
    x = keras.layers.DepthwiseConv2D(3, strides=2, padding="same")(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.ReLU(6.0)(x)
    x = keras.layers.Conv2D(16, 1, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(7, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="tiny")


@pytest.mark.tflite
@pytest.mark.tf_only
@pytest.mark.parametrize("quantization", ["fp32", "fp16"])
def test_tiny_model_runs_fully_on_the_gpu(vulkan_icd, quantization):
    from kerasfer.export import tflite
    from kerasfer.testing.test_case import randomize_batchnorm

    model = _tiny_model()
    randomize_batchnorm(model)
    content = tflite.convert(model, quantization)
    _assert_matches_cpu(content, (32, 32, 1), vulkan_icd, f"tiny {quantization}")


def _registered(name, side):
    from kerasfer import models

    if name not in models.list_models():
        pytest.skip(f"{name} is not registered")
    if name == "shufflenet_v2_x0_5":  # the packaged FER2013 weights: a trained model's outputs
        return models.create_model(name, weights="fer2013")
    from kerasfer.testing.test_case import randomize_batchnorm

    model = models.create_model(name, input_shape=(side, side, 1))
    randomize_batchnorm(model)  # untouched BN layers make untrained outputs (nearly) uniform
    return model


@pytest.mark.tflite
@pytest.mark.tf_only
@pytest.mark.parametrize("name, side", [("shufflenet_v2_x0_5", 64), ("sdnet", 48)])
def test_small_registered_models_run_fully_on_the_gpu(vulkan_icd, name, side):
    from kerasfer.export import tflite

    model = _registered(name, side)
    shape = tuple(int(d) for d in model.inputs[0].shape[1:])
    for quantization in ("fp32", "fp16"):
        _assert_matches_cpu(tflite.convert(model, quantization), shape, vulkan_icd, f"{name} {quantization}")


@pytest.mark.tflite
@pytest.mark.tf_only
def test_refused_op_is_reported_not_run_on_the_cpu(vulkan_icd):
    import tensorflow as tf

    def fn(x):
        return tf.nn.local_response_normalization(x * 2.0) + 1.0

    concrete = tf.function(fn, input_signature=[tf.TensorSpec((1, 4, 4, 8), tf.float32)]).get_concrete_function()
    content = tf.lite.TFLiteConverter.from_concrete_functions([concrete], None).convert()
    images = np.random.default_rng(0).normal(size=(2, 4, 4, 8)).astype(np.float32)

    result = gpu_runtime.run_on_gpu(content, images, runs=1, warmup=0, vulkan_icd=vulkan_icd)
    assert not result.fully_accelerated
    assert [op.op for op in result.not_accelerated] == ["LOCAL_RESPONSE_NORMALIZATION"]
    assert result.outputs is None and result.max_abs_diff is None
    assert "GPU accelerator alone cannot run this graph" in result.error

    split = gpu_runtime.run_on_gpu(content, images, runs=1, warmup=0, vulkan_icd=vulkan_icd, allow_cpu_fallback=True)
    assert not split.fully_accelerated
    assert split.accelerators == "gpu+cpu"
    assert [op.op for op in split.not_accelerated] == ["LOCAL_RESPONSE_NORMALIZATION"]
    assert split.max_abs_diff <= ATOL
