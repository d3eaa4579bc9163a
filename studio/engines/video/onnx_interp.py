"""Frame interpolation with ONNX exports of FILM or RIFE, run by onnxruntime.

Exports differ in how they take the two frames and the time; the layout is
read from the graph's inputs (names and shapes), never guessed from the
file name:

- three inputs: two frames and a time (``x0, x1, time``; ``img0, img1,
  timestep`` ...); the time is the input whose name says so, or the one
  that is not a 3-channel image (a scalar, ``[1]``, ``[1, 1]`` or a
  one-channel map);
- two inputs: two frames and no time: the model makes the midpoint;
- one input of 7 channels (frame, frame, time map) or of 6 (frame, frame:
  the midpoint).

Frames are NCHW or NHWC (told by which axis holds the channels), float32
or float16, 0..1. A midpoint-only model reaches other times by halving the
interval (t = 0.25 is the midpoint of 0 and the midpoint), to a depth of
``MAX_HALVINGS``. Frames are zero-padded on the right and bottom to a
multiple of 64 (what RIFE and FILM exports need) when the graph's size is
free, or resized to the graph's size when it is fixed. Anything else gets
a StudioError that lists the inputs found."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from studio.core.jobs import StudioError

PAD_MULTIPLE = 64
MAX_HALVINGS = 5  # times are reached to within 1/64 of the interval
_TIME_NAME = re.compile(r"time|^t$|^dt$|^ts$", re.IGNORECASE)
_DTYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64}


@dataclass(frozen=True)
class Port:
    """One graph input: its name, shape (ints, or None where free) and dtype."""

    name: str
    shape: tuple[int | None, ...]
    dtype: Any

    @classmethod
    def of(cls, node) -> Port:
        if node.type not in _DTYPES:
            raise StudioError(f"input {node.name!r} is {node.type}; frame interpolators take float tensors")
        shape = tuple(dim if isinstance(dim, int) and dim > 0 else None for dim in (node.shape or []))
        return cls(node.name, shape, _DTYPES[node.type])

    def channel_axis(self, channels: tuple[int, ...]) -> int | None:
        """1 (NCHW) or 3 (NHWC) when the channel count is one of ``channels``."""
        if len(self.shape) != 4:
            return None
        if self.shape[1] in channels:
            return 1
        if self.shape[3] in channels:
            return 3
        return None


@dataclass(frozen=True)
class InputPlan:
    """How frames and time map onto the graph's inputs."""

    frames: tuple[Port, ...]  # two 3-channel inputs, or one 6/7-channel input
    time: Port | None  # a separate time input
    axis: int  # channel axis of the frame inputs: 1 (NCHW) or 3 (NHWC)
    time_in_frames: bool = False  # the single 7-channel input carries the time map

    @property
    def has_time(self) -> bool:
        return self.time is not None or self.time_in_frames

    @property
    def fixed_size(self) -> tuple[int, int] | None:
        """(height, width) when the graph only takes one size."""
        shape = self.frames[0].shape
        height, width = (shape[2], shape[3]) if self.axis == 1 else (shape[1], shape[2])
        return (height, width) if height and width else None


def describe_inputs(nodes) -> str:
    return "; ".join(f"{node.name} {list(node.shape or [])} {node.type}" for node in nodes)


def plan_inputs(nodes) -> InputPlan:
    """The plan for the graph inputs ``nodes`` (onnxruntime NodeArg), or a
    StudioError naming them."""
    found = describe_inputs(nodes)
    ports = [Port.of(node) for node in nodes]
    if len(ports) == 1:
        port = ports[0]
        axis = port.channel_axis((7, 6))
        if axis is None:
            raise StudioError(f"cannot map the ONNX input to two frames: one input needs 6 or 7 channels "
                              f"(NCHW or NHWC), found {found}")
        return InputPlan((port,), None, axis, time_in_frames=port.shape[axis] == 7)
    if len(ports) in (2, 3):
        times = [p for p in ports if _TIME_NAME.search(p.name)] if len(ports) == 3 else []
        if len(ports) == 3 and len(times) != 1:
            times = [p for p in ports if p.channel_axis((3,)) is None]
        if len(ports) == 3 and len(times) != 1:
            raise StudioError(f"cannot tell which ONNX input is the time: found {found}")
        frames = tuple(p for p in ports if p not in times)
        axes = {p.channel_axis((3,)) for p in frames}
        if len(frames) != 2 or len(axes) != 1 or None in axes:
            raise StudioError(f"cannot map the ONNX inputs to two RGB frames (NCHW or NHWC with 3 channels): "
                              f"found {found}")
        if frames[0].shape != frames[1].shape:
            raise StudioError(f"the two frame inputs differ in shape: found {found}")
        axis = next(iter(axes))
        time = times[0] if times else None
        if time is not None and len(time.shape) == 4 and time.channel_axis((1,)) != axis:
            raise StudioError(f"the time input {time.name!r} is a 4-D tensor but not a one-channel map "
                              f"laid out like the frames: found {found}")
        return InputPlan(frames, time, axis)
    raise StudioError(f"cannot map {len(ports)} ONNX inputs to frames and a time: found {found}")


