"""``auto``: the model ``superres upscale`` (and ``superres.upscale``) run when none is named,
picked image by image from what the image carries (:mod:`superres.engine.input_kind`), each
candidate loaded once, on first use."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from superres.engine.input_kind import InputKind, auto_model_name, input_kind

if TYPE_CHECKING:
    from superres.models import SRModel

AUTO = "auto"


@dataclass
class AutoModels:
    """The models ``auto`` picks from at ``scale``. ``load(name)`` loads one (device,
    precision and strength are the caller's); each is loaded at most once. ``picked`` counts
    the images each model was picked for, and ``examples`` keeps the first degraded input
    and its kind, for a summary."""

    scale: int
    load: Callable[[str], SRModel]
    loaded: dict[str, SRModel] = field(default_factory=dict)
    picked: Counter[str] = field(default_factory=Counter)
    examples: dict[str, tuple[str, InputKind]] = field(default_factory=dict)

    def model(self, name: str) -> SRModel:
        """Model ``name``, loaded on first use."""
        if name not in self.loaded:
            self.loaded[name] = self.load(name)
        return self.loaded[name]

    def for_pixels(
        self, pixels: np.ndarray, *, has_alpha: bool = False, source: str | Path | None = None
    ) -> tuple[SRModel, InputKind]:
        """The model for decoded ``pixels`` (read from ``source``, if given, whose JPEG
        quality counts too), and what they carry."""
        kind = input_kind(pixels, has_alpha=has_alpha, source=source, scale=self.scale)
        name = auto_model_name(kind, self.scale)
        self.picked[name] += 1
        if kind.degraded and name not in self.examples:
            self.examples[name] = (Path(source).name if source is not None else "an image", kind)
        return self.model(name), kind

    def for_file(self, source: str | Path, *, max_pixels: int | None = None) -> tuple[SRModel, InputKind]:
        """The model for image file ``source`` (its first page; SuperresError if it cannot be
        read), and what it carries."""
        import warnings

        from superres.io import read_image

        with warnings.catch_warnings():  # said when the file is read again, for the upscale
            warnings.simplefilter("ignore")
            image = read_image(source, max_pixels=max_pixels).page(0)
        return self.for_pixels(image.pixels, has_alpha=image.has_alpha, source=source)

    def summary(self) -> str:
        """Which model ran on how many images, e.g. ``real-photo-x4 for 3 (JPEG quality 72:
        a.jpg), compact64-x4-kd for 5``."""
        parts = []
        for name, count in self.picked.most_common():
            example = self.examples.get(name)
            why = f" ({example[1].describe()}: {example[0]}{', ...' * (count > 1)})" if example else ""
            parts.append(f"{name} for {count}{why}")
        return ", ".join(parts)
