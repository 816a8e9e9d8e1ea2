"""`tools/bench_int8.py`: fp32 and int8 variants of one model, checked against Keras and timed in turn."""

import pytest

pytestmark = [pytest.mark.tflite, pytest.mark.tf_only]

pytest.importorskip("tensorflow")
pytest.importorskip("ai_edge_litert")


def test_rows_for_a_model_without_prelu(load_tool, capsys):
    tool = load_tool("bench_int8")
    assert tool.main(["--models", "sdnet", "--images", "8", "--rounds", "2", "--runs", "2"]) == 0
    printed = capsys.readouterr().out
    rows = [line for line in printed.splitlines() if line.startswith("| `sdnet`")]
    # sdnet has no PReLU: that variant is left out; its MEAN / MUL ops make the "cpu" one; fp32 is the reference
    assert [r.split(" | ")[2] for r in rows] == ["fp32", "int8", "int8 +float cpu"], printed
    assert " | 1.00 | 100.0% | 0.0000 |" in rows[0]
    assert "untrained, BN statistics randomised" in rows[1]


def test_bad_arguments(load_tool):
    tool = load_tool("bench_int8")
    with pytest.raises(SystemExit):
        tool.main(["--images", "2"])
