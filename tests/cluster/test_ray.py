"""superres on Ray (superres.cluster.ray): a local Ray instance of 2 CPUs, one per module;
outputs byte-equal to the local command's, bad files failing alone, resumed runs."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import ray  # in the test extra: a missing Ray fails here, never skips
from PIL import Image

from superres.cli import main
from superres.io import read_image
from tests.conftest import smooth_image
from tests.io.conftest import srgb_icc

ROOT = Path(__file__).resolve().parents[2]
MODEL = ["-m", "compact-x2-kd", "-s", "2"]  # a shipped network (a few thousand weights): fast


@pytest.fixture(scope="module")
def cluster():
    """A local Ray instance for this module (about 5-10 s to start on 2 cores)."""
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR")
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    """A folder of small images with what the command must keep, and one broken file."""
    folder = tmp_path_factory.mktemp("photos")
    exif = Image.Exif()
    exif[0x010F] = "TestCam"  # Make
    exif[0x0112] = 6  # shown rotated
    Image.fromarray(smooth_image(12, 16, seed=1)).save(
        folder / "camera.jpg", exif=exif, icc_profile=srgb_icc()
    )
    Image.fromarray(smooth_image(14, 10, channels=4, seed=2)).save(
        folder / "logo.png", icc_profile=srgb_icc()
    )
    deep = (smooth_image(10, 12, seed=3).astype(np.uint16) * 257).astype(np.uint16)
    Image.fromarray(deep[:, :, 0]).save(folder / "gray16.png")
    for index in range(3):
        Image.fromarray(smooth_image(10 + index, 12, seed=4 + index)).save(folder / f"plain{index}.png")
    (folder / "broken.png").write_bytes((folder / "plain0.png").read_bytes()[:60])
    return folder


def _run(capsys, *args: str) -> tuple[int, str]:
    code = main(["upscale", *args, *MODEL, "-q"])
    return code, capsys.readouterr().err


@pytest.fixture(scope="module")
def local_out(photos, tmp_path_factory) -> Path:
    """The local command's results for ``photos``."""
    out = tmp_path_factory.mktemp("local")
    assert main(["upscale", str(photos), "-o", str(out), *MODEL, "-q"]) == 1  # broken.png
    return out


@pytest.mark.slow
def test_ray_outputs_equal_the_local_command_s_and_keep_metadata(
    cluster, photos, local_out, tmp_path, capsys
):
    out = tmp_path / "ray"
    code, err = _run(capsys, str(photos), "-o", str(out), "--ray", "auto", "--ray-workers", "2")
    assert code == 1
    assert f"1 of 7 inputs failed:\n  {photos / 'broken.png'}: " in err  # reported at the end, alone
    written = sorted(p.name for p in out.iterdir())
    assert written == sorted(p.name for p in local_out.iterdir()) and len(written) == 6
    for name in written:  # the same code writes them: byte for byte the same files
        assert (out / name).read_bytes() == (local_out / name).read_bytes(), name
    camera = Image.open(out / "camera_x2.jpg")
    assert camera.size == (24, 32)  # EXIF orientation applied, then reset
    icc = Image.open(photos / "camera.jpg").info["icc_profile"]
    assert camera.info["icc_profile"] == icc and camera.getexif()[0x010F] == "TestCam"
    assert (
        Image.open(out / "logo_x2.png").info["icc_profile"]
        == Image.open(photos / "logo.png").info["icc_profile"]
    )
    assert read_image(out / "gray16_x2.png").pixels.dtype == np.uint16


@pytest.mark.slow
def test_a_killed_job_run_again_upscales_only_the_rest(cluster, tmp_path, capsys):
    folder = tmp_path / "many"
    folder.mkdir()
    for index in range(16):
        Image.fromarray(smooth_image(64, 64, seed=index)).save(folder / f"p{index:02}.png")
    out = tmp_path / "out"
    args = [str(folder), "-o", str(out), "-m", "rlfn-s-x2"]
    address = ray.get_runtime_context().gcs_address  # HOST:PORT of the module's instance
    on_ray = ["--ray", address, "--ray-workers", "1", "--ray-batch-size", "1"]
    command = [sys.executable, "-m", "superres", "upscale", *args, *on_ray]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    log = tmp_path / "killed.log"
    with open(log, "wb") as said:
        job = subprocess.Popen(command, cwd=ROOT, env=env, stdout=said, stderr=said)
    deadline = time.monotonic() + 120
    while not _outputs(out) and job.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    job.kill()  # SIGKILL: the driver gone mid-job; Ray ends the job's actor
    job.wait()
    _until_still(out)
    finished = {path.name: path.stat() for path in _outputs(out)}  # a killed write's temp file aside
    assert 0 < len(finished) < 16, log.read_text()
    assert main(["upscale", *args, "--ray", "auto"]) == 0
    err = capsys.readouterr().err
    skipped = int(err.split("note: skipped ")[1].split()[0])
    assert skipped >= len(finished) and f"wrote {16 - skipped} image(s)" in err
    for name, before in finished.items():  # left as they were: not written again
        now = (out / name).stat()
        assert (now.st_ino, now.st_mtime_ns) == (before.st_ino, before.st_mtime_ns), name
    assert len(_outputs(out)) == 16 and not list(out.glob(".*"))  # no temp file left


