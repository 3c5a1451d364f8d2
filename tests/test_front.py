"""benchmarks/peers.py's JSON and benchmarks/front.py's reading, front and picture."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from PIL import Image

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


front = _load("front")
peers = _load("peers")


def _row(label: str, scale: int, psnr: tuple[float, float, float], mp_per_s: float, **roles) -> dict:
    sets = {s: {"psnr": p, "ssim": 0.9, "megapixels": 1.0} for s, p in zip(front.SETS, psnr, strict=True)}
    return {"label": label, "scale": scale, "sets": sets, "mp_per_s": mp_per_s, "peak_rss_mib": 300.0,
            "baseline_rss_mib": 200.0, "seconds": {"Set5": 1.0}, "shipped": False, "default": False,
            "third_party": True, "tta": False, **roles}  # fmt: skip


ROWS = [
    _row("IMDN (official weights)", 2, (38.0, 33.5, 32.2), 0.5),
    _row("superres rlfn-s-x2", 2, (38.05, 33.53, 32.21), 0.8, shipped=True, default=True, third_party=False),
    _row("IMDN (official weights)", 4, (32.2, 28.5, 27.6), 1.8),
]


def test_peers_json_round_trips(tmp_path):
    run = {"cpu": "AMD EPYC", "threads": 2, "date": "2026-12-06", "command": "python benchmarks/peers.py"}
    path = peers.write_json(tmp_path / "RESULTS.json", ROWS, run)
    report = front.load_report(path)
    assert report["run"] == run
    assert [r["label"] for r in report["rows"]] == [r["label"] for r in ROWS]
    assert report["rows"][1]["sets"] == ROWS[1]["sets"] and report["rows"][1]["default"] is True
    assert report["rows"][1]["speed_vs_imdn"] == pytest.approx(0.8 / 0.5)
    assert report["rows"][2]["speed_vs_imdn"] == pytest.approx(1.0)


TABLE = """# Peer benchmark

- date: 2026-12-06
- CPU AMD EPYC, 2 threads used, 2 cores visible
- command: `python benchmarks/peers.py --only RLFN`

| model | scale | Set5 | Set14 | BSD100 | MP/s | speed vs IMDN | peak RSS (MiB) | rise (MiB) |
|---|---|---|---|---|---|---|---|---|
| RLFN (official weights) | x2 | 38.07 / 0.9607 | 33.62 / 0.9188 | 32.24 / 0.9004 | 0.55 | 1.12x | 584 | 325 |
| superres m --tta (x8 self-ensemble) | x4 | 31.80 / 0.9 | 28.25 / 0.8 | 27.47 / 0.7 | 0.41 | 0.23x | 1 | 1 |

| model | scale | Set5 | Set14 | BSD100 | target 1 met | vs IMDN (measured) | speed vs IMDN |
|---|---|---|---|---|---|---|---|
| superres compact-x2-kd | x2 | 37.41 (-0.11 vs LapSRN paper 37.52) | x | y | no | z | 4.28x |
"""


def test_markdown_fallback_reads_the_results_table_only():
    report = front.parse_markdown(TABLE, source="t.md")
    assert report["run"] == {"cpu": "AMD EPYC", "threads": 2, "date": "2026-12-06",
                             "command": "python benchmarks/peers.py --only RLFN"}  # fmt: skip
    rlfn, tta = report["rows"]
    assert (rlfn["scale"], rlfn["mp_per_s"], rlfn["speed_vs_imdn"]) == (2, 0.55, 1.12)
    assert rlfn["sets"]["Set14"] == {"psnr": 33.62, "ssim": 0.9188}
    assert rlfn["third_party"] and not rlfn["shipped"]
    assert tta["shipped"] and tta["tta"] and not tta["third_party"] and tta["scale"] == 4


def test_markdown_fallback_names_the_file_on_a_bad_table(tmp_path):
    with pytest.raises(front.FrontError, match=r"t\.md: no peers\.py results table"):
        front.parse_markdown("# nothing here\n", source="t.md")
    bad = TABLE.replace("0.55 |", "fast |")
    with pytest.raises(front.FrontError, match=r"t\.md: cannot read table row"):
        front.parse_markdown(bad, source="t.md")
    assert front.main([str(tmp_path / "missing.json"), "--output", str(tmp_path / "f.png")]) == 2
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(front.FrontError, match=r"list\.json: not a peers\.py JSON report"):
        front.load_report(tmp_path / "list.json")


def test_pareto_front_keeps_only_undominated_points():
    points = [(1.0, 30.0), (2.0, 29.0), (0.5, 29.5), (2.0, 29.0), (0.1, 31.0), (1.0, 29.9)]
    # (0.5, 29.5) and (1.0, 29.9) are dominated by (1.0, 30.0); the tie (2.0, 29.0) twice stays
    assert front.pareto_front(points) == [4, 0, 1, 3]
    assert front.pareto_front([(1.0, 1.0)]) == [0]


def test_plot_writes_a_png_of_the_requested_size(tmp_path):
    run = {"cpu": "AMD EPYC", "threads": 2, "date": "2026-12-06", "command": "python benchmarks/peers.py"}
    path = front.plot_front(ROWS, run, tmp_path / "front.png", options={"size": (640, 360), "caption": "c"})
    with Image.open(path) as image:
        assert (image.format, image.size) == ("PNG", (640, 360))
        assert len(image.convert("RGB").getcolors(1 << 20)) > 3  # drawn, not blank
    rows = front.load_report(peers.write_json(tmp_path / "r.json", ROWS, run))["rows"]
    default = front.plot_front(rows, run, tmp_path / "two.png", options={"speed": "imdn"})
    with Image.open(default) as image:
        assert image.size == (2 * 620, 820)  # one panel per scale
    with pytest.raises(front.FrontError, match="no rows to draw"):  # no IMDN ratio in ROWS
        front.plot_front(ROWS, run, tmp_path / "none.png", options={"speed": "imdn"})
