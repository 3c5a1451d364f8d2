"""One tile count over a whole job: every row band, alpha, band-by-band image and page."""

from __future__ import annotations

from dataclasses import dataclass

from superres.engine.channels import network_passes
from superres.engine.options import UpscaleOptions
from superres.engine.rows import band_windows
from superres.engine.tiles import TileCallback, tile_count
from superres.io import ImageData
from superres.models import SRModel


@dataclass
class _JobProgress:
    """Turns the per-pass ``on_tile(done, total)`` of each network pass into one count over
    the whole job, planned beforehand."""

    report: TileCallback
    total: int
    finished: int = 0  # tiles of the passes already done

    def __call__(self, done: int, total: int) -> None:
        self.report(min(self.finished + done, self.total), self.total)
        if done == total:
            self.finished += total


def job_progress(
    model: SRModel, image: ImageData, options: UpscaleOptions, on_tile: TileCallback | None
) -> TileCallback | None:
    """``on_tile`` counting tiles over every network pass of upscaling ``image``."""
    if on_tile is None:
        return None
    page = image.page(0)  # each page of a stack runs alone, in the same row bands
    alpha = page.has_alpha and options.alpha_upsampler == "network"
    maps = [page.color_channels] + ([page.page_bands - page.color_channels] if alpha else [])
    width = page.pixels.shape[1]
    tiles = sum(
        network_passes(model, channels) * tile_count(model, band.last - band.first, width, options.tiling)
        for band in band_windows(model, page.pixels, options)
        for channels in maps
    )
    return _JobProgress(on_tile, (image.stack.pages if image.stack else 1) * tiles)
