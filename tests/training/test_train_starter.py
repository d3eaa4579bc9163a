"""The training script end to end at toy size: stages, checkpoints, resuming, export."""

from __future__ import annotations

import json

import pytest
from safetensors import safe_open

from studio.training.checkpoint import read_state
from studio.training.train_starter import main

TOY = ["--device", "cpu", "--vae-steps", "2", "--unet-steps", "3", "--vae-batch", "2", "--cache-size", "4",
       "--unet-batch", "2", "--stats-samples", "8", "--checkpoint-every", "100"]


def test_training_resumes_and_exports_a_loadable_model(tmp_path):
    out = tmp_path / "run"
    assert main(["--out", str(out), *TOY, "--stop-after", "3"]) == 0
    state = read_state(out / "checkpoints" / "denoiser")
    assert state is not None and state["step"] == 1 and not state["done"]
    assert not (out / "model").exists()

    with pytest.raises(SystemExit):  # never silently overwrite a run
        main(["--out", str(out), *TOY])

    assert main(["--out", str(out), *TOY, "--resume"]) == 0
    assert read_state(out / "checkpoints" / "denoiser")["done"]
    log = [json.loads(line) for line in (out / "loss_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if r["stage"] == "unet"] == [0, 2]  # step 1 came from the checkpoint
    summary = json.loads((out / "training_summary.json").read_text())
    assert summary["stages"]["unet"]["steps"] == 3 and summary["stages"]["vae"]["steps"] == 2

    model = out / "model"
    assert not list(out.rglob("*.bin")) and not list(out.rglob("*.pt"))  # safetensors only
    with safe_open(str(model / "unet" / "diffusion_pytorch_model.safetensors"), "pt") as f:
        assert f.get_tensor(next(iter(f.keys()))).dtype.itemsize == 2  # stored as float16
    latent_rgb = json.loads((model / "latent_rgb.json").read_text())
    assert len(latent_rgb["factors"]) == 4 and all(len(row) == 3 for row in latent_rgb["factors"])

    from studio.training.starter import generate, load_pipeline

    pipe = load_pipeline(model)
    images = generate(pipe, ["a red star on a blue background"], [0], steps=2)
    assert images[0].shape == (64, 64, 3)
