import subprocess
import sys

import pytest

from heartcare.cli import COMMAND_MODULES, build_parser, main

HEAVY_MODULES = ("torch", "matplotlib", "pydicom", "neurokit2", "h5py", "transformers")


def test_import_and_help_stay_light() -> None:
    # `import heartcare` and building the CLI must not pull heavy optional dependencies.
    code = (
        "import sys, heartcare, heartcare.cli; heartcare.cli.build_parser(); "
        f"print([m for m in {HEAVY_MODULES!r} if m in sys.modules])"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_every_command_module_registers_subcommands() -> None:
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command")
    assert len(subparsers.choices) >= len(COMMAND_MODULES)
    for name, subparser in subparsers.choices.items():
        assert subparser.format_help(), name


def test_no_command_prints_help_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage: heartcare" in capsys.readouterr().out


def test_errors_become_a_message_and_exit_code(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nothing.hea"
    assert main(["info", str(missing)]) == 1
    assert str(missing) in capsys.readouterr().err
