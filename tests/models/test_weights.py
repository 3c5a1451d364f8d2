"""Weight files: auto-detection on real third-party files, old key layouts, and refusals."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from superres.archs import build_network
from superres.errors import SuperresError
from superres.metrics import mod_crop, psnr
from superres.models import load_model
from superres.resize import imresize
from superres.weights import detect_arch, load_network, read_state_dict


def _set5_butterfly(shared, scale):
    from superres.io import read_image

    return mod_crop(read_image(shared / "data/test/Set5/butterfly.png").pixels, scale).astype(np.float64)


def _sr_psnr(model, hr, scale):
    lr = imresize(torch.from_numpy(hr).permute(2, 0, 1), scale=1 / scale, uint8_path=True)
    x = (lr / 255).float()[None]
    sr = (model(x)[0].clamp(0, 1) * 255).round().permute(1, 2, 0).double().numpy()
    bic = (imresize(x, scale=scale)[0].clamp(0, 1) * 255).round().permute(1, 2, 0).double().numpy()
    return psnr(sr, hr, crop_border=scale), psnr(bic, hr, crop_border=scale)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_official_imdn_files_are_detected_and_beat_bicubic(shared, scale):
    model = load_model(shared / f"weights/imdn/IMDN_x{scale}.pth")
    assert (model.arch, model.scale) == ("imdn", scale)
    assert model.arch_params == {"scale": scale, "in_channels": 3, "num_feat": 64, "num_modules": 6}
    sr_db, bicubic_db = _sr_psnr(model, _set5_butterfly(shared, scale), scale)
    assert sr_db > bicubic_db + 2.0, (sr_db, bicubic_db)


def test_realesr_animevideov3_is_detected_and_gives_sane_output(shared):
    model = load_model(shared / "weights/realesrgan/realesr-animevideov3.pth")
    assert model.arch == "srvgg"
    assert model.arch_params == {
        "scale": 4,
        "in_channels": 3,
        "num_feat": 64,
        "num_conv": 16,
        "act_type": "prelu",
    }
    sr_db, bicubic_db = _sr_psnr(model, _set5_butterfly(shared, 4), 4)
    # A GAN-trained anime model is not PSNR-oriented, but it must be a faithful upscale.
    assert sr_db > 20 and sr_db > bicubic_db - 3, (sr_db, bicubic_db)


def test_wrappers_and_module_prefix_are_unwrapped(tmp_path):
    net = build_network("srvgg", scale=2, num_feat=8, num_conv=2)
    sd = {f"module.{k}": v for k, v in net.state_dict().items()}
    path = tmp_path / "wrapped.pth"
    torch.save({"params": {"x": torch.zeros(1)}, "params_ema": sd}, path)  # params_ema preferred
    state, _ = read_state_dict(path)
    assert set(state) == set(net.state_dict())
    assert load_model(path).arch == "srvgg"


def _old_esrgan_keys(state_dict, num_block):
    """Rename our RRDBNet x4 keys to the original ESRGAN ``model.N`` layout."""
    names = {
        "conv_first.": "model.0.",
        "conv_body.": f"model.1.sub.{num_block}.",
        "conv_up1.": "model.3.",
        "conv_up2.": "model.6.",
        "conv_hr.": "model.8.",
        "conv_last.": "model.10.",
    }
    out = {}
    for key, value in state_dict.items():
        m = re.match(r"body\.(\d+)\.rdb(\d)\.conv(\d)\.(\w+)", key)
        if m:
            out[f"model.1.sub.{m[1]}.RDB{m[2]}.conv{m[3]}.0.{m[4]}"] = value
        else:
            prefix = next(p for p in names if key.startswith(p))
            out[names[prefix] + key[len(prefix) :]] = value
    return out


def test_old_esrgan_layout_is_detected_and_loads_to_the_same_network(tmp_path):
    net = build_network("rrdbnet", scale=4, num_feat=8, num_block=2, num_grow_ch=4).eval()
    path = tmp_path / "RRDB_ESRGAN_x4.pth"
    torch.save(_old_esrgan_keys(net.state_dict(), 2), path)
    model = load_model(path)
    assert model.arch == "rrdbnet" and model.arch_params["num_block"] == 2 and model.scale == 4
    x = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        assert torch.allclose(model(x), net(x), atol=1e-6)


@pytest.mark.parametrize("scale", [1, 2, 4])
def test_real_esrgan_rrdbnet_scales_detected(scale, tmp_path):
    net = build_network("rrdbnet", scale=scale, num_feat=8, num_block=1, num_grow_ch=4)
    found = detect_arch(net.state_dict())
    assert found is not None and found[0] == "rrdbnet" and found[1]["scale"] == scale


@pytest.mark.parametrize(("scale", "num_feat"), [(2, 16), (3, 16), (4, 32)])
def test_edsr_official_keys_detected(scale, num_feat):
    net = build_network("edsr", scale=scale, num_feat=num_feat, num_block=3)
    assert "sub_mean.weight" in net.state_dict() and "tail.0.0.weight" in net.state_dict()
    name, params = detect_arch(net.state_dict())
    assert name == "edsr" and params["scale"] == scale and params["num_block"] == 3


def test_file_matching_nothing_is_a_one_line_error(tmp_path):
    path = tmp_path / "mystery.pth"
    torch.save({"encoder.weight": torch.zeros(4, 4)}, path)
    with pytest.raises(SuperresError) as err:
        load_model(path)
    message = str(err.value)
    assert "\n" not in message and str(path) in message and "matches no known network" in message
    assert "encoder.weight" in message


def test_shapes_that_do_not_fit_name_what_was_found(shared, tmp_path):
    state, _ = read_state_dict(shared / "weights/imdn/IMDN_x4.pth")
    state["IMDB1.c2.weight"] = state["IMDB1.c2.weight"][:, :40]  # corrupt one layer
    path = tmp_path / "broken_imdn.pth"
    torch.save(state, path)
    with pytest.raises(SuperresError) as err:
        load_model(path)
    message = str(err.value)
    assert "\n" not in message and "looks like imdn(" in message and "do not fit" in message


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_weights_file_with_code_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "code-ran"
    path = tmp_path / "evil.pth"
    torch.save({"params": _Payload(str(marker))}, path)
    with pytest.raises(SuperresError, match="refused"):
        load_model(path)
    assert not marker.exists()


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all", b"PK\x03\x04broken zip"])
def test_unreadable_weights_files(tmp_path, content):
    path = tmp_path / "bad.pth"
    path.write_bytes(content)
    with pytest.raises(SuperresError) as err:
        load_network(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_corrupt_safetensors(tmp_path):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{garbage")
    with pytest.raises(SuperresError, match="safetensors"):
        load_network(path)


def _tiny_srvgg():
    return build_network("srvgg", scale=2, num_feat=4, num_conv=1).eval()


def _assert_refused(path, *words):
    """load_model refuses ``path`` with one line naming the file and the problem."""
    with pytest.raises(SuperresError) as err:
        load_model(path)
    message = str(err.value)
    assert "\n" not in message and str(path) in message, message
    for word in words:
        assert word in message, message


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_non_finite_weights_are_refused(tmp_path, value, suffix):
    """A NaN or Inf weight turns every output pixel into NaN, written as black."""
    from superres.weights import save_network

    net = _tiny_srvgg()
    with torch.no_grad():
        net.body[2].bias[1] = value
    path = tmp_path / f"broken{suffix}"
    if suffix == ".pth":
        torch.save(net.state_dict(), path)
    else:
        save_network(path, net, "srvgg", {"scale": 2, "num_feat": 4, "num_conv": 1})
    _assert_refused(path, "body.2.bias", "not finite")


@pytest.mark.parametrize("dtype", [torch.int32, torch.int64, torch.uint8, torch.bool, torch.complex64])
def test_non_float_weights_are_refused(tmp_path, dtype):
    """Integer weights would load truncated to whole numbers: nearly all zeros."""
    state = {k: v.to(dtype) for k, v in _tiny_srvgg().state_dict().items()}
    path = tmp_path / "ints.pth"
    torch.save(state, path)
    _assert_refused(path, "body.0.weight", str(dtype).removeprefix("torch."))


def test_integer_buffers_a_network_holds_still_load(tmp_path):
    """BatchNorm's num_batches_tracked is an integer in the network too (SRResNet)."""
    net = build_network("srresnet", scale=2, num_feat=8, num_block=1)
    assert any(not v.is_floating_point() for v in net.state_dict().values())
    path = tmp_path / "srresnet.safetensors"
    from superres.weights import save_network

    save_network(path, net, "srresnet", {"scale": 2, "num_feat": 8, "num_block": 1})
    assert load_model(path).arch == "srresnet"


