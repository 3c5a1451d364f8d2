"""The CPU quality/speed front as a picture: mean PSNR against speed, one panel per scale.

Reads the JSON that benchmarks/peers.py writes beside its report (``{"run": {...}, "rows":
[...]}``). A report from before peers.py wrote JSON (benchmarks/EFFICIENT_PEERS.md) is read
from its markdown instead: the first table whose header starts ``| model | scale | Set5 |
Set14 | BSD100 | MP/s | speed vs IMDN``, cells ``PSNR / SSIM``, and the ``- CPU``, ``- date``
and ``- command`` lines above it. That fallback knows a row only by its label: a label
starting ``superres `` is a shipped model, and whether it was the default is not recorded.

Each model is a labelled point; the Pareto front (no other point is both faster and better)
is joined by a line; shipped models, and rows matching ``--mark``, are drawn filled orange.
Drawn with Pillow only (no matplotlib).

Usage: python benchmarks/front.py REPORT.json|REPORT.md [...] [--set mean|Set5|Set14|BSD100]
       [--x mps|imdn] [--mark TEXT ...] [--caption TEXT] [--output benchmarks/front.png]
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parents[1]
SETS = ("Set5", "Set14", "BSD100")
TABLE_HEADER = "| model | scale | Set5 | Set14 | BSD100 | MP/s | speed vs IMDN"
ORANGE, BLUE, RED, GRAY = (230, 120, 20), (60, 100, 170), (200, 30, 30), (200, 200, 200)


class FrontError(Exception):
    """A report that cannot be read; the message names the file."""


# --------------------------------------------------------------------------- reading


def parse_markdown(text: str, *, source: str = "report") -> dict:
    """Rows and run facts of a peers.py markdown report (the fallback for reports without JSON)."""
    run = {"cpu": "", "threads": None, "date": "", "command": ""}
    rows, in_table = [], False
    for line in text.splitlines():
        if m := re.match(r"- CPU (.+?), (\d+) threads?", line):
            run["cpu"], run["threads"] = m.group(1), int(m.group(2))
        elif m := re.match(r"- date: (\S+)", line):
            run["date"] = m.group(1)
        elif m := re.match(r"- command: `(.+)`", line):
            run["command"] = m.group(1)
        elif line.startswith(TABLE_HEADER) and not rows:
            in_table = True
        elif in_table and line.startswith("|---"):
            continue
        elif in_table and line.startswith("|"):
            rows.append(_markdown_row(line, source))
        elif in_table:
            in_table = False
    if not rows:
        raise FrontError(f"{source}: no peers.py results table (header '{TABLE_HEADER} ...')")
    return {"run": run, "rows": rows}


def _markdown_row(line: str, source: str) -> dict:
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    try:
        label, scale = cells[0], int(cells[1].removeprefix("x"))
        sets = {}
        for name, cell in zip(SETS, cells[2:5], strict=True):
            psnr, ssim = (float(v) for v in cell.split("/"))
            sets[name] = {"psnr": psnr, "ssim": ssim}
        ratio = cells[6].removesuffix("x")
        shipped = label.startswith("superres ")
        return {
            "label": label,
            "scale": scale,
            "sets": sets,
            "mp_per_s": float(cells[5]),
            "speed_vs_imdn": None if ratio == "nan" else float(ratio),
            "shipped": shipped,
            "default": False,  # not recorded in the markdown
            "third_party": not shipped and not label.startswith("bicubic"),
            "tta": "--tta" in label,
        }
    except (IndexError, ValueError) as err:
        raise FrontError(f"{source}: cannot read table row {line!r} ({err})") from err


def load_report(path: Path) -> dict:
    """``{"run": ..., "rows": [...]}`` from a peers.py JSON file, or from its markdown."""
    try:
        text = path.read_text()
    except OSError as err:
        raise FrontError(f"{path}: cannot read ({err.strerror})") from err
    if path.suffix == ".md":
        return parse_markdown(text, source=str(path))
    try:
        report = json.loads(text)
        if not isinstance(report.get("rows"), list) or not isinstance(report.get("run"), dict):
            raise ValueError("no 'rows' list and 'run' object")
    except (ValueError, AttributeError) as err:
        raise FrontError(f"{path}: not a peers.py JSON report ({err})") from err
    return report


def write_report(path: Path, report: dict) -> None:
    """Write a report as peers.py's JSON, atomically."""
    from superres.atomic import atomic_output

    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(report, indent=1) + "\n")


