"""RIFE frame interpolation: the IFNet of Practical-RIFE v4.x, built here so
that the released ``train_log/flownet.pkl`` (or a ``.safetensors`` copy)
loads into it as it is.

Two families of released weights are told apart by their state dict alone:

- the 4.4 to 4.6 layout (4.6 is the most widely shared): four IFBlocks that
  see the two frames and the time, the blending mask summed over the blocks;
- the 4.7 and later layout: a small encoder (``encode.cnn0..cnn3``) adds
  features of each frame, the mask is replaced at each block, and from 4.21
  on each block hands 8 feature channels to the next; 4.25 and 4.26 add a
  fifth block at 1/16 scale.

Block widths, input channels and the encoder's width are read from tensor
shapes, so lite and heavy variants of both families load too. The older
4.0 to 4.3 layout (one plain transposed convolution per block) and anything
else get a StudioError that says what was found.

What matches the reference: each block samples its input down by its scale
(8, 4, 2, 1; or 16 ... 1 with five blocks), frames are zero-padded on the
right and bottom to a multiple of four times the first scale (32 or 64),
the time is a full-size channel, and warping is backward ``grid_sample``
with border padding and ``align_corners=True``. Weights are read only with
``torch.load(weights_only=True)`` or safetensors."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from studio.core.jobs import StudioError

PREFIX = "module."  # left by DistributedDataParallel in the released files
# Parts of the training network some releases keep; inference never runs them.
TRAINING_ONLY = ("teacher.", "caltime.", "contextnet.", "unet.")
# A Sequential encoder (``encode.0`` ... ``encode.6``) is the same Head under other names.
SEQUENTIAL_HEAD = {"encode.0.": "encode.cnn0.", "encode.2.": "encode.cnn1.", "encode.4.": "encode.cnn2.",
                   "encode.6.": "encode.cnn3."}
FLOW_AND_MASK = 5  # channels every block predicts before its optional features


@dataclass(frozen=True)
class IFNetLayout:
    """The shape of one IFNet: what its state dict says."""

    blocks: tuple[tuple[int, int], ...]  # (input channels, width) of each IFBlock
    block_out: int  # channels a block predicts: 4 flow + 1 mask + (1 unused | features)
    head: tuple[int, int] | None = None  # encoder (width, feature channels); None: the 4.6 layout
    res_convs: int = 8

    @property
    def features(self) -> int:
        return self.head[1] if self.head else 0

    @property
    def carried(self) -> int:
        """Feature channels a block hands to the next (8 from 4.21 on, else 0)."""
        if len(self.blocks) < 2:
            return 0
        return self.blocks[1][0] - (12 + 2 * self.features)

    @property
    def scales(self) -> tuple[int, ...]:
        return tuple(2 ** (len(self.blocks) - 1 - index) for index in range(len(self.blocks)))

    @property
    def pad_multiple(self) -> int:
        return 4 * self.scales[0]  # the first block works at 1/(4 * scale) of the frame

    def describe(self) -> str:
        if self.head is None:
            family = "RIFE 4.6 layout"
        else:
            family = f"RIFE 4.7+ layout ({self.features}-channel encoder"
            family += f", {self.carried} carried features)" if self.carried else ")"
        widths = "/".join(str(width) for _inputs, width in self.blocks)
        return f"{family}, blocks {widths}"


# The released layouts the tests build and the card can name.
V4_6 = IFNetLayout(blocks=((7, 192), (12, 128), (12, 96), (12, 64)), block_out=6)
V4_25 = IFNetLayout(blocks=((7 + 8, 192),) + tuple((8 + 4 + 8 + 8, c) for c in (128, 96, 64, 32)),
                    block_out=4 + 1 + 8, head=(16, 4))


def _torch():
    import torch

    return torch


def build_ifnet(layout: IFNetLayout):
    """An IFNet of ``layout`` with fresh (random) weights."""
    torch = _torch()
    nn = torch.nn
    functional = torch.nn.functional

    def conv(cin: int, cout: int, stride: int = 1):
        return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=True), nn.LeakyReLU(0.2, True))

    class ResConv(nn.Module):
        def __init__(self, c: int) -> None:
            super().__init__()
            self.conv = nn.Conv2d(c, c, 3, 1, 1)
            self.beta = nn.Parameter(torch.ones((1, c, 1, 1)))
            self.relu = nn.LeakyReLU(0.2, True)

        def forward(self, x):
            return self.relu(self.conv(x) * self.beta + x)

    class Head(nn.Module):
        def __init__(self, width: int, features: int) -> None:
            super().__init__()
            self.cnn0 = nn.Conv2d(3, width, 3, 2, 1)
            self.cnn1 = nn.Conv2d(width, width, 3, 1, 1)
            self.cnn2 = nn.Conv2d(width, width, 3, 1, 1)
            self.cnn3 = nn.ConvTranspose2d(width, features, 4, 2, 1)
            self.relu = nn.LeakyReLU(0.2, True)

        def forward(self, x):
            x = self.relu(self.cnn0(x))
            x = self.relu(self.cnn1(x))
            x = self.relu(self.cnn2(x))
            return self.cnn3(x)

    class IFBlock(nn.Module):
        def __init__(self, inputs: int, c: int) -> None:
            super().__init__()
            self.conv0 = nn.Sequential(conv(inputs, c // 2, 2), conv(c // 2, c, 2))
            self.convblock = nn.Sequential(*(ResConv(c) for _ in range(layout.res_convs)))
            self.lastconv = nn.Sequential(nn.ConvTranspose2d(c, 4 * layout.block_out, 4, 2, 1), nn.PixelShuffle(2))

        def forward(self, x, flow, scale: float):
            x = functional.interpolate(x, scale_factor=1.0 / scale, mode="bilinear", align_corners=False)
            if flow is not None:
                flow = functional.interpolate(flow, scale_factor=1.0 / scale, mode="bilinear",
                                              align_corners=False) / scale
                x = torch.cat((x, flow), 1)
            out = self.lastconv(self.convblock(self.conv0(x)))
            out = functional.interpolate(out, scale_factor=scale, mode="bilinear", align_corners=False)
            return out[:, :4] * scale, out[:, 4:5], out[:, FLOW_AND_MASK:]

    class IFNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            for index, (inputs, width) in enumerate(layout.blocks):
                setattr(self, f"block{index}", IFBlock(inputs, width))
            if layout.head is not None:
                self.encode = Head(*layout.head)
            self.layout = layout

        def forward(self, img0, img1, timestep: float):
            """The frame at ``timestep`` between ``img0`` and ``img1`` (N x 3 x H x W
            in 0..1, H and W multiples of ``layout.pad_multiple``)."""
            time = torch.full_like(img0[:, :1], float(timestep))
            if layout.head is not None:
                f0, f1 = self.encode(img0), self.encode(img1)
            flow = mask = carried = None
            warped0, warped1 = img0, img1
            for index, scale in enumerate(layout.scales):
                block = getattr(self, f"block{index}")
                if flow is None:
                    parts = [img0, img1] + ([f0, f1] if layout.head is not None else []) + [time]
                    flow, mask, carried = block(torch.cat(parts, 1), None, scale)
                else:
                    parts = [warped0, warped1]
                    if layout.head is not None:
                        parts += [warp(f0, flow[:, :2]), warp(f1, flow[:, 2:4])]
                    parts += [time, mask] + ([carried] if layout.carried else [])
                    delta, mask_delta, carried = block(torch.cat(parts, 1), flow, scale)
                    # 4.6 refines the mask block by block; later versions predict it anew.
                    mask = mask + mask_delta if layout.head is None else mask_delta
                    flow = flow + delta
                warped0 = warp(img0, flow[:, :2])
                warped1 = warp(img1, flow[:, 2:4])
            weight = torch.sigmoid(mask)
            return warped0 * weight + warped1 * (1 - weight)

    return IFNet()


def warp(image, flow):
    """``image`` sampled at each pixel plus ``flow`` (pixels): backward warping,
    edges repeated past the border, as the reference ``warplayer`` does."""
    torch = _torch()
    n, _c, height, width = flow.shape
    horizontal = torch.linspace(-1.0, 1.0, width, device=flow.device, dtype=flow.dtype)
    vertical = torch.linspace(-1.0, 1.0, height, device=flow.device, dtype=flow.dtype)
    grid = torch.stack((horizontal.view(1, 1, width).expand(n, height, width),
                        vertical.view(1, height, 1).expand(n, height, width)), dim=-1)
    # align_corners=True maps -1..1 onto pixel centres 0..W-1: one pixel is 2/(W-1).
    scale = torch.tensor([(width - 1.0) / 2.0, (height - 1.0) / 2.0], device=flow.device, dtype=flow.dtype)
    grid = grid + flow.permute(0, 2, 3, 1) / scale
    return torch.nn.functional.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=True)


# --- reading weights ----------------------------------------------------------------

def read_state(path: Path) -> dict[str, Any]:
    """The tensors of a RIFE weights file, read without running any pickled code."""
    path = Path(path)
    if path.suffix.lower() == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except Exception as exc:  # noqa: BLE001 - a damaged file is a readable message
            raise StudioError(f"{path.name} is not a readable safetensors file: {exc}") from exc
    torch = _torch()
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - the restricted unpickler refused it
        reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise StudioError(f"{path.name} was refused: it holds more than tensors, and only weights are "
                          f"loaded (weights_only=True): {reason}") from exc
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not state:
        raise StudioError(f"{path.name} is not a state dict of tensors")
    odd = [key for key, value in state.items() if not isinstance(value, torch.Tensor)]
    if odd:
        raise StudioError(f"{path.name} holds non-tensor entries ({', '.join(map(str, odd[:3]))}): "
                          "not a RIFE flownet state dict")
    return state


def inference_state(state: dict[str, Any]) -> dict[str, Any]:
    """``state`` with the ``module.`` prefix and training-only parts removed,
    and a Sequential encoder renamed to the Head's names."""
    names = {key.removeprefix(PREFIX): value for key, value in state.items()}
    clean = {}
    for key, value in names.items():
        if key.startswith(TRAINING_ONLY):
            continue
        for old, new in SEQUENTIAL_HEAD.items():
            if key.startswith(old):
                key = new + key[len(old):]
        clean[key] = value
    return clean


