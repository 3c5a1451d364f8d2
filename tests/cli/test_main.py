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


@pytest.mark.slow
def test_import_is_fast_and_loads_no_torch_or_training_code():
    code = (
        "import sys, superres; assert 'torch' not in sys.modules, 'torch imported';"
        "superres.upscale(__import__('numpy').zeros((4, 4, 3), 'uint8'), model='bicubic');"
        "assert not any(m.startswith('superres.train') for m in sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


@pytest.mark.slow
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


def _two_image_folder(tmp_path: Path) -> Path:
    src = tmp_path / "in"
    src.mkdir()
    for name in ("a", "b"):
        Image.fromarray(smooth_image(6, 6)).save(src / f"{name}.png")
    return src


def _failing_for_a(monkeypatch, exception: Exception) -> None:
    import superres.api

    real_upscale_file = superres.api.upscale_file

    def upscale_file(model, source, *rest, **kw):
        if Path(source).name == "a.png":
            raise exception
        return real_upscale_file(model, source, *rest, **kw)

    monkeypatch.setattr(superres.api, "upscale_file", upscale_file)


def test_any_exception_in_one_file_fails_that_file_and_the_batch_goes_on(tmp_path, capsys, monkeypatch):
    src = _two_image_folder(tmp_path)
    _failing_for_a(monkeypatch, KeyError("a bug"))
    monkeypatch.delenv("SUPERRES_DEBUG", raising=False)
    out = tmp_path / "out"
    assert main(["upscale", str(src), "-o", str(out), "-m", "bicubic", "-s", "2", "-q"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and "1 of 2 inputs failed" in err
    assert f"{src / 'a.png'}: KeyError: 'a bug' (--debug or SUPERRES_DEBUG=1 shows the traceback)" in err
    assert [p.name for p in out.iterdir()] == ["b_x2.png"]


@pytest.mark.parametrize("switch", ["option", "environment"])
def test_debug_shows_the_traceback(tmp_path, capsys, monkeypatch, switch):
    src = _two_image_folder(tmp_path)
    _failing_for_a(monkeypatch, KeyError("a bug"))
    args = ["upscale", str(src), "-o", str(tmp_path / "out"), "-m", "bicubic", "-s", "2", "-q"]
    if switch == "option":
        monkeypatch.delenv("SUPERRES_DEBUG", raising=False)
        args.insert(0, "--debug")
    else:
        monkeypatch.setenv("SUPERRES_DEBUG", "1")
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "KeyError: 'a bug'" in err


def test_any_exception_in_a_command_is_one_line_and_exit_1(tmp_path, capsys, monkeypatch):
    import superres.train.recipe

    def broken(*_args, **_kw):
        raise TypeError("a bug in the recipe loader")

    monkeypatch.setattr(superres.train.recipe, "load_recipe", broken)
    monkeypatch.delenv("SUPERRES_DEBUG", raising=False)
    assert main(["train", str(tmp_path / "r.yml")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: TypeError: a bug in the recipe loader") and len(err.splitlines()) == 1


def test_a_model_that_breaks_the_loader_is_an_unusable_model(tmp_path, capsys, monkeypatch):
    import superres.models

    def broken(*_args, **_kw):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(superres.models, "load_model", broken)
    src = _two_image_folder(tmp_path)
    assert main(["upscale", str(src), "-m", "weird.pth", "-q"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: weird.pth: ZeroDivisionError: division by zero")
    assert len(err.splitlines()) == 1


def test_a_newline_in_a_file_name_does_not_split_the_error_line(tmp_path, capsys):
    src = tmp_path / "in"
    src.mkdir()
    (src / "bad\nname.png").write_bytes(b"not an image")
    assert main(["upscale", str(src), "-o", str(tmp_path / "out"), "-m", "bicubic", "-s", "2", "-q"]) == 1
    lines = capsys.readouterr().err.splitlines()
    assert any(line.startswith("error: ") and "bad\\nname.png" in line for line in lines), lines
    assert all(line.startswith(("error: ", "1 of 1 inputs failed", "  ")) for line in lines), lines


@pytest.mark.parametrize(
    ("command", "option"),
    [
        ("upscale", ["--outscale", "inf"]),
        ("upscale", ["--outscale", "1e300"]),
        ("upscale", ["--outscale", "nan"]),
        ("upscale", ["--tile-overlap", "inf"]),
        ("eval", ["--lr-noise", "inf"]),
        ("eval", ["--lr-noise", "nan"]),
        ("eval", ["--metrics", ""]),
        ("eval", ["--metrics", " , "]),
    ],
)
def test_non_finite_numbers_and_empty_lists_are_usage_errors(tmp_path, capsys, command, option):
    Image.fromarray(smooth_image(6, 6)).save(tmp_path / "a.png")
    where = ["--data", str(tmp_path)] if command == "eval" else [str(tmp_path / "a.png")]
    try:
        code = main([command, *where, "-m", "bicubic", "-s", "2", "-q", *option])
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and "error:" in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png"]


def test_the_output_size_is_limited_before_any_work(tmp_path, capsys, monkeypatch):
    import superres.api

    def never(*_args, **_kw):
        raise AssertionError("upscaled a file whose result is over the limit")

    Image.fromarray(smooth_image(100, 100)).save(tmp_path / "a.png")
    monkeypatch.setattr(superres.api, "upscale_file", never)
    args = ["upscale", str(tmp_path / "a.png"), "-m", "bicubic", "-s", "2", "-q"]
    assert main([*args, "--max-output-pixels", "39999"]) == 1
    err = capsys.readouterr().err
    assert "a.png: the result would be 200x200 = 40,000 pixels, over --max-output-pixels (39,999)" in err
    # The default: 16x --max-pixels (a x4 of any input under it), here 16 x 10,000.
    assert main([*args, "--max-pixels", "10000", "--outscale", "4.1"]) == 1
    assert "168,100 pixels, over --max-output-pixels (160,000)" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png"]


def test_progress_bars_write_no_cursor_codes_into_a_redirected_log(tmp_path, capsys):
    Image.fromarray(smooth_image(12, 12)).save(tmp_path / "a.png")
    out = tmp_path / "out"
    assert main(["upscale", str(tmp_path / "a.png"), "-o", str(out), "-m", "bicubic", "-s", "2"]) == 0
    err = capsys.readouterr().err
    assert "\r" not in err and "\x1b[" not in err, repr(err)
    assert "wrote 1 image(s)" in err
    assert main(["eval", "--data", str(out), "-m", "bicubic", "-s", "2"]) == 0
    err = capsys.readouterr().err
    assert "\r" not in err and "\x1b[" not in err, repr(err)


def test_a_fifo_is_named_as_such_and_never_opened(tmp_path, capsys):
    import os

    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    Image.fromarray(smooth_image(6, 6)).save(tmp_path / "a.png")
    out = tmp_path / "out"
    args = ["upscale", str(fifo), str(tmp_path / "a.png"), "-o", str(out), "-m", "bicubic", "-s", "2"]
    assert main([*args, "-q"]) == 1  # opening it to read would wait for a writer forever
    err = capsys.readouterr().err
    assert f"error: {fifo}: a FIFO (named pipe), not an image file" in err and "no such file" not in err
    assert [p.name for p in out.iterdir()] == ["a_x2.png"]


def test_a_reader_that_stops_early_ends_the_command_quietly():
    """`superres models | head -1`: no 'error: Broken pipe' and no traceback at exit. The reader
    here (`true`) is gone before superres, importing torch, writes a line."""
    import subprocess
    import sys

    command = f"{sys.executable} -m superres models | true"
    pipeline = ["bash", "-o", "pipefail", "-c", command]
    done = subprocess.run(pipeline, capture_output=True, text=True, timeout=120)
    assert done.stderr == ""
    assert done.returncode == 141


def test_the_output_size_is_limited_for_files_pillow_cannot_open(tmp_path, capsys):
    """A 5-band float TIFF (read by tifffile, not Pillow): refused once read, before upscaling."""
    import numpy as np
    import tifffile

    bands = np.random.default_rng(0).random((100, 100, 5), dtype=np.float32)
    tifffile.imwrite(tmp_path / "bands.tif", bands, photometric="minisblack", planarconfig="contig")
    args = ["upscale", str(tmp_path / "bands.tif"), "-m", "bicubic", "-s", "2", "-q"]
    assert main([*args, "--max-output-pixels", "39999"]) == 1
    err = capsys.readouterr().err
    assert "bands.tif: the result would be 200x200 = 40,000 pixels, over --max-output-pixels (39,999)" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bands.tif"]
    assert main(args) == 0  # under the default limit
