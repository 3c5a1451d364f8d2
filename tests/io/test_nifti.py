"""NIfTI in and out (superres.io.nifti) on the example files nibabel ships, read in place
from the installed package (never copied here)."""

from __future__ import annotations

from pathlib import Path

import nibabel
import numpy as np
import pytest

from superres.cli import main
from superres.errors import SuperresError
from superres.io import read_image
from superres.io.nifti import rescaled_affine, slice_axis
from tests.io.conftest import upscale


def nifti_file(name: str) -> Path:
    """An example file nibabel ships in its tests/data, from the installed package."""
    path = Path(nibabel.__file__).parent / "tests" / "data" / name
    if not path.is_file():
        pytest.fail(f"the installed nibabel does not ship {name}")
    return path


def first_corner(affine: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """World position of the first voxel's outer corner along ``axes``: its centre less half
    a voxel along each."""
    voxel = np.zeros(4)
    voxel[3] = 1
    voxel[list(axes)] = -0.5
    return (affine @ voxel)[:3]


def test_4d_series_in_plane(tmp_path, recwarn):
    src = nifti_file("example4d.nii.gz")
    upscale(src, tmp_path)
    before, after = nibabel.load(src), nibabel.load(tmp_path / "example4d_x2.nii.gz")
    assert before.shape == (128, 96, 24, 2) and after.shape == (256, 192, 24, 2)  # z and time untouched
    assert after.get_data_dtype() == before.get_data_dtype()
    for name in ("qform_code", "sform_code", "xyzt_units", "intent_code"):
        assert after.header[name] == before.header[name], name
    assert (after.dataobj.slope, after.dataobj.inter) == (before.dataobj.slope, before.dataobj.inter)
    old, new = before.affine, after.affine
    assert np.allclose(new[:3, :2], old[:3, :2] / 2, atol=1e-6) and np.allclose(
        new[:3, 2], old[:3, 2], atol=1e-6
    )
    assert np.allclose(first_corner(new, (0, 1)), first_corner(old, (0, 1)), atol=1e-4)
    moved = np.linalg.norm(new[:3, 3] - old[:3, 3])
    assert moved > 0.1
    assert np.allclose(after.header.get_zooms(), (1.0, 1.0, *before.header.get_zooms()[2:]), atol=1e-5)
    ratio = float(np.asarray(after.dataobj, float).mean() / np.asarray(before.dataobj, float).mean())
    assert abs(ratio - 1) < 0.01


def test_slice_axis_is_the_largest_voxel_size(tmp_path):
    src = nifti_file("standard.nii.gz")  # voxels 1 x 3 x 2: slices along y
    with pytest.warns(UserWarning, match="slice by slice along y"):
        image = read_image(src)
    assert image.pixels.shape == (4, 7, 5)
    upscale(src, tmp_path)
    after = nibabel.load(tmp_path / "standard_x2.nii.gz")
    assert after.shape == (8, 5, 14)
    assert np.allclose(np.diag(after.affine)[:3], (0.5, 3.0, 1.0))
    assert np.allclose(first_corner(after.affine, (0, 2)), first_corner(nibabel.load(src).affine, (0, 2)))


def test_second_reader(tmp_path):
    import SimpleITK as sitk  # noqa: N813 (its usual name)

    src = nifti_file("anatomical.nii")
    upscale(src, tmp_path)
    before, after = sitk.ReadImage(str(src)), sitk.ReadImage(str(tmp_path / "anatomical_x2.nii"))
    assert after.GetSize() == (66, 82, 25)
    assert np.allclose(after.GetSpacing(), (before.GetSpacing()[0] / 2, before.GetSpacing()[1] / 2, 2.0))
    assert after.GetDirection() == before.GetDirection()


def test_slice_axis_choice():
    assert slice_axis(np.diag([1.0, 1.0, 3.0, 1.0]), 3) == 2
    assert slice_axis(np.diag([4.0, 1.0, 1.0, 1.0]), 4) == 0
    assert slice_axis(np.diag([2.0, 2.0, 2.0, 1.0]), 3) == 2  # a tie: the last axis


def test_rescaled_affine_keeps_the_extent():
    affine = np.array([[0.0, -2, 0, 10], [3, 0, 0, -5], [0, 0, 4, 7], [0, 0, 0, 1]])
    new = rescaled_affine(affine, {0: 2.0, 1: 4.0})
    # old voxel 0 spans [-0.5, 0.5]; new voxels 0-1 (x2) and 0-3 (x4) span the same
    assert np.allclose(new @ [-0.5, -0.5, 0, 1], affine @ [-0.5, -0.5, 0, 1])
    assert np.allclose(new @ [1.5, 3.5, 0, 1], affine @ [0.5, 0.5, 0, 1])
    assert np.allclose(new[:3, 2], affine[:3, 2])


def test_scaling_and_type_kept(tmp_path):
    data = np.full((12, 10, 3), 300, np.int16)
    image = nibabel.Nifti1Image(data, np.diag([1.5, 1.5, 4.0, 1.0]))
    image.header.set_slope_inter(0.5, -100.0)
    nibabel.save(image, tmp_path / "flat.nii")
    assert read_image(tmp_path / "flat.nii").pixels[0, 0, 0] == 50.0  # 300 * 0.5 - 100
    upscale(tmp_path / "flat.nii", tmp_path / "out")
    after = nibabel.load(tmp_path / "out" / "flat_x2.nii")
    assert after.get_data_dtype() == np.int16 and (after.dataobj.slope, after.dataobj.inter) == (0.5, -100.0)
    assert np.array_equal(after.dataobj.get_unscaled(), np.full((24, 20, 3), 300, np.int16))


def test_bad_nifti_is_one_line(tmp_path, capsys):
    (tmp_path / "bad.nii").write_bytes(b"\x00" * 100)
    with pytest.raises(SuperresError, match=r"bad\.nii: not a readable NIfTI"):
        read_image(tmp_path / "bad.nii")
    assert main(["upscale", str(tmp_path / "bad.nii"), "-o", str(tmp_path / "out"), "-m", "bicubic"]) == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "bad.nii" in errors[0]


def test_png_output_refused_in_one_line(tmp_path, capsys):
    out = tmp_path / "a.png"
    assert (
        main(["upscale", str(nifti_file("standard.nii.gz")), "-o", str(out), "-m", "bicubic", "-s", "2"]) == 1
    )
    assert (
        "a NIfTI image can only be written as NIfTI (.nii or .nii.gz) or TIFF (.tif)"
        in capsys.readouterr().err
    )
    assert not out.exists()


def test_auto_model_says_the_slice_axis_once(tmp_path, capsys):
    import warnings

    src = nifti_file("standard.nii.gz")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["upscale", str(src), "-o", str(tmp_path), "-s", "2"]) == 0
    said = [str(w.message) for w in caught if "slice by slice along y" in str(w.message)]
    assert len(said) == 1 and said[0].startswith(str(src))
    assert "standard.nii.gz: clean ->" in capsys.readouterr().err
    assert nibabel.load(tmp_path / "standard_x2.nii.gz").shape == (8, 5, 14)


