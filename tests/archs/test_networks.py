"""Every network: output shape per scale, declared channels, parameter count, state-dict round trip."""

from __future__ import annotations

import pytest
import torch

from superres.archs import build_network, count_parameters, spec, specs
from superres.weights import load_network, save_network

# Standard configurations and their parameter counts (x4, RGB). Published counts agree where
# papers give them: IMDN 715K, EDSR baseline 1.5M, RRDBNet (ESRGAN) 16.7M.
EXPECTED_PARAMS = {
    "bicubic": 0,
    "srcnn": 20_099,
    "fsrcnn": 24_683,
    "espcn": 37_200,
    "edsr": 1_517_571,
    "srresnet": 1_550_659,
    "msrresnet": 1_517_571,
    "rrdbnet": 16_697_987,
    "srvgg": 621_424,
    "imdn": 715_176,
    "ecbsr": 349_552,  # training-time branches; folds to a 3x3-conv network (see test below)
    "seed": 358_131,
}
# Small variants keep the shape tests fast.
SMALL = {
    "edsr": {"num_feat": 16, "num_block": 2},
    "srresnet": {"num_feat": 16, "num_block": 2},
    "msrresnet": {"num_feat": 16, "num_block": 2},
    "rrdbnet": {"num_feat": 16, "num_block": 1, "num_grow_ch": 8},
    "srvgg": {"num_feat": 16, "num_conv": 2},
    "imdn": {"num_feat": 16, "num_modules": 2},
    "ecbsr": {"num_feat": 8, "num_block": 2},
    "seed": {"base_width": 8, "deconv_widths": (8, 8, 8), "tail_width": 8},
}


def test_registry_lists_every_network_superres_builds_itself():
    """The others run third-party files and are checked by their own test modules."""
    assert set(EXPECTED_PARAMS) <= set(specs())


@pytest.mark.parametrize("name", sorted(EXPECTED_PARAMS))
def test_parameter_count_of_standard_configuration(name):
    assert count_parameters(build_network(name, scale=4)) == EXPECTED_PARAMS[name]


def test_srcnn_915_on_y_has_the_papers_8129_parameters():
    # 9x9x64 + 64 + 1x1x64x32 + 32 + 5x5x32 + 1
    assert count_parameters(build_network("srcnn", scale=3, in_channels=1)) == 8_129


def test_seed_full_widths_follow_the_design():
    from superres.archs.seed_arch import FULL_WIDTHS

    net = build_network("seed", scale=2, **FULL_WIDTHS)
    widths = [m.out_channels for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    # head 64, block 64 64, three deconv blocks (w, w, w), three tail blocks at 512, output 3
    assert widths == [64, 64, 64, 128, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512, 3]
    # each deconv block's second conv sees its width plus the 64-channel skip
    concat_inputs = [blk.post[0][0].in_channels for blk in net.deconv_blocks]
    assert concat_inputs == [128 + 64, 256 + 64, 512 + 64]


@pytest.mark.parametrize("name", sorted(EXPECTED_PARAMS))
def test_output_shape_for_every_supported_scale(name):
    cls = spec(name).builder
    for scale in cls.supported_scales:
        net = build_network(name, scale=scale, **SMALL.get(name, {})).eval()
        assert (net.scale, net.in_channels, net.out_channels) == (scale, 3, 3)
        with torch.no_grad():
            y = net(torch.rand(1, 3, 12, 10))
        assert y.shape == (1, 3, 12 * scale, 10 * scale), (name, scale)
        assert torch.isfinite(y).all()


@pytest.mark.parametrize("name", ["srcnn", "fsrcnn", "espcn", "edsr", "imdn", "srvgg", "rrdbnet"])
def test_single_channel_variants(name):
    net = build_network(name, scale=2, in_channels=1, **SMALL.get(name, {})).eval()
    with torch.no_grad():
        assert net(torch.rand(1, 1, 8, 8)).shape == (1, 1, 16, 16)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(set(EXPECTED_PARAMS) - {"bicubic"}))
def test_state_dict_round_trip_through_superres_file(name, tmp_path):
    params = {"scale": 2, **SMALL.get(name, {})}
    net = build_network(name, **params).eval()
    path = save_network(tmp_path / f"{name}.safetensors", net, name, params, {"note": "test"})
    loaded, arch, loaded_params, card = load_network(path)
    assert arch == name and card == {"note": "test"}
    assert loaded_params == {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()}
    x = torch.rand(1, 3, 9, 11)
    with torch.no_grad():
        assert torch.equal(net(x), loaded(x))


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_ecbsr_folds_exactly_into_a_plain_srvgg(scale):
    net = build_network("ecbsr", scale=scale, num_feat=12, num_block=3).eval()
    with torch.no_grad():  # give the edge branches real weight, so the test sees them
        for module in net.modules():
            if hasattr(module, "mask"):
                module.scale.normal_(0, 0.5)
                module.bias.normal_(0, 0.1)
    plain = net.fold()
    assert type(plain).__name__ == "SRVGGNetCompact" and count_parameters(plain) < count_parameters(net) / 3
    x = torch.rand(2, 3, 11, 14)  # odd sizes: borders must fold exactly too
    with torch.no_grad():
        branches, folded = _ecbsr_branch_forward(net, x), plain(x)
    assert (branches - folded).abs().max().item() < 1e-4 * max(1.0, branches.abs().max().item())
    assert plain.state_dict().keys() == build_network("srvgg", **net.fold_params()).state_dict().keys()


