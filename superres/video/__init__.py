"""Video files: ``superres upscale clip.mp4`` decodes every frame, upscales it through the
same engine as an image (:func:`superres.api.upscale_image`) and encodes it, with audio,
subtitle and data streams copied packet for packet.

PyAV (the optional extra ``superres[video]``: FFmpeg's libraries in a wheel) is imported
only when a video is read; this package's ``__init__`` and :mod:`superres.video.options`
import neither av nor torch, so ``superres.batch`` and ``superres --help`` stay light.

The modules: ``options`` (:class:`VideoOptions`, the suffixes), ``probe`` (what the input
holds, the output codec and pixel format), ``frames`` (decoding the selected frames to
arrays and back), ``pipeline`` (decode, upscale and encode overlapped in threads),
``segments`` (the work folder of encoded segments that ``--resume`` keeps), ``remux`` (the
segments and the input's other streams into the output) and ``run``
(:func:`upscale_video`, the whole job).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from superres.video.options import VIDEO_SUFFIXES, FrameRange, VideoOptions, is_video

if TYPE_CHECKING:
    from superres.video.run import upscale_video

__all__ = ["VIDEO_SUFFIXES", "FrameRange", "VideoOptions", "is_video", "upscale_video"]


def __getattr__(name: str) -> Any:
    if name == "upscale_video":  # imports av and torch: only when a video is upscaled
        from superres.video.run import upscale_video

        return upscale_video
    raise AttributeError(f"module 'superres.video' has no attribute {name!r}")
