"""Quality and speed of the bundled starter model.

Prints a table of prompt adherence on held-out captions (background colour,
main object's colour and shape, judged by the deterministic detector) and the
time of one 64x64 picture with 20 steps, measured both as the raw diffusers
call and through the studio's `generate` helper (their ratio is the helper's
overhead). The very last line is a JSON object:
{"bg_color_acc", "object_color_acc", "shape_acc", "seconds_20_steps"}.

    python benchmarks/starter_quality.py [--count 200] [--grid docs/starter_samples.png]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

GOALS = {"bg_color_acc": 0.90, "object_color_acc": 0.80, "shape_acc": 0.60, "seconds_20_steps": 1.0}
SPEED_PROMPT = "a large red star and a small blue ring on a yellow background"


def time_calls(call, repeats: int) -> float:
    call()  # warm-up: first calls allocate and pick kernels
    call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=None, help="model folder (default: the bundled one)")
    parser.add_argument("--count", type=int, default=200, help="held-out captions to score")
    parser.add_argument("--repeats", type=int, default=7, help="timed 20-step generations")
    parser.add_argument("--grid", type=Path, help="save the first 16 pictures with their captions here")
    args = parser.parse_args()

    import torch

    from studio.training.evaluate import caption_grid, evaluate_pipeline, save_png
    from studio.training.starter import DEFAULT_GUIDANCE, generate, load_pipeline

    pipe = load_pipeline(args.model)

    def raw() -> None:
        pipe(SPEED_PROMPT, num_inference_steps=20, height=64, width=64, guidance_scale=DEFAULT_GUIDANCE,
             generator=torch.Generator().manual_seed(0))

    def helper() -> None:
        generate(pipe, [SPEED_PROMPT], [0], steps=20)

    seconds_raw = time_calls(raw, args.repeats)
    seconds_helper = time_calls(helper, args.repeats)

    started = time.perf_counter()
    report, images = evaluate_pipeline(pipe, count=args.count)
    eval_seconds = time.perf_counter() - started
    if args.grid:
        save_png(caption_grid(images[:16], [s.caption for s in report.scores[:16]]), args.grid)

    figures = {
        "bg_color_acc": report.bg_color_acc,
        "object_color_acc": report.object_color_acc,
        "shape_acc": report.shape_acc,
        "seconds_20_steps": seconds_raw,
    }
    print(f"starter model, {args.count} held-out captions, 20 steps, guidance {DEFAULT_GUIDANCE}, "
          f"{torch.get_num_threads()} CPU threads")
    print(f"{'measure':<20}{'value':>10}{'goal':>10}  met")
    for name, value in figures.items():
        goal = GOALS[name]
        met = value < goal if name == "seconds_20_steps" else value >= goal
        shown = f"{value:.3f}s" if name == "seconds_20_steps" else f"{value:.1%}"
        wanted = f"< {goal:.0f}s" if name == "seconds_20_steps" else f">= {goal:.0%}"
        print(f"{name:<20}{shown:>10}{wanted:>10}  {'yes' if met else 'NO'}")
    print(f"20 steps through studio.generate: {seconds_helper:.3f}s "
          f"(ratio to the raw diffusers call {seconds_helper / seconds_raw:.2f})")
    print(f"scoring took {eval_seconds:.1f}s")
    print(json.dumps({k: round(v, 4) for k, v in figures.items()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
