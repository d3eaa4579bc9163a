"""Prompt keyframes rendered on a remote ComfyUI server, Deforum style, the
same walk as ``keyframes`` with each frame one prompt on the server: the
keyframes' prompts blended by the frame's place between them
(ConditioningAverage), the first frame from noise (or from the init image),
and with a chaining ``strength`` each later frame image-to-image from the
previous one moved by the per-frame camera, with one fixed seed. Without
chaining every frame starts from the same seed's noise, so the picture
morphs with the prompt instead of jumping.

The frame itself is made by the image engine's ComfyUI code, reached by
name (``studio.engines.named``) as modalities reach each other."""

from __future__ import annotations

import numpy as np

from studio.core.jobs import CancelToken, Reporter, StudioError
from studio.core.models.cards import ModelCard
from studio.engines.named import resolve
from studio.engines.video.keyframes import camera_move, segment
from studio.engines.video.requests import VideoRequest

RENDER_FRAME = "studio.engines.image.comfy.engine:render_frame"


class _FrameProgress:
    """The server's per-frame progress as progress over the whole clip."""

    def __init__(self, report: Reporter, frame: int, total: int, steps: int) -> None:
        self.report, self.frame, self.total, self.steps = report, frame, total, steps

    def progress(self, done: int, total: int, message: str = "") -> None:
        within = min(done, self.steps) if total == self.steps else 0
        self.report.progress(self.frame * self.steps + within, self.total * self.steps,
                             f"frame {self.frame + 1} of {self.total} {message}".strip())

    def preview(self, payload) -> None:
        pass  # the finished frame is previewed by the collector


def render_keyframes_on_server(card: ModelCard, request: VideoRequest, collector, cancel: CancelToken,
                               report: Reporter) -> None:
    from PIL import Image

    keys = request.keyframe_list
    if not keys:
        raise StudioError("keyframe video needs a prompt or at least one keyframe (--keyframe \"0:a prompt\")")
    render_frame = resolve(RENDER_FRAME)
    total = request.frame_count
    collector.steps_per_frame = request.steps
    chain = request.strength > 0.0
    previous: np.ndarray | None = None
    if request.init_image:
        previous = np.asarray(Image.open(request.init_image).convert("RGB").resize((request.width, request.height)))
    for frame in range(total):
        cancel.raise_if_cancelled()
        lo, hi, t = segment(keys, frame)
        init, denoise = None, 1.0
        if previous is not None and (chain or frame == 0):
            init = previous if frame == 0 else camera_move(previous, request.zoom, request.pan_x, request.pan_y,
                                                           request.rotate)
            denoise = request.strength if chain and frame > 0 else max(request.strength, 0.6)
        previous = render_frame(card, keys[lo][1], keys[hi][1], t, request.negative, request.seed, request.steps,
                                request.cfg, request.width, request.height, init, denoise,
                                _FrameProgress(report, frame, total, request.steps), cancel)
        collector.add(previous)
