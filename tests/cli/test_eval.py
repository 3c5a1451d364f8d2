"""`superres eval`: formats, paired LR/HR folders, saved images and errors."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from PIL import Image

from superres.cli import main
from tests.conftest import CHAIN_WEIGHTS, requantised_folder


def test_eval_json_per_image_and_saved_images(shared, tmp_path, capsys):
    code = main(
        ["eval", "-m", "bicubic", "-s", "3", "--data", str(shared / "data/test/Set5"), "--per-image",
         "--format", "json", "--save-images", str(tmp_path / "sr"), "--metrics", "psnr,ssim,niqe",
         "--niqe-params", str(shared / "data/niqe/niqe_pris_params.npz"), "-q"]
    )  # fmt: skip
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    (set5,) = report["sets"]
    assert set5["name"] == "Set5" and set5["images"] == 5 and len(set5["per_image"]) == 5
    assert abs(set5["psnr"] - 30.39) <= 0.03 and 0 < set5["ssim"] < 1 and set5["niqe"] > 0
    names = ["baby", "bird", "butterfly", "head", "woman"]
    assert sorted(p.name for p in (tmp_path / "sr/Set5").iterdir()) == [f"{n}.png" for n in names]


def test_paired_lr_hr_folders_use_the_given_lr(shared, tmp_path, capsys):
    """Set5 with the MATLAB-made LR images: bicubic x2 scores the published 33.66 too."""
    data = tmp_path / "Set5pair"
    (data / "HR").mkdir(parents=True)
    (data / "LR").mkdir()
    for hr in (shared / "data/test/Set5").glob("*.png"):
        os.symlink(hr, data / "HR" / hr.name)
    os.symlink(shared / "data/test-lr/Set5/x2", data / "LR/x2")
    assert main(["eval", "-m", "bicubic", "-s", "2", "--data", str(data), "--format", "csv", "-q"]) == 0
    row = capsys.readouterr().out.strip().splitlines()[-1].split(",")
    assert row[:2] == ["Set5pair", "mean of 5"] and abs(float(row[2]) - 33.66) <= 0.03


def test_eval_errors(tmp_path, capsys):
    import tifffile

    folder, small = tmp_path / "imgs", tmp_path / "small"
    folder.mkdir()
    small.mkdir()
    tifffile.imwrite(folder / "float.tif", np.zeros((32, 32), np.float32))
    Image.fromarray(np.zeros((14, 16), np.uint8)).save(small / "tiny.png")  # too small for SSIM's window
    assert main(["eval", "-m", "bicubic", "-s", "2", "--data", str(tmp_path / "missing"), "-q"]) == 1
    assert main(["eval", "-m", "bicubic", "-s", "2", "--data", str(folder), "-q"]) == 1
    assert main(["eval", "-m", "bicubic", "--data", str(folder), "--metrics", "psnr,lpips", "-q"]) == 2
    assert main(["eval", "-m", "bicubic", "--data", str(folder), "--metrics", "niqe",
                 "--niqe-params", str(tmp_path / "nope.npz"), "-q"]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert "no such folder" in err and "8- or 16-bit images, found float32" in err
    assert "lpips" in err and "niqe_pris_params" in err
    assert main(["eval", "-m", "bicubic", "-s", "2", "--data", str(small), "-q"]) == 1
    assert "tiny is 16x14: too small for SSIM's 11-pixel window" in capsys.readouterr().err
    assert main(["eval", "-m", "bicubic", "-s", "2", "--data", str(small), "--metrics", "psnr", "-q"]) == 0
    # Two sets of one name would save their images into one folder, one overwriting the other
    (tmp_path / "b" / "small").mkdir(parents=True)
    both = ["--data", str(small), str(tmp_path / "b" / "small"), "--save-images", str(tmp_path / "out")]
    assert main(["eval", "-m", "bicubic", "-s", "2", *both, "--metrics", "psnr", "-q"]) == 2
    assert "two --data folders are named small" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_images_too_small_to_score_are_a_one_line_error(tmp_path, capsys):
    """An image smaller than the scale, or too small for a metric's crop, window or blur, is a
    one-line error naming the metric and the size it needs, not a traceback or a NaN."""
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "eight.png")
    command = ["eval", "-m", "bicubic", "-s", "4", "--data", str(tmp_path), "-q", "--metrics"]
    assert main([*command, "psnr"]) == 1
    assert (
        "eight is 8x8: too small to keep a pixel after cropping 4 pixels from each border"
        in capsys.readouterr().err
    )
    assert main([*command, "grid"]) == 1
    assert "eight is 8x8: too small for the grid metric's 13-pixel blur" in capsys.readouterr().err
    (tmp_path / "eight.png").unlink()
    Image.fromarray(np.zeros((3, 3, 3), np.uint8)).save(tmp_path / "three.png")
    assert main([*command, "psnr"]) == 1
    assert f"{tmp_path / 'three.png'}: image is smaller than the scale (4)" in capsys.readouterr().err


def test_eval_reports_grid_strength(shared, capsys):
    """bicubic output is smooth: no pattern repeating every 4 pixels."""
    args = ["eval", "-m", "bicubic", "-s", "4", "--data", str(shared / "data/test/Set5"), "-q",
            "--format", "json", "--metrics", "psnr,grid"]  # fmt: skip
    assert main(args) == 0
    (set5,) = json.loads(capsys.readouterr().out)["sets"]
    assert 0.0 <= set5["grid"] < 0.1 and set5["psnr"] == pytest.approx(28.43, abs=0.01)


@pytest.mark.slow
def test_eval_tta_scores_the_self_ensemble(shared, capsys):
    """--tta reaches the network: the x8 self-ensemble scores above the plain pass and says so."""
    model = str(CHAIN_WEIGHTS / "compact-x4.safetensors")
    args = ["eval", "-m", model, "--data", str(shared / "data/test/Set5"), "-q", "--format", "json",
            "--metrics", "psnr"]  # fmt: skip
    assert main(args) == 0
    plain = json.loads(capsys.readouterr().out)
    assert main([*args, "--tta"]) == 0
    ensemble = json.loads(capsys.readouterr().out)
    assert plain["tta"] is False and ensemble["tta"] is True
    assert ensemble["sets"][0]["psnr"] > plain["sets"][0]["psnr"] + 0.05
    assert main([*args[:-4], "--tta"]) == 0
    assert "x8 self-ensemble" in capsys.readouterr().out.splitlines()[0]


@pytest.mark.slow
def test_16_bit_sets_are_scored_by_their_bit_depth(shared, tmp_path, capsys):
    """`superres eval` refused 16-bit images. Set5 at 12 bits scores as it does at 8 bits
    (PSNR with 4095 as the peak); its LR images stay within 12 bits."""
    for name, peak in (("s8", 255), ("s12", 4095)):
        requantised_folder(shared / "data/test/Set5", tmp_path / name, peak)
    args = [
        "eval",
        "-m",
        str(CHAIN_WEIGHTS / "compact-x2.safetensors"),
        "--data",
        str(tmp_path / "s8"),
        str(tmp_path / "s12"),
        "--format",
        "json",
    ]
    assert main([*args, "-q"]) == 0
    eight, twelve = json.loads(capsys.readouterr().out)["sets"]
    assert abs(eight["psnr"] - twelve["psnr"]) < 0.05 and abs(eight["ssim"] - twelve["ssim"]) < 0.002


def test_lr_degradation_is_seeded_by_image_name():
    """Noise of the given sigma, the same for an image on every run, other for another image;
    JPEG after it; 16-bit images refused for JPEG."""
    from superres.errors import SuperresError
    from superres.evaluate import LRDegradation

    flat = np.full((64, 64, 3), 128, np.uint8)
    noisy = LRDegradation(noise_sigma=5).apply(flat, "baby")
    assert np.array_equal(noisy, LRDegradation(noise_sigma=5).apply(flat, "baby"))
    assert not np.array_equal(noisy, LRDegradation(noise_sigma=5).apply(flat, "bird"))
    assert np.std(noisy.astype(float) - 128) == pytest.approx(5, rel=0.05)
    both = LRDegradation(noise_sigma=5, jpeg_quality=50).apply(flat, "baby")
    assert both.shape == flat.shape and both.dtype == np.uint8 and not np.array_equal(both, noisy)
    assert np.array_equal(LRDegradation().apply(flat, "baby"), flat)
    wide = np.full((64, 64, 1), 2048, np.uint16)
    assert np.std(LRDegradation(noise_sigma=5).apply(wide, "x").astype(float)) > 5 * 4095 / 255 * 0.9
    # 12-bit data near its peak stays 12-bit: clipped to 4095, not to 65535, so inference maps
    # it by the same bit depth as the clean LR
    bright = np.full((64, 64, 1), 4090, np.uint16)
    assert LRDegradation(noise_sigma=5).apply(bright, "x").max() == 4095
    with pytest.raises(SuperresError, match="JPEG degradation needs 8-bit images"):
        LRDegradation(jpeg_quality=75).apply(wide, "x")
    # the eval options it names (benchmarks, model cards) make the same degradation
    from superres.cli import build_parser

    for degradation in (LRDegradation(noise_sigma=5, jpeg_quality=75), LRDegradation(noise_sigma=2.5)):
        args = build_parser().parse_args(["eval", "--data", "x", *degradation.eval_options().split()])
        assert LRDegradation(args.lr_noise, args.lr_jpeg) == degradation
    assert LRDegradation().eval_options() == ""


def test_jpeg_degradation_of_a_16_bit_image_names_its_path(tmp_path, capsys):
    """The error names the image file's path, not its stem ("a: ...")."""
    import tifffile

    folder = tmp_path / "set16"
    folder.mkdir()
    tifffile.imwrite(folder / "a.tif", np.full((32, 32, 3), 30000, np.uint16))
    args = ["eval", "-m", "bicubic", "-s", "2", "--data", str(folder), "-q", "--lr-jpeg", "75"]
    assert main(args) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert f"{folder / 'a.tif'}: JPEG degradation needs 8-bit images, found uint16" in err[0]


def test_eval_scores_degraded_lr(shared, capsys):
    """--lr-noise / --lr-jpeg reach the LR images (bicubic scores lower), and the report says so."""
    args = ["eval", "-m", "bicubic", "-s", "4", "--data", str(shared / "data/test/Set5"), "-q",
            "--metrics", "psnr", "--format", "json"]  # fmt: skip
    assert main(args) == 0
    clean = json.loads(capsys.readouterr().out)
    assert main([*args, "--lr-noise", "5", "--lr-jpeg", "75"]) == 0
    degraded = json.loads(capsys.readouterr().out)
    assert clean["lr"] == "clean LR"
    assert degraded["lr"] == "LR + Gaussian noise sigma 5 + JPEG quality 75"
    assert degraded["sets"][0]["psnr"] < clean["sets"][0]["psnr"] - 0.5
    assert main([*args[:-2], "--lr-jpeg", "75"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "bicubic (bicubic, x4, LR + JPEG quality 75)"
    for bad in (["--lr-jpeg", "0"], ["--lr-noise", "-1"], ["--lr-noise", "nan"]):
        with pytest.raises(SystemExit) as exit_info:
            main([*args, *bad])
        assert exit_info.value.code == 2
