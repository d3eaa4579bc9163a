"""GAN generators as a second kind of image model: rendered in real time
while the user drags latent sliders, morphs between two seeds, or looks at
a grid of neighbouring seeds, and saved through a ``GanRequest`` job that
renders the very same frame.

A generator is described by its model card (``model.json`` or the starter
card): ``"generator": {"class": "dcgan", "nz": 100, "ngf": 64, "nc": 3,
"image_size": 64}`` for the DCGAN family (the ``dcgan-faces-64`` starter),
or ``{"class": "sequential", "nz": ..., "layers": [["ConvTranspose2d",
{...}], ["BatchNorm2d", {...}], ["ReLU", {}], ...]}`` for any feed-forward
generator built from a fixed set of torch layers. Weights are a
safetensors file or a torch file read with ``weights_only=True``.

Directions are either random (seeded, orthonormal) or principal: the
GANSpace recipe (PCA of the first block's activations over sampled
latents, regressed back to latent space), so the first sliders change
the picture the most."""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from studio.core.images import encode_png
from studio.core.jobs import Artifact, CancelToken, Reporter, StudioError
from studio.core.models.cards import ModelCard
from studio.engines.image.requests import GanRequest

DIRECTION_COUNT = 6
PCA_SAMPLES = 512
# The layers a "sequential" card may name (nothing else can be built from a card).
_LAYERS = ("ConvTranspose2d", "Conv2d", "BatchNorm2d", "InstanceNorm2d", "ReLU", "LeakyReLU", "Tanh", "Sigmoid",
           "Upsample", "Linear", "Unflatten", "Flatten", "Identity")


