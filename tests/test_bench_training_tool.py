"""`tools/bench_training.py --fit`: model specs, and one steady-state `model.fit` measurement."""

import pytest


def test_model_specs(load_tool):
    tool = load_tool("bench_training")
    assert tool.parse_spec("lfnsb", 48) == ("lfnsb", 48, 3)
    assert tool.parse_spec("sdnet:68", 48) == ("sdnet", 68, 1)
    assert tool.parse_spec("mobilefacenet:64:1", 48) == ("mobilefacenet", 64, 1)
    for bad in ("", "lfnsb:x", "lfnsb:48:2", "lfnsb:4", "a:1:2:3"):
        with pytest.raises(ValueError, match="model spec"):
            tool.parse_spec(bad, 48)


@pytest.mark.tf_only
def test_fit_case_times_the_steady_state(load_tool):
    tool = load_tool("bench_training")
    row = tool.fit_case("shufflenet_v2_x0_5", 32, 1, batch_size=4, steps=4)
    assert row["images"] == 8 and row["input"] == "32x32x1"  # batches 3 and 4 of 4
    assert row["images_per_s"] > 0 and row["cpu_ms_per_image"] > 0
    with pytest.raises(ValueError, match="--steps must be >= 3"):
        tool.fit_case("shufflenet_v2_x0_5", 32, 1, batch_size=4, steps=2)