# --------------------------------------------------------------------------- the front


def quality(row: dict, sets: str = "mean") -> float:
    """A row's PSNR on one set, or its mean over Set5, Set14 and BSD100."""
    if sets == "mean":
        return sum(row["sets"][s]["psnr"] for s in SETS) / len(SETS)
    return row["sets"][sets]["psnr"]


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the (speed, quality) points no other point dominates (at least as fast and
    as good, and better in one), by increasing speed."""
    front = []
    for i, (x, y) in enumerate(points):
        dominated = any(
            (ox >= x and oy >= y) and (ox > x or oy > y) for j, (ox, oy) in enumerate(points) if j != i
        )
        if not dominated:
            front.append(i)
    return sorted(front, key=lambda i: points[i][0])


def short_label(label: str) -> str:
    """The label as drawn next to its point."""
    label = label.removeprefix("superres ").replace(" (official weights)", "")
    return label.replace(" --tta (x8 self-ensemble)", " --tta")


# --------------------------------------------------------------------------- drawing


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType
        return ImageFont.load_default()


def _log_ticks(low: float, high: float) -> list[float]:
    ticks = []
    for k in range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1):
        ticks += [m * 10.0**k for m in (1, 2, 5) if low <= m * 10.0**k <= high]
    return ticks


def _linear_ticks(low: float, high: float) -> list[float]:
    step = next(s for s in (0.1, 0.2, 0.25, 0.5, 1.0, 2.0, 5.0) if (high - low) / s <= 8)
    first = math.ceil(low / step) * step
    return [first + i * step for i in range(int((high - first) / step + 1e-9) + 1)]


def _overlap(a: tuple, b: tuple) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return max(w, 0) * max(h, 0)


def _place_label(draw: ImageDraw.ImageDraw, text: str, point: tuple, *, taken: list, area: tuple) -> tuple:
    """Where ``text`` goes beside ``point``: the candidate box overlapping the placed boxes
    least, inside ``area``."""
    font = _font(14)
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    w, h = right - left, bottom - top
    x, y = point
    offsets = [(9, -h / 2), (-9 - w, -h / 2), (-w / 2, -h - 9), (-w / 2, 9), (9, -h - 6), (9, 6)]
    offsets += [
        (-9 - w, -h - 6),
        (-9 - w, 6),
        (9, -2 * h - 8),
        (9, h + 8),
        (-w / 2, -2 * h - 12),
        (-w / 2, h + 12),
    ]
    best, best_cost = None, float("inf")
    for dx, dy in offsets:
        box = (x + dx, y + dy, x + dx + w, y + dy + h)
        outside = box[0] < area[0] or box[2] > area[2] or box[1] < area[1] or box[3] > area[3]
        cost = sum(_overlap(box, t) for t in taken) + (1e6 if outside else 0)
        if cost < best_cost:
            best, best_cost = box, cost
    taken.append(best)
    draw.text((best[0], best[1] - top), text, fill=(20, 20, 20), font=font)
    return best


def _panel(draw: ImageDraw.ImageDraw, rows: list[dict], box: tuple, *, sets: str, speed: str) -> None:
    """One scale's axes, points, front and labels inside ``box`` (left, top, right, bottom)."""
    font = _font(14)
    left, top, right, bottom = box[0] + 62, box[1] + 30, box[2] - 12, box[3] - 48
    xs = [r["mp_per_s"] if speed == "mps" else r["speed_vs_imdn"] for r in rows]
    ys = [quality(r, sets) for r in rows]
    x_lo, x_hi = math.log10(min(xs)) - 0.12, math.log10(max(xs)) + 0.25
    y_pad = max(0.08, 0.08 * (max(ys) - min(ys)))
    y_lo, y_hi = min(ys) - y_pad, max(ys) + y_pad

    def at(x: float, y: float) -> tuple[float, float]:
        px = left + (math.log10(x) - x_lo) / (x_hi - x_lo) * (right - left)
        return px, bottom - (y - y_lo) / (y_hi - y_lo) * (bottom - top)

    draw.rectangle((left, top, right, bottom), outline=(0, 0, 0))
    for t in _log_ticks(10**x_lo, 10**x_hi):
        px = at(t, y_lo)[0]
        draw.line((px, top, px, bottom), fill=(235, 235, 235))
        draw.line((px, bottom, px, bottom + 5), fill=(0, 0, 0))
        draw.text((px, bottom + 8), f"{t:g}", fill=(0, 0, 0), font=font, anchor="mt")
    for t in _linear_ticks(y_lo, y_hi):
        py = at(10**x_lo, t)[1]
        draw.line((left, py, right, py), fill=(235, 235, 235))
        draw.line((left - 5, py, left, py), fill=(0, 0, 0))
        draw.text((left - 8, py), f"{t:.2f}", fill=(0, 0, 0), font=font, anchor="rm")
    x_name = "output MP/s (log)" if speed == "mps" else "speed vs IMDN (log)"
    draw.text(((left + right) / 2, bottom + 28), x_name, fill=(0, 0, 0), font=font, anchor="mt")
    y_name = "mean PSNR (dB), Set5/Set14/BSD100" if sets == "mean" else f"{sets} PSNR (dB)"
    draw.text((left, top - 8), f"x{rows[0]['scale']}   {y_name}", fill=(0, 0, 0), font=_font(16), anchor="ld")
    pts = [at(x, y) for x, y in zip(xs, ys, strict=True)]
    front = pareto_front(list(zip(xs, ys, strict=True)))
    draw.line([pts[i] for i in front], fill=RED, width=2)
    taken = []
    for (px, py), r in zip(pts, rows, strict=True):
        radius = 7 if r["highlight"] else 5
        taken.append((px - radius, py - radius, px + radius, py + radius))
        fill = ORANGE if r["highlight"] else BLUE
        draw.ellipse(taken[-1], fill=fill, outline=(0, 0, 0) if r["highlight"] else fill)
    for (px, py), r in sorted(zip(pts, rows, strict=True), key=lambda p: -p[1]["mp_per_s"]):
        _place_label(
            draw,
            short_label(r["label"]),
            (px, py),
            taken=taken,
            area=(left + 2, top + 2, right - 2, bottom - 2),
        )