def test_text_file_named_pth_is_refused(tmp_path):
    path = tmp_path / "notes.pth"
    path.write_text("these are not weights\n")
    _assert_refused(path, "not a readable PyTorch weights file")


def test_integer_keys_are_refused(tmp_path):
    path = tmp_path / "numbered.pth"
    torch.save(dict(enumerate(_tiny_srvgg().state_dict().values())), path)
    _assert_refused(path, "key 0")


def test_wrappers_nested_too_deep_are_refused(tmp_path):
    state = _tiny_srvgg().state_dict()
    for _ in range(10):
        state = {"state_dict": state}
    path = tmp_path / "nested.pth"
    torch.save(state, path)
    _assert_refused(path, "nested")


def test_sparse_tensors_are_refused(tmp_path):
    state = _tiny_srvgg().state_dict()
    state["body.0.bias"] = state["body.0.bias"].to_sparse()
    path = tmp_path / "sparse.pth"
    torch.save(state, path)
    _assert_refused(path, "body.0.bias")


_SMALL = {
    "srvgg": {"num_feat": 4, "num_conv": 1},
    "edsr": {"num_feat": 8, "num_block": 1},
    "imdn": {"num_feat": 8, "num_modules": 1},
    "rrdbnet": {"num_feat": 8, "num_block": 1, "num_grow_ch": 4},
}


