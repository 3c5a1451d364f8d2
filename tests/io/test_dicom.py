"""DICOM in and out (superres.io.dicom) on the test files pydicom ships, read in place from
the installed package (never copied here, never downloaded)."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pydicom
import pytest

from superres.cli import main
from superres.errors import SuperresError
from superres.io import read_image
from tests.io.conftest import upscale


def dicom_file(name: str) -> Path:
    """A test file pydicom ships, from the installed package (the test extra installs pydicom)."""
    path = Path(pydicom.__file__).parent / "data" / "test_files" / name
    if not path.is_file():
        pytest.fail(f"the installed pydicom does not ship {name}")
    return path


def corner(ds, spacing=None) -> np.ndarray:
    """Where the outer corner of the first pixel lies: its centre less half a pixel along
    the rows and the columns."""
    orientation = np.array([float(v) for v in ds.ImageOrientationPatient])
    row_spacing, col_spacing = (float(v) for v in (spacing or ds.PixelSpacing))
    position = np.array([float(v) for v in ds.ImagePositionPatient])
    return position - 0.5 * col_spacing * orientation[:3] - 0.5 * row_spacing * orientation[3:]


def test_ct_slice_round_trip(tmp_path):
    src = dicom_file("CT_small.dcm")
    upscale(src, tmp_path)
    out = tmp_path / "CT_small_x2.dcm"
    before, after = pydicom.dcmread(src), pydicom.dcmread(out)  # force=False: a valid file
    assert (after.Rows, after.Columns) == (2 * before.Rows, 2 * before.Columns)
    assert [float(v) for v in after.PixelSpacing] == [float(v) / 2 for v in before.PixelSpacing]
    assert list(after.ImageOrientationPatient) == list(before.ImageOrientationPatient)
    assert np.allclose(corner(after), corner(before), atol=1e-5)  # the same physical extent
    assert not np.allclose([float(v) for v in after.ImagePositionPatient], before.ImagePositionPatient)
    for keyword in ("Modality", "PatientName", "PatientID", "StudyInstanceUID", "FrameOfReferenceUID"):
        assert after.get(keyword) == before.get(keyword), keyword
    assert after.SOPInstanceUID != before.SOPInstanceUID
    assert after.SeriesInstanceUID != before.SeriesInstanceUID
    assert after.file_meta.MediaStorageSOPInstanceUID == after.SOPInstanceUID
    assert list(after.ImageType[:2]) == ["DERIVED", "SECONDARY"]
    assert "superres" in after.DerivationDescription and "bicubic" in after.DerivationDescription
    assert "x2" in after.DerivationDescription
    assert after.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    for keyword in ("BitsAllocated", "BitsStored", "HighBit", "PixelRepresentation", "RescaleIntercept"):
        assert after.get(keyword) == before.get(keyword), keyword
    assert after.pixel_array.dtype == before.pixel_array.dtype == np.int16


def test_second_reader(tmp_path):
    import SimpleITK as sitk  # noqa: N813 (its usual name)

    src = dicom_file("CT_small.dcm")
    upscale(src, tmp_path)
    before, after = sitk.ReadImage(str(src)), sitk.ReadImage(str(tmp_path / "CT_small_x2.dcm"))
    assert after.GetSize()[:2] == tuple(2 * n for n in before.GetSize()[:2])
    assert np.allclose(after.GetSpacing()[:2], np.array(before.GetSpacing()[:2]) / 2)
    hu_before, hu_after = sitk.GetArrayFromImage(before), sitk.GetArrayFromImage(after)
    assert abs(float(hu_after.mean()) - float(hu_before.mean())) < 1.0  # HU, same units


def test_values_are_modality_units():
    src = dicom_file("CT_small.dcm")
    ds = pydicom.dcmread(src)
    image = read_image(src)
    hu = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    assert image.pixels.dtype == np.float32 and image.source_format == "DICOM"
    assert np.array_equal(image.pixels[:, :, 0], hu.astype(np.float32))


def _flat_ct(path: Path, value: int, **changes) -> Path:
    """CT_small with a flat 40x40 region of stored ``value`` in the middle, and ``changes``."""
    ds = pydicom.dcmread(dicom_file("CT_small.dcm"))
    pixels = ds.pixel_array.copy()
    pixels[44:84, 44:84] = value
    ds.PixelData = pixels.tobytes()
    for keyword, new in changes.items():
        setattr(ds, keyword, new)
    ds.save_as(path)
    return path


def test_constant_hu_region_stays(tmp_path):
    src = _flat_ct(tmp_path / "flat.dcm", 1064)  # 1064 - 1024 = 40 HU, soft tissue
    upscale(src, tmp_path / "out")
    after = pydicom.dcmread(tmp_path / "out" / "flat_x2.dcm")
    hu = after.pixel_array[100:156, 100:156] * float(after.RescaleSlope) + float(after.RescaleIntercept)
    assert np.abs(hu - 40).max() <= 1


def test_monochrome1_written_back_as_stored(tmp_path):
    src = _flat_ct(
        tmp_path / "mono1.dcm", 1064, PhotometricInterpretation="MONOCHROME1", ImagerPixelSpacing=[0.4, 0.6]
    )
    image = read_image(src)
    assert image.pixels[60, 60, 0] == -40  # held negated: bright is high
    upscale(src, tmp_path / "out")
    after = pydicom.dcmread(tmp_path / "out" / "mono1_x2.dcm")
    assert after.PhotometricInterpretation == "MONOCHROME1"
    assert [float(v) for v in after.ImagerPixelSpacing] == [0.2, 0.3]
    assert np.abs(after.pixel_array[100:156, 100:156].astype(int) - 1064).max() <= 1


def test_12_bits_stored_stay_in_range(tmp_path):
    ds = pydicom.dcmread(dicom_file("MR_small.dcm"))
    pixels = np.clip(ds.pixel_array.astype(np.int32) * 8, 0, 4095).astype(np.uint16)
    pixels[:8] = 4095  # at the top of the range: a sharpening overshoot must clip
    ds.PixelData, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = pixels.tobytes(), 12, 11, 0
    ds.save_as(tmp_path / "mr12.dcm")
    upscale(tmp_path / "mr12.dcm", tmp_path / "out")
    after = pydicom.dcmread(tmp_path / "out" / "mr12_x2.dcm")
    assert (after.BitsStored, after.HighBit, after.PixelRepresentation) == (12, 11, 0)
    assert after.pixel_array.dtype == np.uint16 and after.pixel_array.max() <= 4095


@pytest.mark.parametrize(
    "name", ["MR_small_RLE.dcm", "MR_small_jp2klossless.dcm", "MR_small_jpeg_ls_lossless.dcm"]
)
def test_compressed_input_decodes_as_uncompressed(tmp_path, name):
    """RLE (pydicom), JPEG 2000 (Pillow) and JPEG-LS (pylibjpeg-libjpeg, in the medical extra)."""
    src = dicom_file(name)
    image = read_image(src)
    assert np.array_equal(image.pixels, read_image(dicom_file("MR_small.dcm")).pixels)
    upscale(src, tmp_path)
    after = pydicom.dcmread(tmp_path / f"{Path(name).stem}_x2.dcm")
    assert after.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert after.pixel_array.shape == (128, 128)


def test_undecodable_syntax_is_one_line(tmp_path):
    ds = pydicom.dcmread(dicom_file("MR_small.dcm"))
    ds.file_meta.TransferSyntaxUID = pydicom.uid.MPEG2MPML
    ds.PixelData = pydicom.encaps.encapsulate([b"\x00" * 64])
    ds["PixelData"].VR = "OB"
    ds.save_as(tmp_path / "mpeg.dcm")
    with pytest.raises(SuperresError) as info:
        read_image(tmp_path / "mpeg.dcm")
    message = str(info.value)
    assert "mpeg.dcm" in message and "MPEG2" in message and "\n" not in message


@pytest.mark.parametrize(
    ("name", "said"),
    [
        ("rtplan.dcm", "no pixel data"),
        ("MR_truncated.dcm", "truncated or corrupt"),
        ("dicomdirtests/DICOMDIR", "DICOMDIR"),
    ],
)
def test_bad_dicom_is_one_line(tmp_path, capsys, name, said):
    src = dicom_file(name)
    assert main(["upscale", str(src), "-o", str(tmp_path), "-m", "bicubic", "-s", "2"]) == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and str(src) in errors[0] and said in errors[0]
    assert not list(tmp_path.iterdir())


def test_truncated_header_is_one_line(tmp_path):
    data = dicom_file("CT_small.dcm").read_bytes()
    (tmp_path / "cut.dcm").write_bytes(data[:600])
    with pytest.raises(SuperresError, match=r"cut\.dcm: truncated or corrupt"):
        read_image(tmp_path / "cut.dcm")


def test_dicom_output_needs_dicom_input(tmp_path, capsys):
    from PIL import Image

    Image.new("L", (8, 8)).save(tmp_path / "a.png")
    assert main(["upscale", str(tmp_path / "a.png"), "-o", str(tmp_path / "a.dcm"), "-m", "bicubic"]) == 1
    assert "DICOM output needs a DICOM input" in capsys.readouterr().err


def test_multi_frame_rgb(tmp_path):
    src = dicom_file("SC_rgb_rle_2frame.dcm")
    image = read_image(src)
    assert image.stack is not None and image.stack.pages == 2 and image.pixels.shape[2] == 6
    upscale(src, tmp_path)
    after = pydicom.dcmread(tmp_path / "SC_rgb_rle_2frame_x2.dcm")
    assert int(after.NumberOfFrames) == 2 and after.PhotometricInterpretation == "RGB"
    assert after.pixel_array.shape == (2, 200, 200, 3)
    before = pydicom.dcmread(src).pixel_array.astype(float)
    assert abs(after.pixel_array.astype(float).mean() - before.mean()) < 2


def _enhanced_ct(path: Path) -> Path:
    """A two-frame enhanced-style CT from CT_small: spacing in the shared functional groups,
    each frame's position and rescale in its own."""
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    ds = pydicom.dcmread(dicom_file("CT_small.dcm"))
    frames = np.stack([ds.pixel_array, ds.pixel_array])
    spacing, position = list(ds.PixelSpacing), [float(v) for v in ds.ImagePositionPatient]
    orientation, intercept = list(ds.ImageOrientationPatient), ds.RescaleIntercept
    for keyword in ("PixelSpacing", "ImagePositionPatient", "ImageOrientationPatient", "RescaleIntercept"):
        delattr(ds, keyword)
    del ds.RescaleSlope
    shared = Dataset()
    shared.PixelMeasuresSequence = Sequence([Dataset()])
    shared.PixelMeasuresSequence[0].PixelSpacing = spacing
    shared.PixelMeasuresSequence[0].SliceThickness = "5"
    shared.PlaneOrientationSequence = Sequence([Dataset()])
    shared.PlaneOrientationSequence[0].ImageOrientationPatient = orientation
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    per_frame = []
    for z in range(2):
        item = Dataset()
        item.PlanePositionSequence = Sequence([Dataset()])
        item.PlanePositionSequence[0].ImagePositionPatient = [*position[:2], position[2] + 5 * z]
        item.PixelValueTransformationSequence = Sequence([Dataset()])
        item.PixelValueTransformationSequence[0].RescaleSlope = "1"
        item.PixelValueTransformationSequence[0].RescaleIntercept = intercept
        per_frame.append(item)
    ds.PerFrameFunctionalGroupsSequence = Sequence(per_frame)
    ds.NumberOfFrames, ds.PixelData = 2, frames.tobytes()
    ds.save_as(path)
    return path