def _wrap(draw: ImageDraw.ImageDraw, text: str, font: ImageFont.ImageFont, width: int) -> list[str]:
    lines = []
    for paragraph in text.split("\n"):
        line = ""
        for word in paragraph.split():
            trial = f"{line} {word}".strip()
            if line and draw.textlength(trial, font=font) > width:
                lines.append(line)
                line = word
            else:
                line = trial
        lines.append(line)
    return lines


def plot_front(rows: list[dict], run: dict, path: Path, *, options: dict | None = None) -> Path:
    """Draw one panel per scale into a PNG at ``path`` (written atomically). ``options``:
    ``sets`` ("mean" or a set), ``speed`` ("mps" or "imdn"), ``mark`` (label substrings drawn
    as shipped), ``caption``, ``size`` ((width, height), default 620 wide per panel by 820)."""
    from superres.atomic import atomic_output

    opts = {"sets": "mean", "speed": "mps", "mark": (), "caption": "", **(options or {})}
    rows = [{**r, "highlight": r.get("shipped") or any(m in r["label"] for m in opts["mark"])} for r in rows]
    if opts["speed"] == "imdn":
        rows = [r for r in rows if r.get("speed_vs_imdn")]
    scales = sorted({r["scale"] for r in rows})
    if not scales:
        raise FrontError(f"{path}: no rows to draw")
    width, height = opts.get("size") or (620 * len(scales), 820)
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    threads = f", {run['threads']} threads" if run.get("threads") else ""
    title = f"CPU quality/speed front: {run.get('cpu') or 'CPU not recorded'}{threads}, {run.get('date', '')}"
    draw.text((16, 12), title, fill=(0, 0, 0), font=_font(20))
    command = _wrap(draw, f"command: {run.get('command', '')}", _font(14), width - 32)
    for i, line in enumerate(command):
        draw.text((16, 40 + 18 * i), line, fill=(60, 60, 60), font=_font(14))
    legend_y = 44 + 18 * len(command)
    _legend(draw, (16, legend_y))
    caption = _wrap(draw, opts["caption"], _font(14), width - 32) if opts["caption"] else []
    panel_top, panel_bottom = legend_y + 24, height - 12 - 18 * len(caption)
    for i, line in enumerate(caption):
        draw.text((16, panel_bottom + 4 + 18 * i), line, fill=(40, 40, 40), font=_font(14))
    step = width / len(scales)
    for k, scale in enumerate(scales):
        box = (round(k * step), panel_top, round((k + 1) * step), panel_bottom)
        _panel(draw, [r for r in rows if r["scale"] == scale], box, sets=opts["sets"], speed=opts["speed"])
    with atomic_output(path) as tmp:
        image.save(tmp, format="PNG")
    return path


