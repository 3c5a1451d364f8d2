"""Checks shared by the per-network tests: a test vector of ../shared/vectors (random weights
in an architecture's released key layout, an input, the official network's output), and a
real third-party file against a reference output of ../shared/data/spandrel-refs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from superres.io import read_image
from superres.weights import load_network
from tests.conftest import SHARED

VECTORS = SHARED / "vectors"
REFS = SHARED / "data" / "spandrel-refs"


def vector_entry(name: str) -> dict[str, Any]:
    """The INDEX.json entry of vector ``name`` (its file name without ``.safetensors``)."""
    index = json.loads((VECTORS / "INDEX.json").read_text())
    (entry,) = [e for e in index if e["file"] == f"{name}.safetensors"]
    return entry


def check_vector(name: str, arch: str, *, atol: float = 1e-4, **expected_params: Any) -> torch.nn.Module:
    """Load vector ``name`` by its file alone (detection, conversion, strict load), assert it is
    network ``arch`` with ``expected_params`` among its detected parameters, and that its
    output on the vector's input matches the official one within ``atol``. Returns the network."""
    entry = vector_entry(name)
    network, found_arch, params, _card = load_network(VECTORS / entry["file"])
    assert found_arch == arch, f"{name} detected as {found_arch}({params})"
    for key, value in expected_params.items():
        assert params.get(key) == value, f"{name}: {key}={params.get(key)!r}, expected {value!r}"
    assert network.scale == entry["scale"]
    assert (network.in_channels, network.out_channels) == (entry["in_channels"], entry["out_channels"])
    x = torch.from_numpy(np.load(VECTORS / f"{name}.input.npy"))
    want = np.load(VECTORS / f"{name}.output.npy")
    with torch.no_grad():
        got = network.eval()(x).numpy()
    assert got.shape == want.shape
    error = float(np.abs(got - want).max())
    assert error <= atol, f"{name}: max abs error {error:.3g} over {atol:g}"
    return network


def reference_output(reference: str, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(input, reference output) of spandrel-refs: the input image of a ``size`` x ``size``
    test and the reference file ``reference`` (e.g. ``4x_dctlsa.png``), both uint8 H x W x C."""
    source = REFS / "inputs" / f"{size}x{size}.png"
    return read_image(source).pixels, read_image(REFS / f"{size}x{size}" / reference).pixels


def max_level_difference(got: np.ndarray, want: np.ndarray) -> int:
    """Largest absolute difference, in 8-bit levels, between two uint8 images of one shape."""
    assert got.shape == want.shape, f"{got.shape} != {want.shape}"
    return int(np.abs(got.astype(np.int16) - want.astype(np.int16)).max())


def load_real(relative: str | Path) -> tuple[torch.nn.Module, str, dict[str, Any]]:
    """A real third-party file of ../shared/weights, loaded by the file alone."""
    network, arch, params, _card = load_network(SHARED / "weights" / relative)
    return network, arch, params
