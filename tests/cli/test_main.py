"""The `superres` command as a whole: usage errors, import cost, the console script, choices."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from superres.cli import main
from tests.conftest import smooth_image

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "option",
    [
        ["--tile", "-1"],
        ["--outscale", "0"],
        ["-s", "-2"],
        ["--tile-overlap", "-3"],
        ["--max-pixels", "0"],
        ["--quality", "0"],
        ["--quality", "101"],
    ],
)
def test_bad_numeric_options_are_usage_errors(tmp_path, option, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["upscale", str(tmp_path / "a.png"), *option])
    assert exc.value.code == 2 and "must be" in capsys.readouterr().err


def test_import_is_fast_and_loads_no_torch_or_training_code():
    code = (
        "import sys, superres; assert 'torch' not in sys.modules, 'torch imported';"
        "superres.upscale(__import__('numpy').zeros((4, 4, 3), 'uint8'), model='bicubic');"
        "assert not any(m.startswith('superres.train') for m in sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_console_script_runs(tmp_path):
    src = tmp_path / "a.png"
    Image.fromarray(smooth_image(8, 8)).save(src)
    exe = Path(sys.executable).parent / "superres"
    result = subprocess.run(
        [str(exe), "upscale", str(src), "-m", "bicubic", "-q"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "a_x4.png").is_file()


def test_cli_choices_are_the_library_s():
    """The parser spells out --precision and --alpha-upsampler choices and export's --opset
    (importing the library's constants would load torch for `superres --help`); they must
    stay the library's."""
    from superres.cli import build_parser
    from superres.engine.options import ALPHA_UPSAMPLERS
    from superres.models import PRECISIONS

    parser = build_parser()
    commands = next(a for a in parser._actions if a.choices and "upscale" in a.choices).choices
    found = {
        (command, action.dest): tuple(action.choices)
        for command in ("upscale", "eval")
        for action in commands[command]._actions
        if action.dest in ("precision", "alpha_upsampler")
    }
    assert found == {
        ("upscale", "precision"): PRECISIONS,
        ("upscale", "alpha_upsampler"): ALPHA_UPSAMPLERS,
        ("eval", "precision"): PRECISIONS,
    }
    from superres.export import OPSET

    assert commands["export"].get_default("opset") == OPSET