def _ecbsr_branch_forward(net, x):
    """ECBSR's forward through the multi-branch blocks (its own forward folds them)."""
    y = x
    for block, act in zip(net.blocks[:-1], net.acts, strict=True):
        y = act(block.forward_branches(y))
    y = torch.nn.functional.pixel_shuffle(net.blocks[-1].forward_branches(y), net.scale)
    return y + torch.nn.functional.interpolate(x, scale_factor=net.scale, mode="nearest")


def test_ecbsr_trains_folded_with_the_multi_branch_gradients():
    """Online folding: the same outputs and the same gradient for every branch parameter."""
    torch.manual_seed(0)
    net = build_network("ecbsr", scale=2, num_feat=8, num_block=2)
    with torch.no_grad():
        for module in net.modules():
            if hasattr(module, "mask"):
                module.scale.normal_(0, 0.5)
    x = torch.rand(2, 3, 9, 10)
    grads = []
    for forward in (net, lambda t: _ecbsr_branch_forward(net, t)):
        net.zero_grad()
        out = forward(x)
        (out**2).mean().backward()
        grads.append((out.detach(), {n: p.grad.clone() for n, p in net.named_parameters()}))
    (folded_out, folded_grads), (branch_out, branch_grads) = grads
    assert torch.allclose(folded_out, branch_out, atol=1e-5)
    assert folded_grads.keys() == branch_grads.keys() and any("edges" in n for n in folded_grads)
    # Tolerances relative to the largest gradient: float32 sums differ with the thread count.
    largest = max(g.abs().max() for g in branch_grads.values())
    for name, grad in branch_grads.items():
        assert torch.allclose(folded_grads[name], grad, rtol=1e-3, atol=1e-6 * largest), name
        # The bias before a Sobel or Laplacian filter (whose taps sum to zero, and whose border
        # is padded with that bias) cannot change the output: its gradient is zero up to rounding.
        null = ".edges." in name and name.endswith("conv1.bias")
        assert (grad.abs().max() < 1e-6 * largest) if null else (grad.abs().max() > 1e-3 * largest), name


def test_ecbsr_unfolds_from_the_plain_network_it_folds_into():
    unfold = spec("ecbsr").unfold
    plain = build_network("srvgg", scale=3, num_feat=8, num_conv=2).eval()
    with torch.no_grad():
        for p in plain.parameters():
            p.normal_(0, 0.3)
    net = build_network("ecbsr", scale=3, num_feat=8, num_block=2).eval()
    net.load_state_dict(unfold(plain.state_dict(), net))
    x = torch.rand(1, 3, 7, 9)
    with torch.no_grad():
        assert torch.allclose(net(x), plain(x), atol=1e-5)
        assert torch.allclose(_ecbsr_branch_forward(net, x), plain(x), atol=1e-5)
    assert any(b.edges[0].scale.abs().sum() > 0 for b in net.blocks)  # the extra branches stay live
    for other in (
        build_network("srvgg", scale=3, num_feat=8, num_conv=3),
        build_network("srvgg", scale=3, num_feat=8, num_conv=2, act_type="relu"),
    ):
        with pytest.raises(ValueError, match="does not fit"):
            unfold(other.state_dict(), net)


@pytest.mark.parametrize("act_type", ["prelu", "relu"])
def test_srvgg_deepen_starts_from_the_shallower_output(act_type):
    deepen = spec("srvgg").deepen
    shallow = build_network("srvgg", scale=3, num_feat=8, num_conv=2, act_type=act_type).eval()
    with torch.no_grad():  # slopes and biases away from their defaults, so identities are tested
        for p in shallow.parameters():
            p.normal_(0, 0.3)
    deep = build_network("srvgg", scale=3, num_feat=8, num_conv=5, act_type=act_type).eval()
    deep.load_state_dict(deepen(shallow.state_dict(), deep))
    x = torch.rand(2, 3, 9, 13)
    with torch.no_grad():
        assert torch.allclose(deep(x), shallow(x), atol=1e-6)
    with pytest.raises(ValueError, match="more convs"):
        deepen(deep.state_dict(), shallow)
    wider = build_network("srvgg", scale=3, num_feat=16, num_conv=5, act_type=act_type)
    with pytest.raises(ValueError, match="does not fit"):
        deepen(shallow.state_dict(), wider)
    leaky = build_network("srvgg", scale=3, num_feat=8, num_conv=5, act_type="leakyrelu")
    with pytest.raises(ValueError, match="LeakyReLU"):
        deepen(shallow.state_dict(), leaky)
