"""Text engines on the SmolLM2 Q4_1 starter GGUF: llama.cpp in process and an
OpenAI-compatible server, each against its bare baseline in the same run.

- ``llama_tok_s``: tokens per second of a reply through Studio's text engine
  on its llama.cpp backend (``studio.engines.text.engine.run``: the card
  lookup, the shared model manager, templating, the TextStream);
  ``bare_llama_tok_s``: a bare ``llama_cpp.Llama.create_chat_completion``
  stream on the same file, prompt, context, threads and greedy settings.
  Both are timed from the start of the reply to its last token (the model is
  loaded beforehand in both). ``llama_ratio`` = studio / bare; goal >= 0.95.
- ``rss_over_file``: resident memory that loading the model adds (measured in
  a fresh process, after imports, around the first reply) over the GGUF
  file's size; goal <= 2.0.
- ``remote_ratio``: tokens per second through Studio's server backend against
  llama.cpp's own OpenAI-compatible server (started here on 127.0.0.1),
  over a bare ``httpx`` streaming client sending the same request to the same
  server; goal >= 0.95. ``remote_ttft_ratio``: time to first token, the same
  way; goal <= 1.1.
- ``speedup_vs_transformers``: llama.cpp tokens/s over the transformers
  backend's on the same file (its one-time conversion is done before timing).

Runs alternate after an unmeasured warm-up; medians are compared. Every reply
asks for 128 new tokens at temperature 0 with one seed, so both sides of a
pair write the same text. Both llama.cpp sides keep their KV cache between
runs (Studio does, so a chat's next turn reads only its new tokens), so a
repeated prompt is not evaluated again on either side.

Usage: python benchmarks/text_engines.py [--runs N] [--tokens N]
The last line of output is one JSON object with the figures above.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
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
CONTEXT = 4096  # Studio's default context for this model (its own 8192, capped)
SERVER_NAME = "bench"
REPEAT_PENALTY = 1.1  # the text request's default, so both sides sample alike

RSS_CHILD = r"""
import json, sys, psutil
from studio.core.jobs import CancelToken, NullReporter
from studio.engines.registry import open_studio_services
from studio.engines.text.engine import backend_for, run
from studio.engines.text.requests import TextRequest
import llama_cpp  # imported before the baseline: the library is paid once per process whatever the model
services = open_studio_services()
services.models.refresh()
card = services.models.card(sys.argv[1])
assert backend_for(card) == "llama.cpp", backend_for(card)
process = psutil.Process()
before = process.memory_info().rss
run(TextRequest(model_id=card.id, prompt="Hi", max_new_tokens=1, temperature=0, context_length=int(sys.argv[2])),
    NullReporter(), CancelToken())
after = process.memory_info().rss
print(json.dumps({"added": after - before, "file": card.path.stat().st_size,
                  "accounted": services.models.memory_used(card.id)}))
