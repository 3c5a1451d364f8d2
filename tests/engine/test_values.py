"""Samples to [0, 1] and back: the value mapping of any sample type, extreme floats included."""

from __future__ import annotations

import numpy as np
import pytest

from superres.engine.values import ValueMapping, to_unit_range, value_range


@pytest.mark.parametrize(
    ("dtype", "extreme"),
    [(np.float64, 1e302), (np.float32, 3e38), (np.float32, float(np.finfo(np.float32).max))],
)
def test_extreme_float_samples_map_to_the_unit_range_and_back(dtype, extreme):
    """Samples near the type's limits (float64 to 1e302, float32 to +-3.4e38) go through the
    network's [0, 1] and come back finite and in place, not NaN: the range is taken in float64."""
    pixels = np.array([[-extreme, 0.0], [extreme / 2, extreme]], dtype)[:, :, None]
    mapping = ValueMapping(*value_range(pixels))
    data, restore = to_unit_range(pixels, mapping)
    assert np.isfinite(data.numpy()).all() and float(data.min()) >= 0 and float(data.max()) <= 1
    back = restore(data.clone())
    assert back.dtype == dtype and np.isfinite(back).all()
    assert np.allclose(back, pixels, rtol=1e-6, atol=extreme * 1e-6)


def test_a_range_float64_cannot_span_is_refused():
    """Samples from -1.7e308 to 1.7e308 span more than float64 holds: refused in one line."""
    pixels = np.array([[-1.7e308, 1.7e308]])[:, :, None]
    with pytest.raises(ValueError, match=r"sample values from -1\.7e\+308 to 1\.7e\+308 span more than"):
        value_range(pixels)


def test_ordinary_samples_map_as_before():
    """uint8, uint16 and float32 of an ordinary range map exactly as they always have."""
    pixels = np.array([[0.25, 0.5], [1.0, 2.0]], np.float32)[:, :, None]
    mapping = ValueMapping(*value_range(pixels))
    assert (mapping.low, mapping.span) == (0.25, 1.75)
    data, restore = to_unit_range(pixels, mapping)
    assert (data.numpy() == (pixels.transpose(2, 0, 1) - np.float32(0.25)) / np.float32(1.75)).all()
    assert (restore(data.clone()) == pixels).all()