def test_nifti2_stays_nifti2(tmp_path):
    src = nifti_file("example_nifti2.nii.gz")
    upscale(src, tmp_path)
    before, after = nibabel.load(src), nibabel.load(tmp_path / "example_nifti2_x2.nii.gz")
    assert isinstance(after, nibabel.Nifti2Image) and after.shape == (64, 40, 12, 2)
    assert np.allclose(first_corner(after.affine, (0, 1)), first_corner(before.affine, (0, 1)), atol=1e-4)


def test_python_api_names_nii_gz(tmp_path):
    import shutil

    import superres

    shutil.copy(nifti_file("standard.nii.gz"), tmp_path / "vol.nii.gz")
    written = superres.upscale(tmp_path / "vol.nii.gz", model=superres.load_model("bicubic", scale=2))
    assert written == tmp_path / "vol_x2.nii.gz" and nibabel.load(written).shape == (8, 5, 14)


def test_eval_scores_every_slice_of_a_volume(tmp_path):
    """A 4-D volume (24 slices x 2 time points) gives 48 scored slices, one offset for all."""
    import shutil

    from superres.evaluate import evaluate_folder
    from superres.models import load_model

    (tmp_path / "set").mkdir()
    shutil.copy(nifti_file("example4d.nii.gz"), tmp_path / "set" / "mri.nii.gz")
    result = evaluate_folder(load_model("bicubic", scale=2), tmp_path / "set")
    assert [image.name for image in result.images] == [f"mri.nii[{k}]" for k in range(48)]
    scores = [image.scores["psnr"] for image in result.images]
    assert all(np.isfinite(scores)) and len(set(np.round(scores, 6))) > 40  # each slice its own