@pytest.mark.parametrize(
    ("arch", "key", "shape"),
    [
        ("srvgg", "body.0.weight", (4, 0, 3, 3)),  # zero input channels
        ("srvgg", "body.0.weight", (4,)),  # 1-D conv weight
        ("edsr", "head.0.weight", (8,)),
        ("imdn", "fea_conv.weight", (8,)),
        ("rrdbnet", "conv_first.weight", (8,)),
        ("rrdbnet", "conv_last.weight", (0, 8, 3, 3)),
    ],
)
def test_malformed_shapes_are_a_one_line_error(tmp_path, arch, key, shape):
    state = build_network(arch, scale=2, **_SMALL[arch]).state_dict()
    state[key] = torch.zeros(shape)
    path = tmp_path / f"{arch}.pth"
    torch.save(state, path)
    _assert_refused(path)


@pytest.mark.parametrize(("arch", "key"), [("rrdbnet", "conv_last.weight"), ("srvgg", "body.4.weight")])
def test_missing_final_layer_is_a_one_line_error(tmp_path, arch, key):
    state = build_network(arch, scale=2, **_SMALL[arch]).state_dict()
    del state[key]
    path = tmp_path / f"{arch}.pth"
    torch.save(state, path)
    _assert_refused(path)


_TINY_PARAMS = '{"scale": 2, "num_feat": 4, "num_conv": 1}'


@pytest.mark.parametrize(
    ("metadata", "words"),
    [
        ({"arch_params": "{not json"}, ["arch_params", "JSON"]),
        ({"arch_params": "[1, 2]"}, ["arch_params", "object"]),
        ({"arch_params": '{"scale": "two", "num_feat": 4, "num_conv": 1}'}, ["arch_params"]),
        ({"arch_params": '{"scale": 2, "bogus": 1}'}, ["arch_params", "bogus"]),
        ({"arch_params": '{"scale": 2, "num_feat": 4, "num_conv": 1000000000}'}, ["arch_params"]),
        ({"arch_params": '{"scale": 2, "num_feat": NaN, "num_conv": 1}'}, ["arch_params"]),
        ({"card": "[[["}, ["card", "JSON"]),
        ({"card": "[1]"}, ["card", "object"]),
        ({"card": '{"strength": "half"}'}, ["strength"]),
        ({"card": '{"strength": NaN}'}, ["strength"]),
        ({"card": '{"training": 5}'}, ["training"]),
        ({"arch": "nosuch"}, ["nosuch"]),
    ],
)
def test_malformed_superres_metadata_is_refused(tmp_path, metadata, words):
    from safetensors.torch import save_file

    tensors = {k: v.contiguous() for k, v in _tiny_srvgg().state_dict().items()}
    path = tmp_path / "model.safetensors"
    base = {"format": "superres-1", "arch": "srvgg", "arch_params": _TINY_PARAMS, "card": "{}"}
    save_file(tensors, str(path), metadata={**base, **metadata})
    _assert_refused(path, *words)


