"""superres: deep-learning image super-resolution.

    >>> import superres
    >>> superres.upscale("photo.jpg")                 # writes photo_x4.jpg, returns its path
    >>> model = superres.load_model("default", scale=4)
    >>> big = superres.upscale(pil_image, model=model)
    >>> bigger = superres.upscale(pil_image, model=model, options=superres.UpscaleOptions(outscale=6))

Importing this package is cheap: torch and the networks load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from superres.errors import SuperresError

if TYPE_CHECKING:
    from superres.api import upscale  # its overloads: path -> Path, PIL -> PIL, array -> array
    from superres.engine.options import TileOptions, UpscaleOptions
    from superres.models import SRModel

__version__ = "0.1.0"
__all__ = ["SRModel", "SuperresError", "TileOptions", "UpscaleOptions", "load_model", "upscale"]

_LAZY = {  # name -> module: loaded on first use, so that `import superres` stays light
    "SRModel": "superres.models",
    "TileOptions": "superres.engine.options",
    "UpscaleOptions": "superres.engine.options",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'superres' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_LAZY[name]), name)


def __dir__() -> list[str]:
    return sorted([*__all__, "__version__"])


def load_model(
    name_or_path: Any = None, scale: int | None = None, device: Any = "cpu", **kwargs: Any
) -> SRModel:
    """Load a model by shipped name, network name or weights path; see superres.models.load_model."""
    from superres.models import load_model as _load_model

    return _load_model(name_or_path, scale=scale, device=device, **kwargs)


if not TYPE_CHECKING:

    def upscale(image: Any, model: Any = None, **kwargs: Any) -> Any:
        """Upscale a path, PIL image or numpy array; see superres.api.upscale."""
        from superres.api import upscale as _upscale

        return _upscale(image, model, **kwargs)
