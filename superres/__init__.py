"""superres: deep-learning image super-resolution.

    >>> import superres
    >>> superres.upscale("photo.jpg")                 # writes photo_x4.jpg, returns its path
    >>> model = superres.load_model("default", scale=4)
    >>> big = superres.upscale(pil_image, model=model)

Importing this package is cheap: torch and the networks load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from superres.errors import SuperresError

if TYPE_CHECKING:
    from superres.models import SRModel

__version__ = "0.1.0"
__all__ = ["SuperresError", "load_model", "upscale"]


def load_model(
    name_or_path: Any = None, scale: int | None = None, device: Any = "cpu", **kwargs: Any
) -> SRModel:
    """Load a model by shipped name, network name or weights path; see superres.models.load_model."""
    from superres.models import load_model as _load_model

    return _load_model(name_or_path, scale=scale, device=device, **kwargs)


def upscale(image: Any, model: Any = None, scale: int | None = None, **kwargs: Any) -> Any:
    """Upscale a path, PIL image or numpy array; see superres.api.upscale."""
    from superres.api import upscale as _upscale

    return _upscale(image, model=model, scale=scale, **kwargs)
