"""What the timeline shows of its media, prepared off the GUI thread:
probes, proxy frames (every frame downscaled, for scrubbing and for the
thumbnails along video clips), waveform peaks along audio clips, and the
decoded audio that playback mixes.

A media file is prepared once, in a background task, the first time the
timeline needs it; until then clips draw a plain placeholder and the viewer
shows black. Scrubbing reads proxies from memory, so the playhead can move
at any speed without decoding a single frame on the GUI thread; proxies
are dropped least recently used first past a memory budget and rebuilt on
demand.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage

from studio.core.jobs import CancelToken
from studio.qt.shared.qimage import array_to_qimage
from studio.qt.tasks import Tasks

if TYPE_CHECKING:
    import numpy as np

    from studio.engines.video.media import MediaInfo
    from studio.engines.video.timeline import Clip

PROXY_SIDE = 640  # long side of scrubbing frames: sharp enough for the viewer, ~0.7 MB per 16:9 frame
THUMB_HEIGHT = 40
PEAKS_PER_SECOND = 200
PROXY_BUDGET_BYTES = 1536 * 1024 * 1024


@dataclass
class PreparedMedia:
    info: MediaInfo
    proxy: np.ndarray | None = None  # (frames, h, w, 3) uint8; one frame for a still image
    peaks: np.ndarray | None = None  # (buckets, 2) min/max at PEAKS_PER_SECOND
    samples: np.ndarray | None = None  # (2, n) float32 at the mix rate


def prepare(path: str, cancel: CancelToken) -> tuple[str, PreparedMedia]:
    """Probe and decode what the timeline needs of ``path`` (runs in a task)."""
    from studio.engines.video import media

    info = media.probe(Path(path))
    prepared = PreparedMedia(info)
    if info.kind in ("video", "image"):
        prepared.proxy = media.build_proxy(Path(path), PROXY_SIDE, cancel)
    if info.kind == "audio":
        samples = media.read_audio(Path(path), cancel=cancel)
        prepared.samples = samples
        buckets = max(1, int(samples.shape[1] / media.MIX_RATE * PEAKS_PER_SECOND))
        prepared.peaks = media.waveform_peaks(samples, buckets)
    return path, prepared


class MediaCache(QObject):
    """Prepared media by path; ``media_ready`` fires (GUI thread) as each arrives."""

    media_ready = Signal(str)
    media_failed = Signal(str, str)  # path, message

    def __init__(self, tasks: Tasks, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.tasks = tasks
        self._prepared: OrderedDict[str, PreparedMedia] = OrderedDict()
        self._pending: set[str] = set()
        self._failed: dict[str, str] = {}
        self._thumbs: OrderedDict[tuple[str, int], QImage] = OrderedDict()
        self._cancel = CancelToken()

    # --- preparing ---------------------------------------------------------------------
    def request(self, path: str) -> PreparedMedia | None:
        """The prepared media, or None after starting (once) to prepare it."""
        prepared = self._prepared.get(path)
        if prepared is not None:
            self._prepared.move_to_end(path)
            if prepared.proxy is None and prepared.info.kind != "audio":
                self._start(path)  # its proxy was dropped for memory: build it again
            return prepared
        if path not in self._failed:
            self._start(path)
        return None

    def _start(self, path: str) -> None:
        if path in self._pending:
            return
        self._pending.add(path)
        self.tasks.run(prepare, path, self._cancel, finished=self._on_prepared, failed=self._on_failed_for(path))

    def _on_failed_for(self, path: str):
        def failed(message: str, _details: str) -> None:
            self._pending.discard(path)
            self._failed[path] = message
            self.media_failed.emit(path, message)
        return failed

    def _on_prepared(self, result: tuple[str, PreparedMedia]) -> None:
        path, prepared = result
        self._pending.discard(path)
        self._prepared[path] = prepared
        self._prepared.move_to_end(path)
        self._drop_thumbs(path)
        self._keep_within_budget()
        self.media_ready.emit(path)

    def wait(self, paths: list[str], timeout_ms: int = 30000) -> bool:
        """Prepare ``paths`` and wait for them (tests, the benchmark)."""
        for path in paths:
            self.request(path)
        return self.tasks.wait(timeout_ms)

    def error(self, path: str) -> str:
        return self._failed.get(path, "")

    def forget(self, path: str) -> None:
        """Drop a file's preparation (it changed on disk)."""
        self._prepared.pop(path, None)
        self._failed.pop(path, None)
        self._drop_thumbs(path)

    def shutdown(self) -> None:
        """Stop preparations in flight (closing the window)."""
        self._cancel.cancel()

    def _keep_within_budget(self) -> None:
        used = sum(p.proxy.nbytes for p in self._prepared.values() if p.proxy is not None)
        for prepared in list(self._prepared.values())[:-1]:  # never the newest
            if used <= PROXY_BUDGET_BYTES:
                break
            if prepared.proxy is not None:
                used -= prepared.proxy.nbytes
                prepared.proxy = None

    # --- reading (GUI thread) ---------------------------------------------------------------
    def info(self, path: str) -> MediaInfo | None:
        prepared = self._prepared.get(path)
        return prepared.info if prepared is not None else None

    def proxy_frame(self, path: str, time_s: float) -> np.ndarray | None:
        prepared = self.request(path)
        if prepared is None or prepared.proxy is None:
            return None
        proxy = prepared.proxy
        if len(proxy) == 1:
            return proxy[0]
        index = int(round(time_s * (prepared.info.fps or 24)))
        return proxy[max(0, min(index, len(proxy) - 1))]

    def thumbnail(self, path: str, time_s: float) -> QImage | None:
        """A small frame for the clip strip (cached; the proxy frame scaled to THUMB_HEIGHT)."""
        prepared = self._prepared.get(path)
        if prepared is None or prepared.proxy is None:
            self.request(path)
            return None
        proxy = prepared.proxy
        index = 0 if len(proxy) == 1 else max(0, min(int(round(time_s * (prepared.info.fps or 24))), len(proxy) - 1))
        key = (path, index)
        image = self._thumbs.get(key)
        if image is None:
            full = array_to_qimage(proxy[index])
            image = full.scaledToHeight(THUMB_HEIGHT)
            self._thumbs[key] = image
            while len(self._thumbs) > 2000:
                self._thumbs.popitem(last=False)
        return image

    def peaks(self, path: str) -> np.ndarray | None:
        prepared = self.request(path)
        return prepared.peaks if prepared is not None else None

    def samples(self, path: str) -> np.ndarray | None:
        prepared = self._prepared.get(path)
        return prepared.samples if prepared is not None else None

    def _drop_thumbs(self, path: str) -> None:
        for key in [k for k in self._thumbs if k[0] == path]:
            del self._thumbs[key]


class ProxySource:
    """A compose.FrameSource reading proxy frames from the cache (GUI thread)."""

    def __init__(self, cache: MediaCache) -> None:
        self.cache = cache

    def frame(self, clip: Clip, time_s: float, size: tuple[int, int]) -> np.ndarray | None:
        from studio.engines.video.compose import fit_frame

        pixels = self.cache.proxy_frame(clip.media, time_s)
        return fit_frame(pixels, size) if pixels is not None else None


class CachedAudio:
    """A compose.AudioCache over the cache's decoded audio (decoding now what is not there yet)."""

    def __init__(self, cache: MediaCache) -> None:
        from studio.engines.video.media import MIX_RATE

        self.cache = cache
        self.sample_rate = MIX_RATE
        self._decoded: dict[str, np.ndarray] = {}

    def samples(self, path: str, cancel: CancelToken | None = None) -> np.ndarray:
        ready = self.cache.samples(path)
        if ready is not None:
            return ready
        if path not in self._decoded:
            from studio.engines.video.media import read_audio

            self._decoded[path] = read_audio(Path(path), self.sample_rate, cancel=cancel)
        return self._decoded[path]
