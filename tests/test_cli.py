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
