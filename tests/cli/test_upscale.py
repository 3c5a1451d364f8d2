"""`superres upscale`: batches, bad inputs, safety of files, notes."""

from __future__ import annotations

import hashlib
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image

import superres
from superres.cli import main
from superres.errors import SuperresError
from tests.conftest import smooth_image

ROOT = Path(__file__).resolve().parents[2]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _bomb_png(path: Path, side: int = 60_000) -> None:
    """A tiny file whose header claims side x side pixels."""
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


@pytest.fixture
def batch(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(smooth_image(12, 14)).save(src / "good.png")
    Image.fromarray(smooth_image(10, 10)).save(src / "good2.jpg")
    good = (src / "good.png").read_bytes()
    (src / "truncated.png").write_bytes(good[: len(good) // 2])
    (src / "empty.png").write_bytes(b"")
    (src / "notes.png").write_text("this is not an image\n")
    _bomb_png(src / "bomb.png")
    return src


def test_batch_continues_past_bad_files_and_reports_them(batch, tmp_path, capsys):
    before = {p.name: _digest(p) for p in batch.iterdir()}
    out = tmp_path / "out"
    code = main(["upscale", str(batch), "-o", str(out), "-m", "bicubic", "-s", "2", "-q"])
    err = capsys.readouterr().err
    assert code == 1
    assert sorted(p.name for p in out.iterdir()) == [
        "good2_x2.jpg",
        "good_x2.png",
    ]  # no partial or temp files
    assert "4 of 6 inputs failed" in err
    reasons = {
        "truncated.png": "truncated or corrupt",
        "empty.png": "empty file",
        "notes.png": "not an image",
        "bomb.png": "decompression bomb",
    }
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    for name, reason in reasons.items():
        matching = [line for line in lines if name in line]
        assert len(matching) == 1 and reason in matching[0], (name, lines)
    assert {p.name: _digest(p) for p in batch.iterdir()} == before  # inputs untouched


def test_bomb_limit_can_be_raised_explicitly(tmp_path):
    _bomb_png(tmp_path / "bomb.png", side=300)
    args = ["upscale", str(tmp_path / "bomb.png"), "-o", str(tmp_path / "o"), "-m", "bicubic", "-q"]
    assert main([*args, "--max-pixels", "10000"]) == 1
    assert main([*args, "--max-pixels", "100000"]) == 1  # decodes past the header, then fails as corrupt


def test_the_limit_can_be_raised_past_pillows_own(tmp_path, capsys):
    """Pillow refuses images over its own limit (178,956,970 pixels) when it opens them; a
    --max-pixels past it admits a 13400x13400 scan, which is not refused as a decompression
    bomb: decoding is attempted (and fails here: the file holds no pixels)."""
    from PIL import Image

    _bomb_png(tmp_path / "scan.png", side=13_400)
    args = ["upscale", str(tmp_path / "scan.png"), "-o", str(tmp_path / "o"), "-m", "bicubic", "-q"]
    limit = Image.MAX_IMAGE_PIXELS
    assert main([*args, "--max-pixels", "200000000"]) == 1
    assert "truncated or corrupt" in capsys.readouterr().err
    assert main(args) == 1
    assert "over the limit of 178,956,970" in capsys.readouterr().err
    assert limit == Image.MAX_IMAGE_PIXELS  # Pillow's process-wide setting is put back


def test_never_overwrites_an_input(tmp_path, capsys):
    src = tmp_path / "a.png"
    Image.fromarray(smooth_image(8, 8)).save(src)
    before = _digest(src)
    code = main(["upscale", str(src), "-o", str(tmp_path), "--suffix", "", "-m", "bicubic", "-q"])
    assert code == 1 and "overwrite an input" in capsys.readouterr().err
    assert _digest(src) == before
    with pytest.raises(SuperresError, match="overwrite the input"):
        superres.upscale(src, model="bicubic", output=src)


def test_two_inputs_with_one_output_name_never_overwrite_each_other(tmp_path, capsys):
    """photo.bmp and photo.png both give photo_x2.png with --ext png: the first keeps the name;
    the second fails, named, and overwrites nothing. A file named twice is one input, not a
    clash."""
    Image.fromarray(smooth_image(6, 6)).save(tmp_path / "photo.bmp")
    Image.fromarray(smooth_image(5, 5)).save(tmp_path / "photo.png")
    out = tmp_path / "out"
    args = ["upscale", str(tmp_path / "photo.bmp"), str(tmp_path / "photo.png"), str(tmp_path / "photo.png")]
    assert main([*args, "-o", str(out), "--ext", "png", "-m", "bicubic", "-s", "2", "-q"]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path / 'photo.png'}: its output {out / 'photo_x2.png'} is {tmp_path / 'photo.bmp'}'s" in err
    assert "1 of 2 inputs failed" in err
    assert [p.name for p in out.iterdir()] == ["photo_x2.png"] and Image.open(out / "photo_x2.png").size == (
        12,
        12,
    )
    assert main([*args[:2], "-o", str(out), "-m", "bicubic", "-s", "2", "-q"]) == 0


def test_an_output_that_cannot_hold_the_results_is_a_usage_error(tmp_path, capsys):
    """-o naming a file that is not an image, and -o out.png with two inputs, are usage errors
    (not a FileExistsError for every input, nor a folder called out.png); nothing is written."""
    Image.fromarray(smooth_image(6, 6)).save(tmp_path / "a.png")
    Image.fromarray(smooth_image(6, 6)).save(tmp_path / "b.png")
    (tmp_path / "notes.txt").write_text("mine")
    inputs = [str(tmp_path / "a.png"), str(tmp_path / "b.png")]
    assert main(["upscale", *inputs, "-o", str(tmp_path / "notes.txt"), "-m", "bicubic", "-q"]) == 2
    assert "-o names a file that is not an image; give a folder" in capsys.readouterr().err
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert main(["upscale", *inputs, "-o", str(tmp_path / "out.png"), "-m", "bicubic", "-q"]) == 2
    assert "-o names one image, but there are 2 inputs: give a folder" in capsys.readouterr().err
    assert not (tmp_path / "out.png").exists()
    assert main(["upscale", inputs[0], "-o", str(tmp_path / "out.png"), "-m", "bicubic", "-q"]) == 0
    assert Image.open(tmp_path / "out.png").size == (24, 24)


def test_a_folder_that_cannot_be_made_is_a_one_line_error(shared, tmp_path, capsys):
    """eval --save-images and train's output under a file gave NotADirectoryError tracebacks."""
    (tmp_path / "afile").write_text("")
    evaluate = ["eval", "-m", "bicubic", "-s", "2", "--data", str(shared / "data/test/Set5"), "-q"]
    assert main([*evaluate, "--metrics", "psnr", "--save-images", str(tmp_path / "afile")]) == 1
    assert f"error: {tmp_path / 'afile' / 'Set5'}: Not a directory" in capsys.readouterr().err
    recipe = str(ROOT / "recipes/tiny-test.yaml")
    settings = [f"output={tmp_path / 'afile'}", "train.iterations=1", "val.sets=[]"]
    assert main(["train", recipe, "-q", "--set", *settings]) == 1
    assert f"error: {tmp_path / 'afile' / 'tiny-test'}: Not a directory" in capsys.readouterr().err


def test_rerunning_a_folder_in_place_redoes_its_results_instead_of_upscaling_them(tmp_path, capsys):
    """A second run over a folder leaves out the first run's a_x2.png as an input (no
    a_x2_x2.png) and writes a.png's output afresh, rather than refusing to overwrite that 'input'."""
    Image.fromarray(smooth_image(6, 6)).save(tmp_path / "a.png")
    args = ["upscale", str(tmp_path), "-m", "bicubic", "-s", "2"]
    assert main([*args, "-q"]) == 0
    (tmp_path / "a_x2.png").write_bytes(b"stale")
    assert main(args) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "a_x2.png"]
    assert Image.open(tmp_path / "a_x2.png").size == (12, 12)
    note = f"left out 1 earlier result(s) of these inputs ({tmp_path / 'a_x2.png'})"
    assert note in capsys.readouterr().err
    # Named on the command line, it is an input like any other, and still never overwritten.
    named = [str(tmp_path / "a.png"), str(tmp_path / "a_x2.png")]
    assert main(["upscale", *named, "-m", "bicubic", "-s", "2", "-q"]) == 1
    assert Image.open(tmp_path / "a_x2.png").size == (12, 12) and (tmp_path / "a_x2_x2.png").is_file()


def test_skip_existing_resumes_a_batch(tmp_path, capsys):
    """An interrupted batch had to be redone whole; --skip-existing leaves out the inputs whose
    output exists (complete: outputs are written atomically)."""
    src = tmp_path / "in"
    src.mkdir()
    for name in ("a", "b", "c"):
        Image.fromarray(smooth_image(12, 14)).save(src / f"{name}.png")
    out = tmp_path / "out"
    assert main(["upscale", str(src / "a.png"), "-o", str(out), "-m", "bicubic", "-s", "2", "-q"]) == 0
    before = (out / "a_x2.png").stat().st_mtime_ns
    assert main(["upscale", str(src), "-o", str(out), "-m", "bicubic", "-s", "2", "--skip-existing"]) == 0
    err = capsys.readouterr().err
    assert "skipped 1 input(s) whose output exists" in err and "wrote 2 image(s)" in err
    assert (out / "a_x2.png").stat().st_mtime_ns == before
    assert sorted(p.name for p in out.iterdir()) == ["a_x2.png", "b_x2.png", "c_x2.png"]


def test_files_a_folder_holds_that_are_not_images_are_named_in_a_note(tmp_path, capsys):
    """A folder's files of other types are named in a note, not left out without a word, and a
    hidden ._NAME.png (macOS) does not fail the batch as a corrupt image: hidden files are
    left out, as shell globs do."""
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(smooth_image(12, 14)).save(src / "a.png")
    (src / "b.psd").write_bytes(b"8BPS")  # Photoshop: not a format superres reads
    (src / "notes.txt").write_text("x")
    (src / "._a.png").write_bytes(b"\x00\x05\x16\x07")  # macOS resource fork: hidden, not an image
    assert main(["upscale", str(src), "-o", str(tmp_path / "out"), "-m", "bicubic", "-s", "2"]) == 0
    err = capsys.readouterr().err
    assert "left out 2 file(s) of a type superres does not read (.psd, .txt)" in err
    assert "wrote 1 image(s)" in err


def test_a_result_too_large_for_webp_fails_before_the_upscale(tmp_path, capsys, monkeypatch):
    """A WebP result over 16383 pixels a side is refused before the upscale, and the batch goes
    on (no traceback from Pillow's ValueError after the whole upscale)."""
    import superres.api

    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(smooth_image(4, 8200)).save(src / "wide.png")
    Image.fromarray(smooth_image(12, 14)).save(src / "small.png")
    upscaled = []
    real_upscale_image = superres.api.upscale_image
    monkeypatch.setattr(
        superres.api, "upscale_image", lambda *a, **k: upscaled.append(1) or real_upscale_image(*a, **k)
    )
    out = tmp_path / "out"
    args = ["upscale", str(src), "-o", str(out), "-m", "bicubic", "-s", "2", "--ext", "webp", "-q"]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "1 of 2 inputs failed" in err
    assert "wide.png: the result would be 16400x8 pixels; WebP holds at most 16383 a side" in err
    assert "Traceback" not in err
    assert [p.name for p in out.iterdir()] == ["small_x2.webp"] and len(upscaled) == 1


def test_an_encoder_value_error_fails_one_file_not_the_batch(tmp_path, capsys, monkeypatch):
    import superres.api

    src = tmp_path / "in"
    src.mkdir()
    for name in ("a", "b"):
        Image.fromarray(smooth_image(12, 14)).save(src / f"{name}.png")
    real_upscale_file = superres.api.upscale_file

    def failing_for_a(model, source, *rest, **kw):
        if Path(source).name == "a.png":
            raise ValueError("encoding error 5: something the encoder refused")
        return real_upscale_file(model, source, *rest, **kw)

    monkeypatch.setattr(superres.api, "upscale_file", failing_for_a)
    out = tmp_path / "out"
    assert main(["upscale", str(src), "-o", str(out), "-m", "bicubic", "-s", "2", "-q"]) == 1
    err = capsys.readouterr().err
    assert "a.png: ValueError: encoding error 5" in err and "1 of 2 inputs failed" in err
    assert [p.name for p in out.iterdir()] == ["b_x2.png"]


def test_quality_sets_the_jpeg_quality(tmp_path):
    src = tmp_path / "p.png"
    Image.fromarray(smooth_image(40, 40)).save(src)
    sizes = []
    for quality in ("30", "95"):
        target = tmp_path / f"q{quality}.jpg"
        assert (
            main(
                [
                    "upscale",
                    str(src),
                    "-o",
                    str(target),
                    "-m",
                    "bicubic",
                    "-s",
                    "2",
                    "--quality",
                    quality,
                    "-q",
                ]
            )
            == 0
        )
        sizes.append(target.stat().st_size)
    assert sizes[0] < sizes[1]


def test_failed_write_leaves_previous_output_intact(tmp_path, monkeypatch):
    import superres.io.write as sio

    src = tmp_path / "a.png"
    Image.fromarray(smooth_image(8, 8)).save(src)
    out = tmp_path / "out"
    assert main(["upscale", str(src), "-o", str(out), "-m", "bicubic", "-q"]) == 0
    previous = _digest(out / "a_x4.png")

    def crash(path, image, fmt, quality):
        Path(path).write_bytes(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(sio, "_write_pillow", crash)
    assert main(["upscale", str(src), "-o", str(out), "-m", "bicubic", "-q"]) == 1
    assert _digest(out / "a_x4.png") == previous
    assert [p.name for p in out.iterdir()] == ["a_x4.png"]


def test_wrong_weights_file_is_a_clean_error(tmp_path, capsys):
    src = tmp_path / "a.png"
    Image.fromarray(smooth_image(8, 8)).save(src)
    bad = tmp_path / "weights.pth"
    bad.write_bytes(b"garbage")
    assert main(["upscale", str(src), "-m", str(bad), "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(bad) in err[0]


def test_unknown_model_name(tmp_path, capsys):
    src = tmp_path / "a.png"
    Image.fromarray(smooth_image(8, 8)).save(src)
    assert main(["upscale", str(src), "-m", "nosuchmodel", "-q"]) == 2
    assert main(["upscale", str(src), "-m", "imdn", "-q"]) == 2
    err = capsys.readouterr().err
    assert "no model or weights file named 'nosuchmodel'" in err and "has no shipped weights" in err


def test_folders_recursive_and_globs(tmp_path):
    src = tmp_path / "photos"
    (src / "sub").mkdir(parents=True)
    for rel in ("a.png", "sub/b.png"):
        Image.fromarray(smooth_image(6, 6)).save(src / rel)
    assert main(["upscale", str(src), "-o", str(tmp_path / "flat"), "-m", "bicubic", "-s", "2", "-q"]) == 0
    assert sorted(p.name for p in (tmp_path / "flat").rglob("*.png")) == ["a_x2.png"]
    assert (
        main(["upscale", str(src), "-r", "-o", str(tmp_path / "deep"), "-m", "bicubic", "-s", "2", "-q"]) == 0
    )
    assert (tmp_path / "deep/sub/b_x2.png").is_file()
    assert main(["upscale", str(src / "*.png"), "-o", str(tmp_path / "glob"), "-m", "bicubic", "-q"]) == 0
    assert (tmp_path / "glob/a_x4.png").is_file()


def test_single_input_to_named_file_with_outscale(tmp_path):
    src = tmp_path / "a.png"
    Image.fromarray(smooth_image(10, 20)).save(src)
    target = tmp_path / "big.webp"
    assert main(["upscale", str(src), "-o", str(target), "-m", "bicubic", "--outscale", "3.5", "-q"]) == 0
    assert Image.open(target).size == (70, 35)


def test_shared_weights_through_the_cli(shared, tmp_path):
    src = tmp_path / "a.png"
    Image.fromarray(smooth_image(20, 24)).save(src)
    model = shared / "weights/imdn/IMDN_x3.pth"
    assert (
        main(["upscale", str(src), "-m", str(model), "-o", str(tmp_path), "--tta", "--tile", "16", "-q"]) == 0
    )
    assert Image.open(tmp_path / "a_x3.png").size == (72, 60)


@pytest.mark.parametrize("suffix", ["/../escaped", "_x2/..", "..", "_x2\\0"])
def test_a_suffix_that_is_a_path_is_a_usage_error(tmp_path, capsys, suffix):
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(smooth_image(6, 6)).save(src / "a.png")
    out = tmp_path / "in" / "out"
    suffix = suffix.replace("\\0", "\0")
    args = ["upscale", str(src / "a.png"), "-o", str(out), "--suffix", suffix, "-m", "bicubic", "-q"]
    assert main(args) == 2
    assert "--suffix must not hold a path separator" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a.png", "in"]


def test_an_existing_file_superres_did_not_write_is_never_replaced(tmp_path, capsys):
    Image.fromarray(smooth_image(6, 6)).save(tmp_path / "a.jpg")
    (tmp_path / "a.png").write_bytes(b"the user's own file")
    args = ["upscale", str(tmp_path / "a.jpg"), "--suffix", "", "--ext", "png", "-m", "bicubic", "-s", "2"]
    assert main(args) == 1
    assert "exists and superres did not write it; use --overwrite" in capsys.readouterr().err
    assert (tmp_path / "a.png").read_bytes() == b"the user's own file"
    assert main([*args, "--overwrite"]) == 0
    assert Image.open(tmp_path / "a.png").size == (12, 12)
    assert main(args) == 0  # now superres's own result: rewritten


def test_a_rerun_rewrites_its_own_results_and_no_user_file_of_that_name(tmp_path, capsys):
    for name in ("a", "b"):
        Image.fromarray(smooth_image(6, 6)).save(tmp_path / f"{name}.png")
    Image.fromarray(smooth_image(3, 3)).save(tmp_path / "b_x2.png")  # the user's own, by chance so named
    user_file = _digest(tmp_path / "b_x2.png")
    args = ["upscale", str(tmp_path), "-m", "bicubic", "-s", "2", "-q"]
    assert main(args) == 1
    assert f"output {tmp_path / 'b_x2.png'} exists and superres did not write it" in capsys.readouterr().err
    first = (tmp_path / "a_x2.png").stat().st_mtime_ns
    assert main(args) == 1
    assert (tmp_path / "a_x2.png").stat().st_mtime_ns != first  # its own result: rewritten
    assert _digest(tmp_path / "b_x2.png") == user_file


def test_temp_files_of_killed_runs_are_removed_by_the_next_run_into_the_folder(tmp_path):
    import os
    import socket
    import subprocess
    import sys

    code = "import os; print(os.getpid())"
    gone = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    out = tmp_path / "out"
    out.mkdir()
    host = socket.gethostname()
    killed = out / f".a_x2.superres-{int(gone.stdout)}.abcd_123.tmp.png"
    killed_here = out / f".c_x2.superres-{int(gone.stdout)}@{host}.abcd_123.tmp.png"
    running = out / f".b_x2.superres-{os.getpid()}@{host}.abcd_123.tmp.png"
    # Another machine writing into a shared folder: its process ids mean nothing here.
    elsewhere = out / f".d_x2.superres-{int(gone.stdout)}@not-{host}.abcd_123.tmp.png"
    users = [out / ".notes.abcd_123.tmp.png", out / ".a_x2.superres-1x.abcd_123.tmp.png"]
    for path in (killed, killed_here, running, elsewhere, *users):
        path.write_bytes(b"partial")
    Image.fromarray(smooth_image(6, 6)).save(tmp_path / "a.png")
    assert main(["upscale", str(tmp_path / "a.png"), "-o", str(out), "-m", "bicubic", "-s", "2", "-q"]) == 0
    assert not killed.exists() and not killed_here.exists()
    assert running.exists() and elsewhere.exists() and all(path.exists() for path in users)
    stale = os.stat(elsewhere).st_mtime - 2 * 24 * 3600
    os.utime(elsewhere, (stale, stale))
    assert main(["upscale", str(tmp_path / "a.png"), "-o", str(out), "-m", "bicubic", "-s", "2", "-q"]) == 0
    assert not elsewhere.exists() and running.exists()