def test_enhanced_multi_frame_geometry(tmp_path):
    src = _enhanced_ct(tmp_path / "enh.dcm")
    before = pydicom.dcmread(src)
    image = read_image(src)
    assert image.pixels.shape == (128, 128, 2)
    assert image.pixels.min() < -500  # the per-frame intercept (-1024) was applied
    upscale(src, tmp_path / "out")
    after = pydicom.dcmread(tmp_path / "out" / "enh_x2.dcm")
    old_spacing = [
        float(v) for v in before.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0].PixelSpacing
    ]
    new_spacing = [
        float(v) for v in after.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0].PixelSpacing
    ]
    assert new_spacing == [v / 2 for v in old_spacing]
    orientation = before.SharedFunctionalGroupsSequence[0].PlaneOrientationSequence[0].ImageOrientationPatient
    for old, new in zip(
        before.PerFrameFunctionalGroupsSequence, after.PerFrameFunctionalGroupsSequence, strict=True
    ):
        old_pos, new_pos = old.PlanePositionSequence[0], new.PlanePositionSequence[0]
        old_pos.ImageOrientationPatient = new_pos.ImageOrientationPatient = orientation
        assert np.allclose(
            corner(copy.deepcopy(new_pos), new_spacing), corner(old_pos, old_spacing), atol=1e-5
        )
    assert np.array_equal(after.pixel_array[0], after.pixel_array[1])


