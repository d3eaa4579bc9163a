"""Personalisation, measured: a hexagon LoRA on the starter model, and a text LoRA on SmolLM2.

Image part: 20 captioned single-hexagon renders (a shape the starter never
saw) are written to a folder and trained on with the studio's defaults for
a 64 px model (`defaults_for(64)`: rank 16, learning rate 2e-3, text
encoder too, 1200 steps of 4 hexagons plus 4 of the starter's own training
renders for prior preservation, weight 1, as the lora job does); then 200
held-out hexagon captions are drawn without and with the LoRA, and 200 of
the model's own held-out captions (no hexagon) with it, each scored by the
hexagon-aware detector (`detect_extended`) at the model's own 20 steps and
guidance 5; the model's own shape accuracy on those captions is measured
with the same detector. `hexagon_acc_ceiling` scores the 200 hexagon renders
themselves after the starter's autoencoder has encoded and decoded them
(small hexagons come back as discs); `hexagon_acc_ceiling_refined` the same
through latents refined towards each render through the decoder
(`hexagons.REFINE_STEPS` steps of `studio.training.lora.refine`): what the
decoder can draw, and so the most a LoRA, which leaves the autoencoder
alone, could reach.

Text part: a LoRA on the SmolLM2 starter from six files of a generated
author (`studio.training.lora.author`), 40 steps of 4 blocks of 128 tokens
at a learning rate of 1e-3, with held-out perplexity of that author before
and after.

`--part ceiling` reports only the two ceilings by hexagon size
(`hexagons.ceiling_by_size`).

The two parts run in two processes at once (each single-threaded unless
--threads says otherwise); `--part image` or `--part text` runs one alone,
in this process. Prints a table, saves the before/after grid (`--grid`),
and last one JSON line:
{"hexagon_acc_before", "hexagon_acc_after", "hexagon_acc_ceiling",
 "base_shape_acc_with_lora", "base_shape_acc_own", "train_minutes",
 "lora_mb", "text_ppl_before", "text_ppl_after", ...}
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def image_part(work: Path, count: int, grid: Path | None) -> dict:
    from dataclasses import replace

    from safetensors.torch import save_file

    from studio.engines.image.lora import LoraState, apply_loras
    from studio.training.evaluate import caption_grid, held_out_samples, save_png
    from studio.training.lora.dataset import load_folder
    from studio.training.lora.hexagons import (
        REFINE_STEPS,
        SAMPLE_PROMPT,
        autoencoder_ceiling,
        held_out,
        score,
        write_training_set,
    )
    from studio.training.lora.image import defaults_for, train_image_lora
    from studio.training.lora.kohya import kohya_state
    from studio.training.lora.prior import starter_prior
    from studio.training.starter import load_pipeline

    write_training_set(work / "hexagons", count=20)
    images = load_folder(work / "hexagons", resolution=64)
    config = replace(defaults_for(64), sample_prompt=SAMPLE_PROMPT, sample_every=10**9)
    pipe = load_pipeline()
    began = time.perf_counter()
    prior = starter_prior(config.prior_count) if config.prior_weight > 0 else None  # as the lora job does
    train_image_lora(pipe, images, config, work / "run", "cpu", prior_images=prior,
                     on_step=lambda s, n, loss, eta: s % 50 == 0 and print(f"  step {s}/{n} loss {loss:.4f}",
                                                                           flush=True))
    train_minutes = (time.perf_counter() - began) / 60
    lora = work / "hexagon.safetensors"
    save_file(kohya_state(pipe.unet, pipe.text_encoder), str(lora))
    print(f"  trained in {train_minutes:.1f} min", flush=True)

    hexagons, base_samples = held_out(count), held_out_samples(count)
    with_lora = load_pipeline()
    apply_loras(with_lora, LoraState(), [("hexagon", 1.0, lora)])
    after, after_images = score(with_lora, hexagons)
    print(f"  hexagon accuracy with the LoRA {after:.3f}", flush=True)
    base_with, _ = score(with_lora, base_samples)
    print(f"  own shapes with the LoRA {base_with:.3f}", flush=True)
    plain = load_pipeline()
    before, before_images = score(plain, hexagons)
    print(f"  hexagon accuracy without {before:.3f}", flush=True)
    base_own, _ = score(plain, base_samples)
    ceiling = autoencoder_ceiling(plain, hexagons)
    ceiling_refined = autoencoder_ceiling(plain, hexagons, REFINE_STEPS)
    if grid:
        pictures = before_images[:8] + after_images[:8]
        labels = [f"before: {s.caption}" for s in hexagons[:8]] + [f"LoRA: {s.caption}" for s in hexagons[:8]]
        save_png(caption_grid(pictures, labels, columns=8, scale=3), grid)
    return {"hexagon_acc_before": round(before, 4), "hexagon_acc_after": round(after, 4),
            "hexagon_acc_ceiling": round(ceiling, 4), "hexagon_acc_ceiling_refined": round(ceiling_refined, 4),
            "base_shape_acc_with_lora": round(base_with, 4), "base_shape_acc_own": round(base_own, 4),
            "train_minutes": round(train_minutes, 2), "lora_mb": round(lora.stat().st_size / 2**20, 3),
            "image_count": count}


def text_part(work: Path, steps: int) -> dict:
    from studio.core.jobs import CancelToken, NullReporter
    from studio.core.models.discovery import discover
    from studio.engines.text.loading import load_language_model
    from studio.training.lora.author import write_logbook
    from studio.training.lora.text import TextLoraConfig, read_texts, train_text_lora

    card = next(c for c in discover() if c.id == "smollm2-135m-instruct")
    lm = load_language_model(card, NullReporter(), CancelToken())
    docs = read_texts(write_logbook(work / "writing"))
    config = TextLoraConfig(steps=steps, learning_rate=1e-3, checkpoint_every=10**9)
    began = time.perf_counter()
    _, result = train_text_lora(lm.model, lm.tokenizer, docs, config, work / "text-run", "cpu",
                                on_step=lambda s, n, loss, eta: s % 20 == 0 and print(
                                    f"  text step {s}/{n} loss {loss:.3f}", flush=True))
    return {"text_ppl_before": round(result.ppl_before, 3), "text_ppl_after": round(result.ppl_after, 3),
            "text_train_minutes": round((time.perf_counter() - began) / 60, 2),
            "text_eval_tokens": result.eval_tokens}


def ceiling_part(count: int) -> dict:
    from studio.training.lora.hexagons import ceiling_by_size, held_out
    from studio.training.starter import load_pipeline

    ceilings = ceiling_by_size(load_pipeline(), held_out(count))
    return {"ceiling_by_size_encoder": ceilings["encoder"], "ceiling_by_size_refined": ceilings["refined"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("all", "image", "text", "ceiling"), default="all",
                        help="image or text: only that part, in this process (default: both, in two processes); "
                             "ceiling: the autoencoder's ceilings by hexagon size")
    parser.add_argument("--count", type=int, default=200, help="held-out captions per score")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per part")
    parser.add_argument("--text-steps", type=int, default=40, help="text LoRA training steps")
    parser.add_argument("--grid", type=Path, default=ROOT / "docs" / "personalise_hexagons.png")
    parser.add_argument("--out", type=Path, help="(internal) where a part writes its figures")
    args = parser.parse_args(argv)
    if args.part != "all":
        import torch

        torch.set_num_threads(args.threads)
        with tempfile.TemporaryDirectory() as tmp:
            if args.part == "image":
                figures = image_part(Path(tmp), args.count, args.grid)
            elif args.part == "ceiling":
                figures = ceiling_part(args.count)
            else:
                figures = text_part(Path(tmp), args.text_steps)
        if args.out:
            args.out.write_text(json.dumps(figures))
        else:
            _print(figures)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
        children = {part: subprocess.Popen([sys.executable, __file__, "--part", part, "--count", str(args.count),
                                            "--threads", str(args.threads), "--grid", str(args.grid),
                                            "--text-steps", str(args.text_steps),
                                            "--out", str(Path(tmp) / f"{part}.json")], env=env)
                    for part in ("image", "text")}
        figures: dict = {}
        for part, child in children.items():
            if child.wait() != 0:
                print(f"{part} part failed", file=sys.stderr)
                return 1
            figures.update(json.loads((Path(tmp) / f"{part}.json").read_text()))
    _print(figures)
    return 0


def _print(figures: dict) -> None:
    width = max(len(k) for k in figures)
    for key, value in figures.items():
        print(f"{key:<{width}}  {value}")
    print(json.dumps(figures))


if __name__ == "__main__":
    raise SystemExit(main())
