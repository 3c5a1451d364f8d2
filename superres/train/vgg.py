"""VGG19 feature extractor for perceptual loss, with the key names of torchvision's
``vgg19`` weights (``features.N.weight``), so the official file loads without torchvision.

The weights are never downloaded: pass a path, or have ``vgg19-dcbb9e9d.pth`` in the torch
hub cache (``~/.cache/torch/hub/checkpoints``). ``weights="random"`` is for tests only.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from superres.errors import SuperresError

# torchvision's VGG19 ("E") configuration: channels, "M" = max pool
_CONFIG = [
    64,
    64,
    "M",
    128,
    128,
    "M",
    256,
    256,
    256,
    256,
    "M",
    512,
    512,
    512,
    512,
    "M",
    512,
    512,
    512,
    512,
    "M",
]
HUB_FILE = "vgg19-dcbb9e9d.pth"
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


def _layer_names() -> dict[str, int]:
    """conv1_1 -> index in ``features`` (the conv's output, before its ReLU)."""
    names, block, conv, index = {}, 1, 1, 0
    for item in _CONFIG:
        if item == "M":
            block, conv, index = block + 1, 1, index + 1
        else:
            names[f"conv{block}_{conv}"] = index
            conv, index = conv + 1, index + 2
    return names


LAYERS = _layer_names()


def _default_weights_path() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / HUB_FILE


class VGG19Features(nn.Module):
    def __init__(self, layers: list[str], weights: str | Path = "") -> None:
        super().__init__()
        unknown = [name for name in layers if name not in LAYERS]
        if unknown:
            raise SuperresError(f"unknown VGG19 layer(s) {', '.join(unknown)}; e.g. conv1_2 ... conv5_4")
        self.layers = {LAYERS[name]: name for name in layers}
        modules: list[nn.Module] = []
        channels = 3
        for item in _CONFIG:
            if item == "M":
                modules.append(nn.MaxPool2d(2, 2))
            else:
                modules += [nn.Conv2d(channels, item, 3, padding=1), nn.ReLU(inplace=False)]
                channels = item
        last = max(self.layers)
        self.features = nn.Sequential(*modules[: last + 1])
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1))
        if str(weights) != "random":
            self._load(Path(weights) if weights else _default_weights_path())
        self.requires_grad_(False).eval()

    def _load(self, path: Path) -> None:
        if not path.is_file():
            raise SuperresError(
                f"VGG19 weights not found (perceptual loss needs torchvision's {HUB_FILE}; "
                "give its path as train.perceptual.weights_path, or drop the perceptual loss)",
                path,
            )
        state = torch.load(path, map_location="cpu", weights_only=True)
        wanted = {
            k: v
            for k, v in state.items()
            if k.startswith("features.") and int(k.split(".")[1]) < len(self.features)
        }
        missing = set(self.state_dict()) - set(wanted) - {"mean", "std"}
        if missing:
            raise SuperresError(f"not a torchvision VGG19 file (missing {sorted(missing)[0]})", path)
        self.load_state_dict(wanted, strict=False)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        x = (x - self.mean) / self.std
        out = {}
        for index, module in enumerate(self.features):
            x = module(x)
            if index in self.layers:
                out[self.layers[index]] = x
        return out


class PerceptualLoss(nn.Module):
    """Weighted L1 (or MSE) distance between VGG19 features of output and target."""

    def __init__(
        self, layer_weights: dict[str, float], weights: str | Path = "", criterion: str = "l1"
    ) -> None:
        super().__init__()
        self.layer_weights = layer_weights
        self.vgg = VGG19Features(list(layer_weights), weights)
        self.criterion = F.l1_loss if criterion == "l1" else F.mse_loss

    def forward(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if prediction.shape[1] == 1:
            prediction, target = prediction.expand(-1, 3, -1, -1), target.expand(-1, 3, -1, -1)
        fake, real = self.vgg(prediction), self.vgg(target.detach())
        return sum(w * self.criterion(fake[name], real[name]) for name, w in self.layer_weights.items())
