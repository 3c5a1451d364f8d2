"""Fixtures shared by the cluster tests."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True, scope="module")
def _environment_restored():
    """Ray's ``ray.init`` and Dask's ``LocalCluster`` set OMP_NUM_THREADS=1 (and more) in this
    process's environment for their workers; restored after each module, so a later test's
    subprocess does not train with one thread while the test process uses two."""
    before = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(before)