def layout_of(state: dict[str, Any]) -> IFNetLayout:
    """The IFNet layout of an inference state dict, or a StudioError saying what was found."""
    if "block0.conv0.0.0.weight" not in state:
        sample = ", ".join(sorted(state)[:4])
        raise StudioError(f"not a RIFE IFNet state dict: no block0.conv0 weights (found {sample} ...)")
    if "block0.lastconv.weight" in state:
        raise StudioError("this is the RIFE 4.0-4.3 (or 3.x) layout, with a single transposed convolution per "
                          "block; it is not supported: use RIFE 4.6 or a later flownet.pkl")
    if "block0.lastconv.0.weight" not in state:
        raise StudioError("unsupported RIFE layout: block0 has no lastconv.0 (ConvTranspose2d + PixelShuffle); "
                          f"found {', '.join(k for k in sorted(state) if k.startswith('block0.'))[:200]}")
    blocks = []
    while f"block{len(blocks)}.conv0.0.0.weight" in state:
        index = len(blocks)
        first, second = state[f"block{index}.conv0.0.0.weight"], state.get(f"block{index}.conv0.1.0.weight")
        if second is None:
            raise StudioError(f"unsupported RIFE layout: block{index}.conv0 has one convolution, not two")
        blocks.append((int(first.shape[1]), int(second.shape[0])))
    res_convs = sum(1 for key in state if re.match(r"^block0\.convblock\.\d+\.beta$", key))
    last = state["block0.lastconv.0.weight"]
    if int(last.shape[1]) % 4:
        raise StudioError(f"unsupported RIFE layout: block0.lastconv has {last.shape[1]} channels (not 4 x n)")
    head = None
    if "encode.cnn0.weight" in state and "encode.cnn3.weight" in state:
        head = (int(state["encode.cnn0.weight"].shape[0]), int(state["encode.cnn3.weight"].shape[1]))
    layout = IFNetLayout(tuple(blocks), int(last.shape[1]) // 4, head, res_convs)
    features = layout.features
    expected_first = 7 + 2 * features
    if blocks[0][0] != expected_first or len(blocks) not in (4, 5) or layout.block_out < FLOW_AND_MASK:
        raise StudioError(f"unsupported RIFE layout: {len(blocks)} blocks, block0 takes {blocks[0][0]} channels "
                          f"(expected {expected_first} with a {features}-channel encoder), "
                          f"{layout.block_out} output channels")
    if layout.carried not in (0, layout.block_out - FLOW_AND_MASK) or layout.carried < 0 or \
            any(inputs != blocks[1][0] for inputs, _width in blocks[1:]):
        raise StudioError("unsupported RIFE layout: later blocks take "
                          f"{', '.join(str(i) for i, _w in blocks[1:])} channels, which matches no known version")
    if layout.head is None and layout.carried:
        raise StudioError("unsupported RIFE layout: carried block features without an encoder")
    return layout


def load_ifnet(path: Path, device: str = "cpu"):
    """The IFNet in ``path`` (``flownet.pkl`` or ``.safetensors``), every
    tensor checked against the layout its shapes describe."""
    state = inference_state(read_state(path))
    layout = layout_of(state)
    net = build_ifnet(layout)
    expected = net.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise StudioError(f"{Path(path).name} does not fit the {layout.describe()}: "
                          f"missing {missing[:3]}, unexpected {unexpected[:3]}")
    wrong = [key for key, value in expected.items() if tuple(state[key].shape) != tuple(value.shape)]
    if wrong:
        key = wrong[0]
        raise StudioError(f"{Path(path).name} does not fit the {layout.describe()}: {key} is "
                          f"{tuple(state[key].shape)}, expected {tuple(expected[key].shape)}")
    net.load_state_dict({key: value.float() for key, value in state.items()}, strict=True)
    return net.to(device).eval().requires_grad_(False)


# --- running it on frames ---------------------------------------------------------------

class RifeInterpolator:
    """In-between frames from a loaded IFNet; frames are H x W x 3 uint8 RGB."""

    def __init__(self, net, name: str = "RIFE") -> None:
        self.net = net
        self.name = name

    def between(self, a: np.ndarray, b: np.ndarray, times: Sequence[float]) -> list[np.ndarray]:
        torch = _torch()
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape or a.ndim != 3 or a.shape[2] != 3:
            raise StudioError(f"RIFE interpolates two RGB frames of one size, not {a.shape} and {b.shape}")
        height, width = a.shape[:2]
        multiple = self.net.layout.pad_multiple
        padding = (0, -width % multiple, 0, -height % multiple)
        device = next(self.net.parameters()).device

        def tensor(frame: np.ndarray):
            pixels = torch.from_numpy(np.ascontiguousarray(frame)).to(device).permute(2, 0, 1)[None].float() / 255.0
            return torch.nn.functional.pad(pixels, padding)

        out = []
        with torch.inference_mode():
            first, second = tensor(a), tensor(b)
            for t in times:
                middle = self.net(first, second, float(t))[0, :, :height, :width]
                pixels = (middle.clamp(0, 1) * 255.0 + 0.5).to(torch.uint8).permute(1, 2, 0)
                out.append(pixels.cpu().numpy())
        return out
