"""Which fast CPU paths may be defaults? Each must keep Set5 PSNR within 0.01 dB of the
plain path (fp32 eager, whole image).

1. precision / memory format: fp32 eager, fp32 channels_last, bf16 autocast (Set5, whole images);
2. tiling, for IMDN, whose attention pools over its input: whole image vs 192 and 96
   pixel tiles (Set5 and Set14, RGB images);
3. onnxruntime (fp32, exported with torch.onnx) against torch on one 128 x 128 tile, if
   the optional onnxruntime/onnx/onnxscript packages (the [bench] extra) are installed.

Usage: python benchmarks/fast_paths.py [--shared ../shared]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from superres.engine.options import TileOptions
from superres.engine.tiles import upscale_tensor
from superres.io import read_image
from superres.metrics import mod_crop, psnr
from superres.models import load_model
from superres.resize import imresize

MODES = [  # (label, precision, channels_last)
    ("fp32 eager", "fp32", False),
    ("fp32 channels_last", "fp32", True),
    ("bf16 autocast + channels_last", "bf16", True),
]
TILES = [0, 192, 96]


def mean_psnr_and_time(model, hr_images, scale, tile=0):
    scores, seconds = [], 0.0
    for hr in hr_images:
        hr = mod_crop(hr, scale).astype(np.float64)
        lr = imresize(torch.from_numpy(hr).permute(2, 0, 1), scale=1 / scale, uint8_path=True)
        x = (lr / 255).float()[None]
        start = time.perf_counter()
        sr = upscale_tensor(model, x, TileOptions(tile=tile, tile_overlap=16))[0]
        seconds += time.perf_counter() - start
        sr = (sr.clamp(0, 1) * 255).round().permute(1, 2, 0).double().numpy()
        scores.append(psnr(sr, hr, crop_border=scale))
    return float(np.mean(scores)), seconds


def rgb_images(folder: Path) -> list[np.ndarray]:
    images = [read_image(p).pixels for p in sorted(folder.glob("*.png"))]
    return [im for im in images if im.shape[2] == 3]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared")
    args = parser.parse_args()
    torch.set_num_threads(2)
    sets = {name: rgb_images(args.shared / "data/test" / name) for name in ("Set5", "Set14")}
    weights = {scale: args.shared / f"weights/imdn/IMDN_x{scale}.pth" for scale in (2, 4)}
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    print("| model | mode | Set5 PSNR | delta | time (s) | speed-up |\n|---|---|---|---|---|---|")
    for scale, path in weights.items():
        base_psnr = base_time = None
        for label, precision, channels_last in MODES:
            model = load_model(path, precision=precision, channels_last=channels_last)
            mean_psnr_and_time(model, sets["Set5"][:1], scale)  # warm-up
            value, seconds = mean_psnr_and_time(model, sets["Set5"], scale)
            if base_psnr is None:
                base_psnr, base_time = value, seconds
            print(
                f"| IMDN x{scale} | {label} | {value:.4f} | {value - base_psnr:+.4f} | {seconds:.2f} "
                f"| {base_time / seconds:.2f}x |",
                flush=True,
            )
    print("\n| model | set (RGB images) | whole | tile 192 | tile 96 |\n|---|---|---|---|---|")
    for scale, path in weights.items():
        model = load_model(path)
        for set_name, images in sets.items():
            whole, *tiled = [mean_psnr_and_time(model, images, scale, tile)[0] for tile in TILES]
            cells = " | ".join([f"{whole:.4f}", *(f"{v:.4f} ({v - whole:+.4f})" for v in tiled)])
            print(f"| IMDN x{scale} | {set_name} | {cells} |", flush=True)
    onnxruntime_table(
        {
            "IMDN x4": weights[4],
            "Real-ESRGAN animevideov3 x4": args.shared / "weights/realesrgan/realesr-animevideov3.pth",
        }
    )


def seconds_per_call(fn, repeats: int = 7) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def onnxruntime_table(weight_files: dict[str, Path]) -> None:
    import io
    import warnings

    try:
        import onnxruntime as ort
    except ImportError:
        print("\n(onnxruntime not installed: pip install -e '.[bench]' for the ONNX comparison)")
        return
    print("\n| model (128x128 tile) | torch fp32 eager | torch fp32 channels_last | onnxruntime fp32 |")
    print("|---|---|---|---|")
    x = torch.rand(1, 3, 128, 128)
    for label, path in weight_files.items():
        eager = load_model(path, channels_last=False)
        fast = load_model(path)
        buffer = io.BytesIO()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(eager.network, (x,), buffer, input_names=["x"], dynamo=False)
        options = ort.SessionOptions()
        options.intra_op_num_threads = 2
        session = ort.InferenceSession(buffer.getvalue(), options, providers=["CPUExecutionProvider"])
        times = [
            seconds_per_call(lambda m=eager: m(x)),
            seconds_per_call(lambda m=fast: m(x)),
            seconds_per_call(lambda s=session: s.run(None, {"x": x.numpy()})),
        ]
        print(f"| {label} | " + " | ".join(f"{t * 1000:.0f} ms" for t in times) + " |", flush=True)


if __name__ == "__main__":
    main()
