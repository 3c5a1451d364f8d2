"""Named models outside the package (superres.external): the models folder, and fetching
into it (from a local file:// URL or a copy: tests never download)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch

from superres import external, zoo
from superres.archs import build_network, count_parameters
from superres.errors import SuperresError
from superres.models import load_model

TINY = {"scale": 2, "num_feat": 8, "num_conv": 2}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _tiny_file(path: Path, seed: int = 0, **changes) -> Path:
    torch.manual_seed(seed)
    torch.save(build_network("srvgg", **{**TINY, **changes}).state_dict(), path)
    return path


def _declared(url_file: Path, *, sha256s: tuple[str, ...] | None = None) -> zoo.ExternalModel:
    """A small srvgg x2 declared as a named model whose URL is the local file ``url_file``."""
    with torch.device("meta"):
        parameters = count_parameters(build_network("srvgg", **TINY))
    return zoo.ExternalModel(
        name="tiny-x2",
        kind="psnr",
        scale=2,
        arch="srvgg",
        arch_params=(("num_feat", 8), ("num_conv", 2)),
        parameters=parameters,
        url=url_file.resolve().as_uri(),
        url_bytes=url_file.stat().st_size,
        sha256s=(_sha256(url_file),) if sha256s is None else sha256s,
        licence="CC0",
        origin="a test",
        summary="a tiny network",
    )


def test_models_folder_is_superres_models_else_the_user_cache(monkeypatch, tmp_path):
    monkeypatch.delenv("SUPERRES_MODELS", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert external.models_dir() == tmp_path / "home/.cache/superres/models"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")  # the XDG rule: only absolute paths count
    assert external.models_dir() == tmp_path / "home/.cache/superres/models"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert external.models_dir() == tmp_path / "cache/superres/models"
    monkeypatch.setenv("SUPERRES_MODELS", str(tmp_path / "mine"))
    assert external.models_dir() == tmp_path / "mine"


def test_realesrgan_declaration_matches_the_shared_file(shared):
    """The ../shared copy is a known file of realesrgan-x4plus and loads as its declaration."""
    declared = zoo.external_model("realesrgan")
    assert declared is zoo.external_model("realesrgan-x4plus") and declared.name == "realesrgan-x4plus"
    path = shared / "weights/realesrgan/realesrgan-x4plus.safetensors"
    assert _sha256(path) in declared.sha256s
    assert external.architecture_problem(declared, path) is None
    assert declared.url.endswith("/v0.1.0/RealESRGAN_x4plus.pth") and declared.licence == "BSD-3-Clause"
    assert external.architecture_problem(declared, shared / "weights/ditn/DITN_Real_GAN_x4.pth").startswith(
        "it is ditn("
    )


def test_download_checks_the_sha256_and_keeps_only_a_good_file(tmp_path):
    source = _tiny_file(tmp_path / "tiny.pth")
    folder = tmp_path / "models"
    installed = external.download(_declared(source), folder=folder)
    assert installed.path == folder / "tiny-x2.pth" and installed.known
    assert installed.path.read_bytes() == source.read_bytes()
    assert external.installed_file(_declared(source), folder) == installed.path

    corrupt = tmp_path / "corrupt.pth"
    data = bytearray(source.read_bytes())
    data[-100] ^= 0xFF  # one flipped byte in the tensors
    corrupt.write_bytes(bytes(data))
    other = tmp_path / "other-models"
    declared = _declared(source)
    with pytest.raises(SuperresError, match="a corrupt or changed download, not kept"):
        external.download(declared.__class__(**{**vars(declared), "url": corrupt.as_uri()}), folder=other)
    assert list(other.iterdir()) == []


def test_download_without_a_known_sha256_must_load_as_the_declared_network(tmp_path):
    wrong = _tiny_file(tmp_path / "wrong.pth", num_conv=3)
    folder = tmp_path / "models"
    with pytest.raises(SuperresError, match=r"not tiny-x2, not kept: it is srvgg\(.*num_conv=3"):
        external.download(_declared(wrong, sha256s=()), folder=folder)
    assert list(folder.iterdir()) == []
    good = _tiny_file(tmp_path / "good.pth", seed=1)
    installed = external.download(_declared(good, sha256s=()), folder=folder)
    assert not installed.known and installed.path.is_file()


def test_download_refuses_a_file_much_larger_than_declared_and_a_missing_url(tmp_path):
    source = _tiny_file(tmp_path / "tiny.pth")
    declared = _declared(source)
    junk = tmp_path / "junk.bin"
    junk.write_bytes(bytes(3 * external.CHUNK))  # an error page or another file, 3 MiB
    endless = declared.__class__(**{**vars(declared), "url": junk.as_uri(), "url_bytes": 1000})
    with pytest.raises(SuperresError, match=r"larger than the 1,049,676 bytes expected, not kept"):
        external.download(endless, folder=tmp_path / "a")
    assert list((tmp_path / "a").iterdir()) == []
    gone = declared.__class__(**{**vars(declared), "url": (tmp_path / "absent.pth").as_uri()})
    with pytest.raises(SuperresError, match="download failed"):
        external.download(gone, folder=tmp_path / "b")
    assert list((tmp_path / "b").iterdir()) == []


def test_a_newer_install_replaces_the_one_fetch_wrote_before(tmp_path):
    source = _tiny_file(tmp_path / "tiny.pth")
    declared, folder = _declared(source), tmp_path / "models"
    external.download(declared, folder=folder)
    converted = tmp_path / "tiny.safetensors"
    from safetensors.torch import save_file

    save_file({k: v.half() for k, v in torch.load(source, weights_only=True).items()}, str(converted))
    installed = external.install_from(declared, converted, folder=folder)
    assert not installed.known  # a conversion: not a known file, but the declared network
    files = sorted(p.name for p in folder.iterdir())
    if external.written_by_superres(installed.path):  # a file system with user xattrs
        assert files == ["tiny-x2.safetensors"]
    assert external.installed_file(declared, folder) == folder / "tiny-x2.safetensors"


def test_a_named_models_file_of_another_network_is_refused_at_load(shared, monkeypatch, tmp_path):
    """A user may drop any file under the publisher's name; it must still be the model."""
    monkeypatch.setenv("SUPERRES_MODELS", str(tmp_path))
    (tmp_path / "RealESRGAN_x4plus.pth").write_bytes(
        (shared / "weights/swiftsrgan/swift_srgan_4x.pth.tar").read_bytes()
    )
    with pytest.raises(SuperresError, match=r"is swiftsrgan x4, not realesrgan-x4plus \(rrdbnet x4\)"):
        load_model("realesrgan")


def test_external_names_shadow_no_shipped_model_or_network():
    from superres.archs import specs

    names = [n for m in zoo.EXTERNAL for n in (m.name, *m.aliases)]
    assert len(names) == len(set(names))
    assert not set(names) & (set(zoo.SHIPPED_BY_NAME) | set(specs()))
    for model in zoo.EXTERNAL:
        assert model.sha256s and all(len(h) == 64 for h in model.sha256s)
        assert model.url.startswith("https://") and model.licence and model.origin
        assert model.card()["kind"] == model.kind and model.kind in ("psnr", "gan", "real")
