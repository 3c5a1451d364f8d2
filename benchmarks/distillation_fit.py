"""How close students come to their teacher: the mean squared difference between each
student's output and the teacher's (x8 self-ensemble by default), on test and training
images, with LR made as the benchmarks make it. A student that fits its teacher far better
on its training images than on test images lacks data; one that fits both alike lacks
capacity (or training).

Usage: python benchmarks/distillation_fit.py --teacher compact64-x4-mse \\
           --students compact64-x4-mse compact64-x4-kd [--images 14] [--no-tta]
Prints one line per folder: MSE x 1e5 (pixels in 0..1, 4-pixel border left out) per student.
"""

from __future__ import annotations

import argparse
from itertools import islice
from pathlib import Path

import numpy as np

from superres.api import upscale_float
from superres.engine.options import TileOptions
from superres.evaluate import iter_pairs
from superres.models import load_model

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teacher", required=True)
    parser.add_argument("--students", nargs="+", required=True)
    parser.add_argument("--images", type=int, default=14, help="first N images of each folder")
    parser.add_argument("--no-tta", action="store_true", help="the teacher's plain output")
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    args = parser.parse_args()
    teacher = load_model(args.teacher, precision="fp32")
    students = {name: load_model(name, scale=teacher.scale, precision="fp32") for name in args.students}
    folders = [args.shared / "data/test/Set14", args.shared / "data/train/BSD200"]
    border = teacher.scale
    for folder in folders:
        errors: dict[str, list[float]] = {name: [] for name in students}
        for _, _, lr in islice(iter_pairs(folder, teacher.scale), args.images):
            target = upscale_float(teacher, lr, TileOptions(tile=0, tta=not args.no_tta))
            for name, student in students.items():
                y = upscale_float(student, lr, TileOptions(tile=0))
                difference = (y - target)[border:-border, border:-border]
                errors[name].append(float((difference**2).mean()))
        scores = ", ".join(f"{name} {np.mean(e) * 1e5:.2f}" for name, e in errors.items())
        print(f"{folder.name}: student-teacher MSE x 1e5: {scores}")


if __name__ == "__main__":
    main()
