"""LiteRT latency benchmark: rows, XNNPACK toggle, table, JSON with the machine."""

import json

import numpy as np
import pytest

pytestmark = [pytest.mark.tflite, pytest.mark.tf_only]

keras = pytest.importorskip("keras")
pytest.importorskip("ai_edge_litert")

from kerasfer.export import bench  # noqa: E402
from kerasfer.export import tflite  # noqa: E402


@pytest.fixture(scope="module")
def tiny_tflite(tmp_path_factory):
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    out = keras.layers.Dense(7, activation="softmax", name="predictions")(x)
    path = tmp_path_factory.mktemp("bench") / "tiny_fp32.tflite"
    tflite.export_tflite(keras.Model(inputs, out, name="tiny"), path, "fp32", count_macs=False, gpu_check=False)
    return path


def test_benchmark_rows(tiny_tflite):
    rows = bench.benchmark(tiny_tflite, threads=(1, 2), xnnpack=(True, False), runs=5, warmup=1)
    assert [(r["threads"], r["xnnpack"]) for r in rows] == [(1, True), (1, False), (2, True), (2, False)]
    for r in rows:
        assert r["model"] == "tiny_fp32" and r["quantization"] == "fp32"
        assert r["size_bytes"] == tiny_tflite.stat().st_size
        assert r["runs"] == 5 and 0 < r["min_ms"] <= r["median_ms"] <= r["p90_ms"]
        assert np.isfinite(r["mean_ms"])
        # XNNPACK is LiteRT's default delegate; BUILTIN_WITHOUT_DEFAULT_DELEGATES turns it off
        assert r["delegated"] is r["xnnpack"]


def test_table_json_and_machine(tiny_tflite, tmp_path):
    rows = bench.benchmark(tiny_tflite.read_bytes(), threads=(1,), xnnpack=(True,), runs=3, warmup=0, name="t")
    table = bench.format_table(rows)
    assert table.splitlines()[0].startswith("| model | quant | size (bytes) | threads | XNNPACK | median ms")
    assert "| `t` |" in table
    doc = bench.write_json(rows, tmp_path / "b.json", extra={"note": "test"})
    loaded = json.loads((tmp_path / "b.json").read_text())
    assert loaded["rows"][0]["model"] == "t" and loaded["note"] == "test"
    assert loaded["machine"]["cpu_count"] >= 1 and loaded["machine"]["ai_edge_litert"]
    assert doc["reference_latency_ms"] == {"fer": 0.51, "facex": 25.0}


def test_interleaved_rows_and_ratios(tiny_tflite):
    content = tiny_tflite.read_bytes()
    rows = bench.interleaved({"a": tiny_tflite, "b": content}, rounds=3, runs=4, warmup=1)
    assert [r["model"] for r in rows] == ["a", "b"]
    assert rows[0]["ratio"] == 1.0 and rows[1]["ratio"] > 0
    assert rows[0]["quantization"] == "fp32" and rows[1]["quantization"] is None  # bytes carry no file card
    for r in rows:
        assert r["rounds"] == 3 and r["runs"] == 12 and 0 < r["min_ms"] <= r["median_ms"] <= r["p90_ms"]
        assert r["size_bytes"] == len(content) and r["delegated"] is True
    assert [r["model"] for r in bench.interleaved([tiny_tflite], rounds=1, runs=1, warmup=0)] == ["tiny_fp32"]
    table = bench.format_table(rows)
    assert "ratio to the first" in table.splitlines()[0] and "| 1.00 |" in table
    with pytest.raises(ValueError, match="rounds"):
        bench.interleaved([tiny_tflite], rounds=0)
    with pytest.raises(ValueError, match="at least one"):
        bench.interleaved({})
    with pytest.raises(FileNotFoundError):
        bench.interleaved([tiny_tflite.parent / "none.tflite"])


def test_where_it_stands_and_errors(tmp_path):
    assert bench.where_it_stands(0.3).startswith("faster than fer")
    assert "faster than facex" in bench.where_it_stands(5.0)
    assert "slower than facex" in bench.where_it_stands(50.0)
    with pytest.raises(FileNotFoundError):
        bench.benchmark(tmp_path / "none.tflite")
    with pytest.raises(ValueError, match="runs"):
        bench.time_invoke(b"", runs=0)