def test_eval_scores_dicom_by_its_own_range(tmp_path):
    import shutil

    from superres.evaluate import evaluate_folder
    from superres.io.medical import stored_pages
    from superres.models import load_model

    src = dicom_file("CT_small.dcm")
    ds = pydicom.dcmread(src)
    (values,), offset = stored_pages(read_image(src), src)
    assert offset == int(ds.pixel_array.min())
    assert np.array_equal(values.astype(int)[:, :, 0], ds.pixel_array.astype(int) - offset)
    (tmp_path / "set").mkdir()
    shutil.copy(src, tmp_path / "set" / "ct.dcm")
    result = evaluate_folder(load_model("bicubic", scale=2), tmp_path / "set")
    assert [image.name for image in result.images] == ["ct"]
    assert 35 < result.mean("psnr") < 60  # by its range in use (12 bits), not 65535 nor HU


def test_series_folder_gives_one_derived_series(tmp_path):
    import SimpleITK as sitk  # noqa: N813 (its usual name)

    series = tmp_path / "series"
    series.mkdir()
    for z in range(3):
        ds = pydicom.dcmread(dicom_file("CT_small.dcm"))
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
        ds.ImagePositionPatient = [*ds.ImagePositionPatient[:2], float(ds.ImagePositionPatient[2]) + 5 * z]
        ds.InstanceNumber = z + 1
        ds.save_as(series / f"slice{z}.dcm")
    upscale(series, tmp_path / "out")
    outputs = sorted((tmp_path / "out").glob("*.dcm"))
    read = [pydicom.dcmread(path) for path in outputs]
    assert len({ds.SeriesInstanceUID for ds in read}) == 1
    assert read[0].SeriesInstanceUID != pydicom.dcmread(series / "slice0.dcm").SeriesInstanceUID
    assert len({ds.SOPInstanceUID for ds in read}) == 3
    names = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(tmp_path / "out"))
    volume = sitk.ReadImage(names)
    assert volume.GetSize() == (256, 256, 3)
    assert np.allclose(volume.GetSpacing(), (0.330734, 0.330734, 5.0), atol=1e-5)


