import subprocess
import sys

from kerasfer import cli


def test_help_lists_commands(capsys):
    parser = cli.build_parser()
    help_text = parser.format_help()
    assert "models" in help_text
    assert cli.main([]) == 0


def test_version(capsys):
    assert cli.main(["--version"]) == 0
    from kerasfer.version import __version__

    assert capsys.readouterr().out.strip() == __version__


def test_help_does_not_import_tensorflow_datasets():
    code = "import sys; from kerasfer import cli; cli.build_parser(); print('tensorflow_datasets' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_help_and_version_import_neither_keras_nor_tensorflow():
    code = (
        "import sys; from kerasfer import cli; cli.build_parser().format_help(); "
        "print(sorted(m for m in ('keras', 'tensorflow', 'cv2') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"
    done = subprocess.run([sys.executable, "-m", "kerasfer", "--help"], capture_output=True, text=True, check=True)
    assert "predict" in done.stdout and done.stderr == ""


def test_import_kerasfer_then_keras_registers_the_custom_objects():
    """`import kerasfer` is lazy, yet a model saved with kerasfer layers loads with plain Keras afterwards."""
    code = (
        "import sys, kerasfer\n"
        "assert 'keras' not in sys.modules\n"
        "import keras\n"
        "assert 'kerasfer.layers' in sys.modules and 'kerasfer.losses' in sys.modules\n"
        "assert keras.saving.get_registered_object('kerasfer>ImageNormalization') is not None\n"
        "from kerasfer.layers import ImageNormalization\n"
        "print(kerasfer.models.list_models()[0])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]


def test_native_log_filter_drops_tensorflow_startup_lines_only():
    code = r"""
import os, sys
from kerasfer.cli import NativeLogFilter
with NativeLogFilter():
    os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n")
    os.write(2, b"I0000 00:00:1796186725.254088   27284 port.cc:153] oneDNN custom operations are on.\n")
    os.write(2, b"E0000 00:00:1796186729.500909   27284 cuda_platform.cc:52] failed call to cuInit: UNKNOWN\n")
    os.write(2, b"progress 1/2\r")
    os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n")  # issue 26, item 12: every predict
    os.write(2, b"fully_quantize: 0, inference_type: 6, input_inference_type: FLOAT32, output_inference_type: ")
    os.write(2, b"FLOAT32\n")  # ... and every int8 export (one line in two writes)
    os.write(2, b"INFO: a line that is not TensorFlow's\n")
    print("kerasfer predict: error: a real message", file=sys.stderr)
    os.write(2, b"E0000 00:00:1796186729.500909   27284 conv_ops.cc:52] a real native error\n")
print("done")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True)
    assert out.stdout == b"done\n"
    assert out.stderr == (
        b"progress 1/2\rINFO: a line that is not TensorFlow's\nkerasfer predict: error: a real message\n"
        b"E0000 00:00:1796186729.500909   27284 conv_ops.cc:52] a real native error\n"
    )


def test_debug_shows_the_traceback_of_user_errors_too(capsys, monkeypatch):
    """Issue 26, item 8: `KERASFER_DEBUG=1` adds the traceback to user errors (exit 2), as the README says."""

    def bad_input(args):
        raise ValueError("a user error")

    assert cli.run_command(bad_input, None, "predict") == 2
    assert capsys.readouterr().err == "kerasfer predict: error: a user error\n"
    monkeypatch.setenv("KERASFER_DEBUG", "1")
    assert cli.run_command(bad_input, None, "predict") == 2
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last)") and "in bad_input" in err
    assert err.endswith("kerasfer predict: error: a user error\n")