class OnnxInterpolator:
    """In-between frames from an onnxruntime session; frames are H x W x 3 uint8 RGB."""

    def __init__(self, session, name: str = "ONNX interpolator") -> None:
        self.session = session
        self.name = name
        self.plan = plan_inputs(session.get_inputs())

    # --- feeding the graph -------------------------------------------------------------
    def _prepare(self, frame: np.ndarray) -> np.ndarray:
        """A frame as float 0..1 at the size the graph takes, channels last."""
        pixels = np.asarray(frame, dtype=np.float32) / 255.0
        fixed = self.plan.fixed_size
        if fixed is not None:
            if pixels.shape[:2] != fixed:
                import cv2

                pixels = cv2.resize(pixels, (fixed[1], fixed[0]), interpolation=cv2.INTER_AREA)
            return pixels
        height, width = pixels.shape[:2]
        return np.pad(pixels, ((0, -height % PAD_MULTIPLE), (0, -width % PAD_MULTIPLE), (0, 0)))

    def _layout(self, pixels: np.ndarray, port: Port) -> np.ndarray:
        batch = pixels[None]
        if self.plan.axis == 1:
            batch = batch.transpose(0, 3, 1, 2)
        return np.ascontiguousarray(batch, dtype=port.dtype)

    def _time_value(self, port: Port, t: float, size: tuple[int, int]) -> np.ndarray:
        if len(port.shape) == 4:  # a time map laid out like the frames
            shape = (1, 1) + size if self.plan.axis == 1 else (1,) + size + (1,)
        else:
            shape = tuple(dim or 1 for dim in port.shape)
        return np.full(shape, t, dtype=port.dtype)

    def _run(self, a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
        """The graph's frame at ``t`` between prepared frames (H x W x 3 float)."""
        plan = self.plan
        size = a.shape[:2]
        if len(plan.frames) == 1:
            parts = [a, b] + ([np.full(size + (1,), t, dtype=np.float32)] if plan.time_in_frames else [])
            feeds = {plan.frames[0].name: self._layout(np.concatenate(parts, axis=-1), plan.frames[0])}
        else:
            feeds = {plan.frames[0].name: self._layout(a, plan.frames[0]),
                     plan.frames[1].name: self._layout(b, plan.frames[1])}
            if plan.time is not None:
                feeds[plan.time.name] = self._time_value(plan.time, t, size)
        outputs = self.session.run(None, feeds)
        for output in outputs:
            result = np.asarray(output, dtype=np.float32)
            if result.ndim == 4 and result.shape[0] == 1:
                result = result[0]
            if result.ndim != 3:
                continue
            if plan.axis == 1 and result.shape[0] == 3:
                result = result.transpose(1, 2, 0)
            if result.shape[2] == 3 and result.shape[:2] == size:
                return result
        shapes = ", ".join(str(np.shape(output)) for output in outputs)
        raise StudioError(f"{self.name} gave no {size[0]}x{size[1]} RGB frame (outputs: {shapes})")

    # --- the interpolator interface ----------------------------------------------------
    def between(self, a: np.ndarray, b: np.ndarray, times: Sequence[float]) -> list[np.ndarray]:
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape or a.ndim != 3 or a.shape[2] != 3:
            raise StudioError(f"{self.name} interpolates two RGB frames of one size, not {a.shape} and {b.shape}")
        height, width = a.shape[:2]
        first, second = self._prepare(a), self._prepare(b)
        midpoints: dict[tuple[float, float], np.ndarray] = {}
        out = []
        for t in times:
            if self.plan.has_time:
                result = self._run(first, second, float(t))
            else:
                result = self._by_halves(first, second, float(t), midpoints)
            out.append(self._finish(result, height, width))
        return out

    def _by_halves(self, a: np.ndarray, b: np.ndarray, t: float,
                   midpoints: dict[tuple[float, float], np.ndarray]) -> np.ndarray:
        """The frame nearest ``t`` reached by repeated midpoints (shared
        between the times of one pair through ``midpoints``)."""
        frames = {0.0: a, 1.0: b}
        low, high = 0.0, 1.0
        for _depth in range(MAX_HALVINGS):
            middle = (low + high) / 2
            if (low, high) not in midpoints:
                midpoints[(low, high)] = self._run(frames[low], frames[high], 0.5)
            frames[middle] = midpoints[(low, high)]
            if abs(t - middle) < 1e-6:
                break
            low, high = (low, middle) if t < middle else (middle, high)
        return frames[min(frames, key=lambda time: abs(time - t))]

    def _finish(self, result: np.ndarray, height: int, width: int) -> np.ndarray:
        if result.shape[:2] != (height, width):
            if self.plan.fixed_size is not None:
                import cv2

                result = cv2.resize(result, (width, height), interpolation=cv2.INTER_CUBIC)
            else:
                result = result[:height, :width]
        return np.clip(result * 255.0 + 0.5, 0, 255).astype(np.uint8)


def open_interpolator(path: Path, device: str = "cpu", name: str = "") -> OnnxInterpolator:
    """An interpolator over the ONNX graph in ``path``, on the GPU when
    onnxruntime has a CUDA provider and ``device`` is ``cuda``."""
    import onnxruntime

    providers = ["CPUExecutionProvider"]
    if device == "cuda" and "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        providers.insert(0, "CUDAExecutionProvider")
    try:
        session = onnxruntime.InferenceSession(str(path), providers=providers)
    except Exception as exc:  # noqa: BLE001 - a damaged or foreign file is a readable message
        raise StudioError(f"{Path(path).name} is not a usable ONNX graph: {str(exc).strip()[:200]}") from exc
    return OnnxInterpolator(session, name or Path(path).stem)