def _outputs(folder: Path) -> list[Path]:
    """The finished outputs in ``folder``: not the hidden temp file of a write in progress."""
    return [path for path in folder.glob("*.png") if not path.name.startswith(".")]


def _until_still(folder: Path, timeout: float = 20) -> None:
    """Wait until nothing in ``folder`` changes for a second (a killed job's worker is gone)."""
    seen, deadline = None, time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            now = sorted((p.name, p.stat().st_mtime_ns) for p in folder.iterdir())
        except FileNotFoundError:  # a temporary file renamed meanwhile
            now = None
        if now == seen:
            return
        seen = now
        time.sleep(1)


@pytest.mark.slow
def test_upscale_dataset_of_encoded_images_and_arrays(cluster, photos, local_out):
    from superres.cluster.ray import upscale_dataset

    names = ["camera.jpg", "broken.png", "plain1.png"]
    rows = [{"path": str(photos / name), "bytes": (photos / name).read_bytes()} for name in names]
    data = ray.data.from_items(rows)
    kwargs = {"model": "compact-x2-kd", "scale": 2, "batch_size": 3, "concurrency": 1}
    done = {Path(r["path"]).name: r for r in upscale_dataset(data, **kwargs).take_all()}
    assert done["camera.jpg"]["bytes"] == (local_out / "camera_x2.jpg").read_bytes()  # as a file's result
    assert done["plain1.png"]["error"] == "" and done["broken.png"]["bytes"] is None
    assert done["broken.png"]["error"].startswith(f"{photos / 'broken.png'}: ")
    # One column's arrays share their number of dimensions (Ray's variable-shape tensor column).
    pixels = [smooth_image(8, 9, seed=7), smooth_image(6, 5, channels=4, seed=8)]
    arrays = ray.data.from_items([{"image": p} for p in pixels])
    results = sorted(
        (np.asarray(r["image"]) for r in upscale_dataset(arrays, **kwargs).take_all()), key=np.size
    )
    import superres

    expected = [superres.upscale(p, model="compact-x2-kd", scale=2) for p in reversed(pixels)]
    assert [r.shape for r in results] == [(12, 10, 4), (16, 18, 3)]
    assert all(np.array_equal(r, e) for r, e in zip(results, expected, strict=True))


def test_upscaler_reports_each_bad_row_and_keeps_the_rest(photos):
    from superres.cluster.ray import Upscaler

    upscaler = Upscaler(model="bicubic", scale=2, ext="png")
    batch = {"bytes": np.array([b"junk", (photos / "plain0.png").read_bytes()], dtype=object)}
    result = upscaler(batch)
    assert result["error"][0].startswith("image: ") and result["bytes"][0] is None
    assert result["error"][1] == "" and Image.open(__import__("io").BytesIO(result["bytes"][1])).size == (
        24,
        20,
    )
    with pytest.raises(Exception, match="needs a 'bytes', 'image' or 'source' and 'target' column"):
        upscaler({"pixels": np.zeros(1)})


def test_files_rows_never_replace_a_file_superres_did_not_write(photos, tmp_path):
    from superres.cluster.ray import Upscaler

    target = tmp_path / "out.png"
    target.write_bytes(b"mine")
    result = Upscaler(model="bicubic", scale=2)(
        {"source": [str(photos / "plain0.png")], "target": [str(target)]}
    )
    assert "superres did not write it" in result["error"][0] and target.read_bytes() == b"mine"