def _legend(draw: ImageDraw.ImageDraw, at: tuple[int, int]) -> None:
    x, y = at
    font = _font(14)
    draw.ellipse((x, y + 2, x + 14, y + 16), fill=ORANGE, outline=(0, 0, 0))
    draw.text((x + 20, y + 1), "shipped with superres", fill=(0, 0, 0), font=font)
    x += 200
    draw.ellipse((x + 2, y + 4, x + 12, y + 14), fill=BLUE)
    draw.text((x + 20, y + 1), "third party / not shipped", fill=(0, 0, 0), font=font)
    x += 230
    draw.line((x, y + 9, x + 24, y + 9), fill=RED, width=2)
    draw.text((x + 30, y + 1), "Pareto front (nothing both faster and better)", fill=(0, 0, 0), font=font)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("reports", type=Path, nargs="+", help="peers.py JSON files (or markdown reports)")
    parser.add_argument("--set", dest="sets", default="mean", choices=["mean", *SETS])
    parser.add_argument(
        "--x", dest="speed", default="mps", choices=["mps", "imdn"], help="MP/s or speed vs IMDN"
    )
    parser.add_argument(
        "--mark", nargs="+", default=[], metavar="TEXT", help="also draw these labels as shipped"
    )
    parser.add_argument("--caption", default="", help="text under the panels")
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks/front.png")
    args = parser.parse_args(argv)
    try:
        reports = [load_report(p) for p in args.reports]
        run = dict(reports[0]["run"])
        run["command"] = "; ".join(r["run"].get("command", "") for r in reports)
        rows = [row for r in reports for row in r["rows"]]
        options = {"sets": args.sets, "speed": args.speed, "mark": args.mark, "caption": args.caption}
        plot_front(rows, run, args.output, options=options)
    except FrontError as err:
        print(f"front.py: {err}", file=sys.stderr)
        return 2
    for scale in sorted({r["scale"] for r in rows}):
        at_scale = [r for r in rows if r["scale"] == scale]
        points = [(r["mp_per_s"], quality(r, args.sets)) for r in at_scale]
        names = [
            f"{short_label(at_scale[i]['label'])} ({points[i][1]:.2f} dB, {points[i][0]:.2f} MP/s)"
            for i in pareto_front(points)
        ]
        print(f"x{scale} front, fastest first: " + "; ".join(reversed(names)))
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
