"""Helpers for the training tests: the tiny recipe, pointed at the shared data."""

from __future__ import annotations

from pathlib import Path

from superres.train.recipe import Recipe, load_recipe

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "recipes/tiny-test.yaml"


def tiny(tmp_path: Path, shared: Path, *overrides: str) -> Recipe:
    """The tiny recipe writing under ``tmp_path``, trained on T91 and validated on Set5."""
    data, val = shared / "data/train/T91", shared / "data/test/Set5"
    return load_recipe(TINY, [f"output={tmp_path}", f"data.train=[{data}]", f"val.sets=[{val}]", *overrides])