def test_ray_missing_is_one_line(photos, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if not installed
    code, err = _run(capsys, str(photos / "plain0.png"), "-o", str(tmp_path), "--ray", "auto")
    assert code == 1 and err.strip() == "error: --ray needs Ray: pip install 'superres[ray]'"


@pytest.mark.slow
def test_import_superres_and_the_local_command_do_not_import_ray(photos, tmp_path):
    code = (
        "import sys, superres\n"
        "from superres.io import read_image\n"
        f"read_image({str(photos / 'plain0.png')!r})\n"
        "from superres.cli import main\n"
        f"args = ['upscale', {str(photos / 'plain0.png')!r}, '-o', {str(tmp_path)!r}, '-m', 'bicubic']\n"
        "assert main([*args, '-q']) == 0\n"
        "print(sorted(m for m in ('ray', 'dask', 'av', 'fsspec') if m in sys.modules))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.slow
def test_file_urls_on_ray_equal_the_local_command_and_a_rerun_skips_them(
    cluster, photos, local_out, tmp_path, capsys
):
    out = tmp_path / "ray"
    code, err = _run(capsys, photos.as_uri(), "-o", out.as_uri(), "--ray", "auto", "--ray-workers", "2")
    assert code == 1
    assert err.endswith(
        f"1 of 7 inputs failed:\n  {photos.as_uri()}/broken.png: truncated or corrupt image"
        " (image file is truncated)\n"
    )
    written = sorted(p.name for p in out.iterdir())  # no temporary file left
    assert written == sorted(p.name for p in local_out.iterdir()) and len(written) == 6
    for name in written:
        assert (out / name).read_bytes() == (local_out / name).read_bytes(), name
    before = {p.name: p.stat() for p in out.iterdir()}
    assert main(["upscale", photos.as_uri(), "-o", out.as_uri(), *MODEL, "--ray", "auto"]) == 1
    err = capsys.readouterr().err
    assert "note: skipped 6 input(s) whose output exists" in err and "1 of 1 inputs failed" in err
    for name, stat in before.items():  # not written again
        now = (out / name).stat()
        assert (now.st_ino, now.st_mtime_ns) == (stat.st_ino, stat.st_mtime_ns), name


def test_a_url_row_fetches_upscales_and_uploads_and_leaves_no_local_file(photos, tmp_path, monkeypatch):
    from superres.cluster.ray import Upscaler

    local = tmp_path / "local"
    local.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(local))
    out = tmp_path / "out"
    rows = {
        "source": [(photos / "plain0.png").as_uri(), (photos / "broken.png").as_uri()],
        "target": [(out / "a.png").as_uri(), (out / "b.png").as_uri()],
    }
    result = Upscaler(model="bicubic", scale=2)(rows)
    assert result["error"][0] == "" and Image.open(out / "a.png").size == (24, 20)
    assert result["error"][1].startswith(f"{(photos / 'broken.png').as_uri()}: truncated")
    assert sorted(p.name for p in out.iterdir()) == ["a.png"] and list(local.iterdir()) == []


def test_upload_writes_a_temp_name_beside_the_target_then_moves_it(tmp_path, monkeypatch):
    from fsspec.implementations.local import LocalFileSystem

    from superres.atomic import _TEMP_NAME, written_by_superres
    from superres.cluster.ray_urls import upload

    source = tmp_path / "result.png"
    source.write_bytes(b"pixels")
    target = tmp_path / "out" / "photo_x2.png"
    moves = []
    real_mv = LocalFileSystem.mv
    monkeypatch.setattr(
        LocalFileSystem, "mv", lambda fs, a, b, **kw: moves.append((a, b)) or real_mv(fs, a, b)
    )
    upload(source, target.as_uri())
    assert target.read_bytes() == b"pixels" and written_by_superres(target)
    ((temp, moved_to),) = moves
    assert _TEMP_NAME.fullmatch(Path(temp).name) and Path(temp).parent == target.parent
    assert moved_to == str(target) and list(target.parent.iterdir()) == [target]

    def broken_mv(fs, a, b, **kw):  # the temp file is whole; the move fails
        raise OSError("store unavailable")

    monkeypatch.setattr(LocalFileSystem, "mv", broken_mv)
    other = target.with_name("other_x2.png")
    with pytest.raises(OSError, match="store unavailable"):
        upload(source, other.as_uri())
    assert list(target.parent.iterdir()) == [target]  # nothing at the target, no temp file left


def test_a_url_whose_protocol_package_is_missing_is_one_line(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "s3fs", None)  # as if not installed (it is not in the test extra)
    code, err = _run(capsys, "s3://bucket/photos", "-o", "s3://bucket/up", "--ray", "auto")
    assert (
        code == 2
        and err == "error: s3://bucket/photos: its protocol needs a package: Install s3fs to access S3\n"
    )


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (
            ["--ray-batch-size", "2"],
            "error: --ray-batch-size is for --ray: add --ray ADDRESS, or leave it out",
        ),
        (
            ["-o", "file:///tmp/up"],
            "error: file:///tmp/up: URL inputs and outputs run on Ray only: add --ray ADDRESS",
        ),
        (
            ["-o", "file:///tmp/up", "--ray", "auto"],
            "error: -o file:///tmp/up is a URL: give every input as a URL",
        ),
    ],
)
def test_ray_options_and_urls_given_wrongly_are_usage_errors(photos, tmp_path, capsys, args, said):
    if "-o" not in args:
        args = [*args, "-o", str(tmp_path)]
    code, err = _run(capsys, str(photos / "plain0.png"), *args)
    assert code == 2 and err.startswith(said) and err.count("\n") == 1
    assert not list(tmp_path.iterdir())