@dataclass
class GanModel:
    generator: Any  # torch.nn.Module mapping (N, nz, 1, 1) latents to (N, 3, H, W) in -1..1
    nz: int
    name: str
    output_range: str = "tanh"  # "tanh": -1..1, "sigmoid": 0..1
    _directions: dict[str, np.ndarray] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def latent(self, seed: int) -> np.ndarray:
        return np.random.default_rng(int(seed) & 0xFFFFFFFF).standard_normal(self.nz).astype(np.float32)

    def directions(self, kind: str) -> np.ndarray:
        with self._lock:
            if kind not in self._directions:
                self._directions[kind] = (principal_directions(self) if kind == "principal"
                                          else random_directions(self.nz))
            return self._directions[kind]

    def render(self, latents: np.ndarray) -> np.ndarray:
        """uint8 (N, H, W, 3) pictures of (N, nz) latents."""
        import torch

        parameter = next(self.generator.parameters())
        with torch.inference_mode():
            z = torch.from_numpy(np.ascontiguousarray(latents, dtype=np.float32)).to(parameter.device)
            out = self.generator(z[:, :, None, None]).float()
        out = (out + 1.0) * 127.5 if self.output_range == "tanh" else out * 255.0
        return out.clamp(0, 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


# --- building generators from cards ----------------------------------------------------

def _dcgan(spec: dict[str, Any]) -> Any:
    from torch import nn

    nz, ngf, nc = int(spec.get("nz", 100)), int(spec.get("ngf", 64)), int(spec.get("nc", 3))
    size = int(spec.get("image_size", 64))
    stages = max(1, round(np.log2(size / 4)) - 1)  # 64 px: 4 -> 8 -> 16 -> 32, then the RGB layer to 64
    widths = [nz] + [ngf * 2 ** (stages - i) for i in range(stages + 1)]
    layers: list[nn.Module] = []
    for index, (cin, cout) in enumerate(itertools.pairwise(widths)):
        stride, pad = (1, 0) if index == 0 else (2, 1)
        layers += [nn.ConvTranspose2d(cin, cout, 4, stride, pad, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True)]
    layers += [nn.ConvTranspose2d(widths[-1], nc, 4, 2, 1, bias=False), nn.Tanh()]
    return nn.Sequential(*layers), nz


def _sequential(spec: dict[str, Any]) -> Any:
    from torch import nn

    layers = []
    for entry in spec.get("layers", []):
        if not (isinstance(entry, (list, tuple)) and len(entry) == 2 and entry[0] in _LAYERS):
            raise StudioError(f"unsupported generator layer {entry!r}; allowed: {', '.join(_LAYERS)}")
        kind, options = entry
        layers.append(getattr(nn, kind)(**dict(options)))
    if not layers:
        raise StudioError("the generator spec lists no layers")
    return nn.Sequential(*layers), int(spec["nz"])


def _read_state(path: Path) -> dict[str, Any]:
    import torch

    if path.suffix.lower() == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    state = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("netG_state_dict", "generator", "state_dict", "g_ema"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
            break
    return state


def load_generator(card: ModelCard, device: str = "cpu") -> Any:
    """The generator a GAN card describes, with its weights, in eval mode: a plain
    torch module (what every engine sharing the model manager expects), carrying
    its ``GanModel`` as the ``gan`` attribute."""
    spec = dict(card.extra.get("generator") or {})
    spec.setdefault("class", "dcgan")
    for key in ("nz", "ngf", "nc", "image_size"):
        if key in card.extra and key not in spec:
            spec[key] = card.extra[key]
    if spec["class"] == "dcgan":
        generator, nz = _dcgan(spec)
    elif spec["class"] == "sequential":
        generator, nz = _sequential(spec)
    else:
        raise StudioError(f"{card.name}: unknown generator class {spec['class']!r} (dcgan or sequential)")
    state = _read_state(Path(card.path))
    # Trained wrappers prefix the layers ("main.0.weight", "module.main.0.weight").
    state = {k.removeprefix("module.").removeprefix("main."): v for k, v in state.items()}
    try:
        generator.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise StudioError(f"{card.name}: the weights do not fit the generator its card describes ({first})") from exc
    generator = generator.to(device).eval()
    generator.gan = GanModel(generator, nz, card.name, str(spec.get("output_range", "tanh")))
    return generator


def gan_model(generator: Any, name: str = "") -> GanModel:
    """The GanModel of a loaded generator (one loaded before it carried one: latent size from its first layer)."""
    model = getattr(generator, "gan", None)
    if isinstance(model, GanModel):
        return model
    import torch

    first = next(m for m in generator.modules() if isinstance(m, (torch.nn.ConvTranspose2d, torch.nn.Linear)))
    nz = first.in_channels if isinstance(first, torch.nn.ConvTranspose2d) else first.in_features
    generator.gan = GanModel(generator, int(nz), name)
    return generator.gan


# --- latent directions ---------------------------------------------------------------------

def random_directions(nz: int, count: int = DIRECTION_COUNT, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((nz, count)))
    return q.T.astype(np.float32)


def principal_directions(model: GanModel, count: int = DIRECTION_COUNT, seed: int = 0) -> np.ndarray:
    """GANSpace: PCA of the first block's activations, mapped back to latent directions."""
    import torch

    rng = np.random.default_rng(seed)
    z = rng.standard_normal((PCA_SAMPLES, model.nz)).astype(np.float32)
    children = list(model.generator.children())
    first = torch.nn.Sequential(*children[: min(3, len(children))])  # the first up-convolution block
    parameter = next(model.generator.parameters())
    with torch.inference_mode():
        features = first(torch.from_numpy(z).to(parameter.device)[:, :, None, None])
        features = features.reshape(PCA_SAMPLES, -1).float().cpu()
        centred = features - features.mean(dim=0)
        # A randomised PCA (torch, seeded): a full SVD of 512 x 8192 costs seconds on a busy CPU.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            _, _, components = torch.pca_lowrank(centred, q=count + 4, center=False, niter=4)
        coords = (centred @ components[:, :count]).double().numpy()
    mapping, *_ = np.linalg.lstsq(coords, z.astype(np.float64), rcond=None)  # (count, nz)
    directions = mapping / np.linalg.norm(mapping, axis=1, keepdims=True)
    # A fixed sign per direction, so slider "+" means the same thing every time.
    signs = np.sign(directions[np.arange(count), np.abs(directions).argmax(axis=1)])
    return (directions * signs[:, None]).astype(np.float32)


def slerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """Spherical interpolation: stays on the shell where Gaussian latents live."""
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    cos = float(np.clip(np.dot(a / na, b / nb), -1.0, 1.0))
    angle = np.arccos(cos)
    if angle < 1e-4:
        return (1 - t) * a + t * b
    return ((np.sin((1 - t) * angle) * a + np.sin(t * angle) * b) / np.sin(angle)).astype(np.float32)


def frame_latent(model: GanModel, seed: int, directions: str, offsets: tuple, morph_seed: int = -1,
                 morph: float = 0.0) -> np.ndarray:
    """The latent of one frame: the seed's (morphed toward another seed), moved along the directions."""
    z = model.latent(seed)
    if morph_seed >= 0 and morph > 0.0:
        z = slerp(z, model.latent(morph_seed), morph)
    if offsets:
        basis = model.directions(directions)
        steps = np.zeros(len(basis), dtype=np.float32)
        steps[: min(len(offsets), len(basis))] = np.asarray(offsets[: len(basis)], dtype=np.float32)
        z = z + steps @ basis
    return z.astype(np.float32)


def grid_image(tiles: np.ndarray, columns: int, gap: int = 2) -> np.ndarray:
    """Tiles (N, H, W, 3) laid out in rows of ``columns`` with a dark gap."""
    count, h, w, _ = tiles.shape
    rows = -(-count // columns)
    sheet = np.full((rows * h + (rows - 1) * gap, columns * w + (columns - 1) * gap, 3), 24, dtype=np.uint8)
    for index, tile in enumerate(tiles):
        r, c = divmod(index, columns)
        sheet[r * (h + gap): r * (h + gap) + h, c * (w + gap): c * (w + gap) + w] = tile
    return sheet


def enlarge(pixels: np.ndarray, scale: int) -> np.ndarray:
    """Nearest-neighbour enlargement: a 64 px face stays crisp on screen."""
    return pixels.repeat(scale, axis=0).repeat(scale, axis=1) if scale > 1 else pixels


def render_request(model: GanModel, request: GanRequest) -> np.ndarray:
    if request.grid > 1:
        seeds = [request.seed + i for i in range(request.grid * request.grid)]
        latents = np.stack([frame_latent(model, s, request.directions, request.offsets) for s in seeds])
        return enlarge(grid_image(model.render(latents), request.grid), request.scale)
    z = frame_latent(model, request.seed, request.directions, request.offsets, request.morph_seed, request.morph)
    return enlarge(model.render(z[None])[0], request.scale)


def load_for(card: ModelCard) -> Any:
    from studio.engines import context

    return load_generator(card, context.device().name)


def loaded_generator(card: ModelCard) -> GanModel:
    """The card's generator from the shared model manager (loaded once, shared with the GUI)."""
    from studio.engines import context

    return gan_model(context.model_manager().get(card.id, load_for), card.name)


def run(request: GanRequest, report: Reporter, cancel: CancelToken) -> Artifact:
    from studio.engines import context

    request.validate()
    card = context.find_card(request.model_id, "image")
    if card.format != "gan" and "generator" not in card.extra:
        raise StudioError(f"{card.name} is not a GAN generator")
    report.progress(0, 1, "rendering")
    model = loaded_generator(card)
    cancel.raise_if_cancelled()
    started = time.perf_counter()
    pixels = render_request(model, request)
    report.progress(1, 1, "saving")
    recipe = {"model": {"id": card.id, "name": card.name, "format": "gan", "licence": card.licence},
              "render_ms": round((time.perf_counter() - started) * 1000, 1)}
    return Artifact(data=encode_png(np.ascontiguousarray(pixels)), suffix=".png", width=int(pixels.shape[1]),
                    height=int(pixels.shape[0]), meta={"recipe": recipe})
