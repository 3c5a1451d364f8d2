"""Fixtures of the video tests: bicubic models (no weights: fast), and made clips."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def bicubic2():
    from superres.models import load_model

    return load_model("bicubic", scale=2)