def test_url_inputs_need_a_url_output(capsys):
    code, err = _run(capsys, "file:///nowhere/photos", "--ray", "auto")
    assert code == 2 and err == (
        "error: URL inputs need -o URL (a folder every node can write); results are not written beside them\n"
    )


def test_url_plan_follows_the_local_naming_and_refusals(tmp_path):
    from superres.batch import OutputNaming
    from superres.cluster.ray_urls import collect_inputs, plan_batch

    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    (src / ".hidden").mkdir()
    for name in ["a.png", "sub/b.jpg", ".c.png", ".hidden/d.png", "notes.txt", "a_x2.png", "e.nii.gz"]:
        (src / name).write_bytes(b"x")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "e_x2.png").write_bytes(b"done")  # an earlier output: skipped
    inputs = collect_inputs([src.as_uri(), f"{src.as_uri()}/a.png"], recursive=True)  # a.png: one job
    assert [str(job.relative) for job in inputs.jobs] == ["a.png", "a_x2.png", "e.nii.gz", "sub/b.jpg"]
    assert [str(p) for p in inputs.other] == ["notes.txt"]  # hidden files left out, not reported
    globbed = collect_inputs([f"{src.as_uri()}/*.png", f"{src.as_uri()}/nothing*.png"])
    assert [str(job.relative) for job in globbed.jobs] == ["a.png", "a_x2.png"]  # .c.png left out
    assert globbed.missing == [f"{src.as_uri()}/nothing*.png"]
    out = (tmp_path / "out").as_uri()
    plan = plan_batch(inputs, OutputNaming(out, "_x2", "png"))
    targets = {job.source.rsplit("/", 1)[1]: job.target[len(out) :] for job in plan.jobs}
    assert targets == {"a.png": "/a_x2.png", "a_x2.png": "/a_x2_x2.png", "b.jpg": "/sub/b_x2.png"}
    assert [s.rsplit("/", 1)[1] for s in plan.skipped] == ["e.nii.gz"] and not plan.clashes
    beside = plan_batch(inputs, OutputNaming(src.as_uri(), "_x2"))  # -o the input folder itself
    assert [s.rsplit("/", 1)[1] for s in beside.earlier] == ["a_x2.png"]  # a's earlier result
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "a.png").write_bytes(b"x")
    two = collect_inputs([f"{src.as_uri()}/a.png", (tmp_path / "other" / "a.png").as_uri()])
    clash = plan_batch(two, OutputNaming(out, "_x2"))  # the first keeps the name
    assert len(clash.jobs) == 1 and clash.clashes[0].startswith(f"{(tmp_path / 'other' / 'a.png').as_uri()}:")
    many = plan_batch(inputs, OutputNaming(f"{out}/one.png", "_x2"))
    assert "-o names one image, but there are 4 inputs" in str(many.problem)


def test_a_rerun_removes_dead_writers_temp_files_under_a_file_url_output(tmp_path):
    from superres.atomic import _host
    from superres.cluster.ray_urls import RemoteJob, remove_stale_temp_files

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
    stale = tmp_path / f".a_x2.superres-{int(dead.stdout)}@{_host()}.abcd1234.tmp.png"
    stale.write_bytes(b"half")
    mine = tmp_path / "keep.png"
    mine.write_bytes(b"x")
    remove_stale_temp_files([RemoteJob("file:///in/a.png", (tmp_path / "a_x2.png").as_uri())])
    assert list(tmp_path.iterdir()) == [mine]