def test_superres_file_with_params_that_do_not_fit_allocates_nothing_big(tmp_path):
    """The network is checked against the file's shapes before any weight is allocated:
    a width of a million would otherwise need terabytes."""
    from safetensors.torch import save_file

    tensors = {k: v.contiguous() for k, v in _tiny_srvgg().state_dict().items()}
    path = tmp_path / "wide.safetensors"
    params = '{"scale": 2, "num_feat": 1000000, "num_conv": 1}'
    save_file(tensors, str(path), metadata={"format": "superres-1", "arch": "srvgg", "arch_params": params})
    _assert_refused(path, "do not fit")


def test_a_small_network_with_a_large_integer_param_still_loads(tmp_path):
    """rgb_range=255 is larger than any width of a tiny EDSR: the size bound on params allows it."""
    from superres.weights import save_network

    params = {"scale": 2, "num_feat": 8, "num_block": 1, "rgb_range": 255}
    path = tmp_path / "edsr.safetensors"
    save_network(path, build_network("edsr", **params), "edsr", params)
    assert load_model(path).arch_params["rgb_range"] == 255


def test_index_tables_released_files_hold_are_read(shared):
    """Window-attention files hold int64 ``relative_position_index`` tables beside their weights
    (DAT-light: 18); they are read, while an integer weight is still refused (above)."""
    from superres.archs.detect import is_state_dict
    from superres.weights import read_state_dict

    state, _ = read_state_dict(shared / "weights" / "dat" / "DAT_light_x4.pth")
    tables = [k for k, v in state.items() if not v.is_floating_point() and v.dim() > 0]
    assert len(tables) == 18 and all(k.endswith("relative_position_index") for k in tables)
    assert is_state_dict(state)


@pytest.mark.parametrize(
    ("wrap", "suffix", "atol"),
    [
        (lambda sd: {"state_dict": {f"net_g.{k}": v for k, v in sd.items()}, "epoch": 3}, ".ckpt", 1e-6),
        (lambda sd: {"net_g": {f"module._orig_mod.{k}": v for k, v in sd.items()}}, ".pth", 1e-6),
        (lambda sd: {"model": sd, "optimizer": {"lr": torch.tensor(1e-4)}}, ".pth.tar", 1e-6),
        (lambda sd: {k: v.half() for k, v in sd.items()}, ".pt", 0.02),
        (lambda sd: {"params_ema": {k: v.bfloat16() for k, v in sd.items()}}, ".pth", 0.05),
    ],
    ids=["lightning-ckpt", "compiled-dataparallel", "pth-tar", "fp16", "bf16"],
)
def test_containers_people_have_load_by_the_file_alone(tmp_path, wrap, suffix, atol):
    net = build_network("srvgg", scale=2, num_feat=8, num_conv=2).eval()
    path = tmp_path / f"model{suffix}"
    torch.save(wrap(net.state_dict()), path)
    model = load_model(path)
    assert model.arch == "srvgg" and model.name == "model"
    x = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        assert (model(x) - net(x)).abs().max() <= atol


def test_unknown_architecture_names_what_was_looked_for(tmp_path):
    path = tmp_path / "mystery.pth"
    torch.save({"encoder.0.weight": torch.zeros(4, 3, 3, 3)}, path)
    _assert_refused(path, "matches no known network (1 tensors, first: encoder.0.weight (4, 3, 3, 3)); "
                    "looked for: rrdbnet, imdn, edsr, srvgg")
