"""Detection is unambiguous: every test vector and every real third-party file in ../shared is
claimed by exactly one network's ``detect``, the right one, so the order in which the specs
are tried decides nothing (a loose detect that claims another network's file fails here)."""

from __future__ import annotations

import json

import pytest

from superres.archs import detection_order
from superres.weights import read_state_dict
from tests.conftest import SHARED

# INDEX.json's architecture names -> the network that runs them.
VECTOR_NETWORKS = {
    "Compact": "srvgg",
    "SwiftSRGAN": "swiftsrgan",
    "DITN": "ditn",
    "OmniSR": "omnisr",
    "SPAN": "span",
    "SAFMN": "safmn",
    "SAFMNBCIE": "safmn_bcie",
    "PLKSR": "plksr",
    "MoSR": "mosr",
    "SeemoRe": "seemore",
    "RealCUGAN": "realcugan",
    "SwinIR": "swinir",
    "Swin2SR": "swin2sr",
    "HAT": "hat",
    "ATD": "atd",
    "GRL": "grl",
    "CRAFT": "craft",
    "RCAN": "rcan",
}
# Real files under ../shared/weights -> the network that runs them.
REAL_FILES = {
    "imdn/IMDN_x2.pth": "imdn",
    "imdn/IMDN_x3.pth": "imdn",
    "imdn/IMDN_x4.pth": "imdn",
    "realesrgan/realesr-animevideov3.pth": "srvgg",
    "realesrgan/realesrgan-x4plus.safetensors": "rrdbnet",
    "dctlsa/X2.pt": "dctlsa",
    "dctlsa/X4.pt": "dctlsa",
    "ditn/DITN_Real_x4.pth": "ditn",
    "ditn/DITN_Real_GAN_x4.pth": "ditn",
    "swiftsrgan/swift_srgan_2x.pth.tar": "swiftsrgan",
    "swiftsrgan/swift_srgan_4x.pth.tar": "swiftsrgan",
    "ntire/team15_SAFMN.pth": "safmn_ntire",
    "ntire/team38_span_ch28_slim.pth": "span",
    "rlfn/rlfn_x2.pth": "rlfn",
    "rlfn/rlfn_x4.pth": "rlfn",
    "rlfn/rlfn_s_x2.pth": "rlfn",
    "rlfn/rlfn_s_x4.pth": "rlfn",
    "pan/PANx2_DF2K.pth": "pan",
    "pan/PANx3_DF2K.pth": "pan",
    "pan/PANx4_DF2K.pth": "pan",
    "rfdn/RFDN_AIM.pth": "rfdn",
    "imdn/IMDN_AS.pth": "imdn_as",
    "imdn/model_RTE.pth": "imdn_rte",
    "dat/DAT_light_x4.pth": "dat",
    "ntire/team34_craft.pth": "craft",
}
VECTORS = json.loads((SHARED / "vectors" / "INDEX.json").read_text())


def _claimants(path) -> list[str]:
    state_dict, _ = read_state_dict(path)
    return [s.name for s in detection_order() if s.detect(state_dict) is not None]


@pytest.mark.parametrize("entry", VECTORS, ids=[e["file"] for e in VECTORS])
def test_each_vector_is_claimed_by_its_network_alone(entry):
    assert _claimants(SHARED / "vectors" / entry["file"]) == [VECTOR_NETWORKS[entry["arch"]]]


@pytest.mark.parametrize("relative", sorted(REAL_FILES))
def test_each_real_file_is_claimed_by_its_network_alone(relative):
    assert _claimants(SHARED / "weights" / relative) == [REAL_FILES[relative]]


def test_every_real_weights_file_is_listed():
    """A file added to ../shared/weights gets its expected network here (OpenCV's .pb graphs
    run through OpenCV, not superres)."""
    found = {str(p.relative_to(SHARED / "weights")) for p in (SHARED / "weights").rglob("*") if p.is_file()}
    assert {f for f in found if not f.startswith("opencv/")} == set(REAL_FILES)