"""


class Recorder:
    """A Reporter that keeps nothing but counts streamed pieces."""

    def __init__(self) -> None:
        self.pieces = 0

    def progress(self, done: int, total: int, message: str = "") -> None:
        pass

    def preview(self, payload) -> None:
        self.pieces += 1


def studio_reply(model_id: str, tokens: int, **extra) -> dict:
    from studio.core.jobs import CancelToken
    from studio.engines.text.engine import run
    from studio.engines.text.requests import TextRequest

    request = TextRequest(model_id=model_id, prompt=PROMPT, max_new_tokens=tokens, temperature=0.0, seed=7,
                          context_length=CONTEXT, **extra)
    artifact = run(request, Recorder(), CancelToken())
    stats = artifact.meta["recipe"]["stats"]
    return {"tok_s": stats["tokens_per_s"], "ttft_s": stats["ttft_s"], "tokens": stats["tokens"]}


def bare_llama_reply(llm, tokens: int) -> dict:
    started = time.perf_counter()
    first = last = None
    count = 0
    for chunk in llm.create_chat_completion([{"role": "user", "content": PROMPT}], max_tokens=tokens,
                                            temperature=0.0, seed=7, repeat_penalty=REPEAT_PENALTY, stream=True):
        if chunk["choices"][0]["delta"].get("content"):
            last = time.perf_counter()
            first = first or last
            count += 1
    return {"tok_s": count / (last - started), "ttft_s": first - started, "tokens": count}


def bare_server_reply(base_url: str, model: str, tokens: int) -> dict:
    import httpx
    from httpx_sse import connect_sse

    body = {"model": model, "messages": [{"role": "user", "content": PROMPT}], "max_tokens": tokens,
            "temperature": 0.0, "seed": 7, "repeat_penalty": REPEAT_PENALTY, "stream": True}
    started = time.perf_counter()
    first = last = None
    count = 0
    with httpx.Client(timeout=120) as client, connect_sse(client, "POST", f"{base_url}/v1/chat/completions",
                                                           json=body) as events:
        for event in events.iter_sse():
            if event.data == "[DONE]":
                break
            if json.loads(event.data)["choices"][0]["delta"].get("content"):
                last = time.perf_counter()
                first = first or last
                count += 1
    return {"tok_s": count / (last - started), "ttft_s": first - started, "tokens": count}


def alternate(runs: int, studio, bare) -> tuple[list[dict], list[dict]]:
    studio(), bare()  # warm-up, not measured
    ours, theirs = [], []
    for _ in range(runs):
        ours.append(studio())
        theirs.append(bare())
    return ours, theirs


def median(rows: list[dict], key: str) -> float:
    return statistics.median(row[key] for row in rows)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(model_path: Path, threads: int) -> tuple[subprocess.Popen, str]:
    import httpx

    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(model_path), "--host", "127.0.0.1",
         "--port", str(port), "--n_ctx", str(CONTEXT), "--n_threads", str(threads), "--verbose", "false"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base_url}/v1/models", timeout=1).status_code == 200:
                return process, base_url
        except httpx.HTTPError:
            time.sleep(0.3)
    process.kill()
    raise SystemExit("llama.cpp's server did not start within 120 s")


def rss_in_fresh_process(home: str) -> dict:
    env = {**os.environ, "STUDIO_HOME": home}
    out = subprocess.run([sys.executable, "-c", RSS_CHILD, STARTER, str(CONTEXT)], env=env, capture_output=True,
                         text=True, check=True, cwd=REPO)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=128)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        os.environ["STUDIO_HOME"] = home
        return run_benchmark(home, args.runs, args.tokens)


def run_benchmark(home: str, runs: int, tokens: int) -> int:
    import llama_cpp

    from studio.core.servers import ServerStore
    from studio.engines.registry import open_studio_services
    from studio.engines.text.llama import KV_CACHE_8BIT, physical_cores

    services = open_studio_services()
    services.models.refresh()
    card = services.models.card(STARTER)
    threads = physical_cores()

    # llama.cpp in process, against a bare Llama on the same file
    bare = llama_cpp.Llama(model_path=str(card.path), n_ctx=CONTEXT, n_threads=threads, n_threads_batch=threads,
                           verbose=False, **KV_CACHE_8BIT)  # the KV cache Studio uses
    llama_rows, bare_rows = alternate(runs, lambda: studio_reply(STARTER, tokens),
                                      lambda: bare_llama_reply(bare, tokens))
    bare.close()

    # The transformers backend on the same file (the conversion is done by the warm-up)
    services.models.unload(STARTER)
    card.extra["backend"] = "transformers"
    studio_reply(STARTER, 8)
    transformers_rows = [studio_reply(STARTER, tokens) for _ in range(runs)]
    card.extra.pop("backend")
    services.models.unload(STARTER)

    rss = rss_in_fresh_process(home)

    # A real OpenAI-compatible server: Studio's server backend against a bare client
    process, base_url = start_server(card.path, threads)
    try:
        ServerStore(services.settings).add(SERVER_NAME, base_url)
        services.models.refresh()
        remote_id = next(c.id for c in services.models.cards("text") if c.source == f"server {SERVER_NAME}")
        model = services.models.card(remote_id).extra["model"]
        remote_rows, client_rows = alternate(runs, lambda: studio_reply(remote_id, tokens),
                                             lambda: bare_server_reply(base_url, model, tokens))
    finally:
        process.terminate()
        process.wait(10)

    figures = {
        "llama_tok_s": round(median(llama_rows, "tok_s"), 2),
        "bare_llama_tok_s": round(median(bare_rows, "tok_s"), 2),
        "llama_ratio": round(median(llama_rows, "tok_s") / median(bare_rows, "tok_s"), 3),
        "rss_over_file": round(rss["added"] / rss["file"], 3),
        "remote_ratio": round(median(remote_rows, "tok_s") / median(client_rows, "tok_s"), 3),
        "remote_ttft_ratio": round(median(remote_rows, "ttft_s") / median(client_rows, "ttft_s"), 3),
        "speedup_vs_transformers": round(median(llama_rows, "tok_s") / median(transformers_rows, "tok_s"), 2),
    }
    print(f"SmolLM2-135M-Instruct Q4_1 ({rss['file'] / 1e6:.0f} MB), {tokens} new tokens, greedy, "
          f"{threads} threads, median of {runs}")
    print(f"{'path':38} {'tok/s':>8} {'ttft ms':>8} {'tokens':>7}")
    for label, rows in (("Studio, llama.cpp backend", llama_rows), ("bare llama_cpp.Llama", bare_rows),
                        ("Studio, transformers backend", transformers_rows),
                        ("Studio, server backend", remote_rows), ("bare httpx client, same server", client_rows)):
        print(f"{label:38} {median(rows, 'tok_s'):8.1f} {1000 * median(rows, 'ttft_s'):8.1f} "
              f"{median(rows, 'tokens'):7.0f}")
    print(f"memory added by loading: {rss['added'] / 1e6:.0f} MB (the manager accounts "
          f"{rss['accounted'] / 1e6:.0f} MB) for a {rss['file'] / 1e6:.0f} MB file")
    print("goals: llama_ratio >= 0.95, rss_over_file <= 2.0, remote_ratio >= 0.95, remote_ttft_ratio <= 1.1")
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
