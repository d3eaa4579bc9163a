"""Frame interpolation models built in code and saved the way users keep
them, so the engine finds them through discovery and loads them through the
same code as a real model:

- RIFE: an IFNet of a released layout with random weights, saved as
  Practical-RIFE does (``<name>/train_log/flownet.pkl``, a state dict whose
  keys carry DistributedDataParallel's ``module.`` prefix), or as safetensors;
- ONNX: tiny graphs with the input layouts of FILM and RIFE exports that
  compute a known function of the frames (a linear blend), so the adapter's
  output can be checked numerically."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from studio.core.models.formats import RIFE_WEIGHTS
from studio.engines.video import rife

SEED = 11


def build_rife(folder: Path, layout: rife.IFNetLayout = rife.V4_6, prefix: str = "module.") -> Path:
    """``folder/train_log/flownet.pkl``; returns the file."""
    import torch

    torch.manual_seed(SEED)
    net = rife.build_ifnet(layout)
    with torch.no_grad():  # betas of 1 and default convolutions: keep the random flows modest
        for name, parameter in net.named_parameters():
            if name.endswith("lastconv.0.weight"):
                parameter.mul_(0.1)
    path = folder / "train_log" / RIFE_WEIGHTS
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({prefix + key: value for key, value in net.state_dict().items()}, path)
    return path


def build_rife_safetensors(path: Path, layout: rife.IFNetLayout = rife.V4_25) -> Path:
    import torch
    from safetensors.torch import save_file

    torch.manual_seed(SEED)
    net = rife.build_ifnet(layout)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({key: value.contiguous() for key, value in net.state_dict().items()}, str(path))
    return path


# --- ONNX graphs ---------------------------------------------------------------------

def _save(graph, path: Path) -> Path:
    import onnx
    from onnx import helper

    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # read by every onnxruntime of the last years
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def _blend(a: str, b: str, t: str, out: str) -> list:
    """Nodes computing ``out = a + t * (b - a)`` (= (1 - t) a + t b)."""
    from onnx import helper

    return [helper.make_node("Sub", [b, a], ["difference"]),
            helper.make_node("Mul", [t, "difference"], ["step"]),
            helper.make_node("Add", [a, "step"], [out])]


def build_onnx(path: Path, layout: str, card: dict | None = None) -> Path:
    """A linear-blend interpolator with the input ``layout``:

    - ``x0-x1-time``: FILM style, NCHW frames ``x0``, ``x1`` and ``time`` of shape [1, 1];
    - ``nhwc-timestep``: NHWC frames ``img0``, ``img1`` and a ``timestep`` of shape [1];
    - ``seven-channels``: one NCHW input of 7 channels (frame, frame, time map);
    - ``midpoint``: two NCHW frames and no time (the midpoint);
    - ``four-channels``: one 4-channel input (no way to map it to two frames).
    """
    from onnx import TensorProto, helper

    def frames(name: str, channels: int = 3, nhwc: bool = False):
        shape = [1, "h", "w", channels] if nhwc else [1, channels, "h", "w"]
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)

    if layout == "x0-x1-time":
        inputs = [frames("x0"), frames("x1"), helper.make_tensor_value_info("time", TensorProto.FLOAT, [1, 1])]
        # FILM's time is [batch, 1]: broadcast it over the picture as [1, 1, 1, 1].
        nodes = [helper.make_node("Constant", [], ["shape4"], value=helper.make_tensor(
                     "shape4", TensorProto.INT64, [4], [1, 1, 1, 1])),
                 helper.make_node("Reshape", ["time", "shape4"], ["t"])] + _blend("x0", "x1", "t", "image")
        output = frames("image")
    elif layout == "nhwc-timestep":
        inputs = [frames("img0", nhwc=True), frames("img1", nhwc=True),
                  helper.make_tensor_value_info("timestep", TensorProto.FLOAT, [1])]
        nodes = _blend("img0", "img1", "timestep", "output")
        output = frames("output", nhwc=True)
    elif layout == "seven-channels":
        inputs = [frames("input", 7)]
        nodes = [helper.make_node("Constant", [], ["sizes"], value=helper.make_tensor(
                     "sizes", TensorProto.INT64, [3], [3, 3, 1])),
                 helper.make_node("Split", ["input", "sizes"], ["a", "b", "t"], axis=1)] + _blend("a", "b", "t", "out")
        output = frames("out")
    elif layout == "midpoint":
        inputs = [frames("img0"), frames("img1")]
        nodes = [helper.make_node("Constant", [], ["half"], value=helper.make_tensor(
                     "half", TensorProto.FLOAT, [], [0.5]))] + _blend("img0", "img1", "half", "mid")
        output = frames("mid")
    elif layout == "four-channels":
        inputs = [frames("input", 4)]
        nodes = [helper.make_node("Identity", ["input"], ["out"])]
        output = frames("out", 4)
    else:
        raise ValueError(layout)
    _save(helper.make_graph(nodes, f"tiny-{layout}", inputs, [output]), path)
    if card is not None:
        path.with_suffix(".model.json").write_text(json.dumps(card))
    return path


def blend(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """What the ONNX graphs compute, in 8-bit levels."""
    return (1 - t) * a.astype(np.float64) + t * b.astype(np.float64)