def test_file_without_extension_gives_dcm(tmp_path):
    (tmp_path / "IM0001").write_bytes(dicom_file("CT_small.dcm").read_bytes())
    upscale(tmp_path / "IM0001", tmp_path / "out")
    assert pydicom.dcmread(tmp_path / "out" / "IM0001_x2.dcm").Rows == 256


def test_folder_scan_finds_dicom_files_without_extension(tmp_path):
    scans = tmp_path / "scans"
    scans.mkdir()
    for name in ("IM0001", "1.2.840.113619.2.55.320"):  # as scanners name them
        (scans / name).write_bytes(dicom_file("CT_small.dcm").read_bytes())
    (scans / "NOTES").write_text("not an image")
    upscale(scans, tmp_path / "out")
    outputs = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert outputs == ["1.2.840.113619.2.55.320_x2.dcm", "IM0001_x2.dcm"]
    assert all(pydicom.dcmread(tmp_path / "out" / name).Rows == 256 for name in outputs)


def test_other_formats_do_not_import_pydicom(tmp_path):
    import subprocess
    import sys

    from PIL import Image

    Image.new("L", (8, 8)).save(tmp_path / "a.png")
    code = (
        "import sys; from superres.io import read_image; read_image(sys.argv[1]);"
        "print(sorted({'pydicom', 'nibabel'} & set(sys.modules)))"
    )
    run = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "a.png")], capture_output=True, text=True
    )
    assert run.returncode == 0 and run.stdout.strip() == "[]", run.stderr


@pytest.mark.parametrize("name", ["MR_small_bigendian.dcm", "MR_small_implicit.dcm"])
def test_other_encodings_written_as_explicit_little_endian(tmp_path, name):
    src = dicom_file(name)
    upscale(src, tmp_path)
    before, after = pydicom.dcmread(src), pydicom.dcmread(tmp_path / f"{Path(name).stem}_x2.dcm")
    assert after.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert after.PatientName == before.PatientName and after.Rows == 2 * before.Rows
    assert abs(float(after.pixel_array.mean()) - float(before.pixel_array.mean())) < 2


def test_auto_model_on_a_ct(tmp_path, capsys):
    import warnings

    src = dicom_file("CT_small.dcm")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["upscale", str(src), "-o", str(tmp_path), "-s", "2"]) == 0
    assert not [str(w.message) for w in caught]  # no Pillow warning on its TIFF-like preamble
    assert "CT_small.dcm: clean ->" in capsys.readouterr().err
    after = pydicom.dcmread(tmp_path / "CT_small_x2.dcm")
    assert after.Rows == 256 and "model " in after.DerivationDescription


def test_eval_scores_every_frame_of_a_multi_frame_file(tmp_path):
    import shutil

    from superres.evaluate import evaluate_folder
    from superres.models import load_model

    src = dicom_file("SC_rgb_rle_2frame.dcm")
    (tmp_path / "set").mkdir()
    shutil.copy(src, tmp_path / "set" / "sc.dcm")
    result = evaluate_folder(load_model("bicubic", scale=2), tmp_path / "set")
    assert [image.name for image in result.images] == ["sc[0]", "sc[1]"]
    assert result.images[0].scores["psnr"] != result.images[1].scores["psnr"]  # two different frames
