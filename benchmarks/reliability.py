"""Reliability: kills, damaged model files and damaged inputs, all through
real processes.

1. Kill trials: ``studio generate`` image (pattern engine), audio (sfx) and
   video (GAN walk) jobs on one temporary STUDIO_HOME, each killed with
   SIGKILL at a random moment of its run (the moments are spread over the
   job's measured length). After each kill the studio is reopened (a real
   ``studio library list``) and the library is checked:
   lost artifacts = whole files on disk carrying a Studio recipe, or files of
   finished jobs, that the library does not list; partial files = ``.part``
   files left after reopening, or listed/visible outputs that do not decode.
2. Malformed model files: random and mutated headers of every format
   discovery reads (safetensors, GGUF, ONNX, Piper voice configs, pickles,
   model.json cards, SoundFonts, config folders), each scanned in process
   (an exception counts as a traceback) and all of them through one real
   ``studio models list`` (a traceback in stderr or a non-zero exit counts).
3. Damaged inputs, each a real process: ``studio info`` on damaged PNG, WAV,
   FLAC and MP4 files, settings.json with values of the wrong type, a
   corrupt database, ``--out`` to an unwritable path.
4. First Generate: a fresh process on a fresh STUDIO_HOME opens the real
   main window at 1366x768 (offscreen), types a prompt in the Image
   workspace and presses Generate with every other setting as it comes;
   first_generate_s runs from the press to the finished library item (torch
   import, model load, sampling, the signed file), end to end.

Prints a table, then as its last line a JSON object with kill_trials,
lost_artifacts, partial_files, malformed_inputs, tracebacks and
first_generate_s.

    .venv/bin/python benchmarks/reliability.py [--trials 20] [--seed 1]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sqlite3
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
STUDIO = [sys.executable, "-m", "studio"]

JOBS = {
    "image": ["generate", "pattern", "--prompt", "kill trial", "--steps", "6", "--size", "256x256"],
    "audio": ["generate", "sfx", "--preset", "rain", "--duration-s", "1.5", "--prompt", "kill trial"],
    "video": ["generate", "video", "--model", "dcgan-faces-64", "--frames", "12", "--fps", "8", "--size", "64x64",
              "--prompt", "kill trial"],
}
OUTPUT_SUFFIXES = {".png", ".wav", ".flac", ".mp4", ".txt", ".md", ".json", ".mid", ".webm", ".gif"}


def run_studio(args: list[str], home: Path, timeout: float = 180, env_extra: dict | None = None):
    env = {**os.environ, "STUDIO_HOME": str(home), "QT_QPA_PLATFORM": "offscreen", **(env_extra or {})}
    return subprocess.run(STUDIO + args, capture_output=True, text=True, env=env, timeout=timeout, cwd=ROOT)


def has_traceback(stderr: str) -> bool:
    return "Traceback (most recent call last)" in stderr


# --- 1. kill trials ---------------------------------------------------------------------------------------------

def output_decodes(path: Path) -> bool:
    """Whether a library file is whole (decodes to its end)."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".png":
            from PIL import Image

            with Image.open(path) as image:
                image.load()
        elif suffix in (".wav", ".flac"):
            import soundfile

            soundfile.read(str(path))
        elif suffix == ".mp4":
            import av

            with av.open(str(path)) as container:
                frames = sum(1 for _ in container.decode(video=0))
            return frames > 0
        return True
    except Exception:  # noqa: BLE001 - any failure to decode means a damaged output
        return False


def visible_outputs(library: Path) -> list[Path]:
    return [p for p in library.rglob("*") if p.is_file() and not p.name.startswith(".")
            and p.suffix.lower() in OUTPUT_SUFFIXES and not p.name.endswith(".recipe.json")]


def carries_recipe(path: Path) -> bool:
    from studio.core import provenance

    try:
        return isinstance(provenance.read_recipe(path), dict)
    except Exception:  # noqa: BLE001
        return False


def kill_trials(count: int, rng: random.Random, rows: list) -> dict:
    home = Path(tempfile.mkdtemp(prefix="studio-kill-"))
    library = home / "data" / "library"
    result = {"kill_trials": 0, "lost_artifacts": 0, "partial_files": 0, "tracebacks": 0}
    durations = {}
    for kind, args in JOBS.items():  # one whole run of each: its length spreads the kill moments
        started = time.monotonic()
        done = run_studio(args, home)
        durations[kind] = time.monotonic() - started
        if done.returncode != 0:
            raise SystemExit(f"the {kind} job does not run: {done.stderr.strip()[-400:]}")
    kinds = list(JOBS)
    for trial in range(count):
        kind = kinds[trial % len(kinds)]
        delay = rng.uniform(0.05, durations[kind] * 1.1)
        env = {**os.environ, "STUDIO_HOME": str(home), "QT_QPA_PLATFORM": "offscreen"}
        process = subprocess.Popen(STUDIO + JOBS[kind], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
                                   cwd=ROOT)
        time.sleep(delay)
        finished_before_kill = process.poll() is not None
        process.send_signal(signal.SIGKILL)
        process.wait(30)
        # What the kill left: every whole output on disk that carries a recipe must be listed after reopening.
        on_disk = {p for p in visible_outputs(library) if carries_recipe(p)}
        reopened = run_studio(["library", "list", "--limit", "100000"], home)
        if has_traceback(reopened.stderr) or reopened.returncode != 0:
            result["tracebacks"] += 1
        listed = {Path(line.split()[-1]) for line in reopened.stdout.splitlines() if line.strip()}
        db = sqlite3.connect(home / "data" / "studio.sqlite3")
        finished_paths = {Path(row[0]) for row in db.execute(
            "SELECT artifact_path FROM jobs WHERE state='finished' AND artifact_path IS NOT NULL")}
        db.close()
        lost = (on_disk | finished_paths) - listed
        parts = list(library.rglob("*.part"))
        broken = [p for p in visible_outputs(library) if not output_decodes(p)]
        result["kill_trials"] += 1
        result["lost_artifacts"] += len(lost)
        result["partial_files"] += len(parts) + len(broken)
        rows.append((f"kill {trial + 1:2d} {kind}", f"at {delay:4.2f}s" + (" (done)" if finished_before_kill else ""),
                     f"lost {len(lost)}, partial {len(parts) + len(broken)}, listed {len(listed)}"))
    return result


# --- 2. malformed model files -----------------------------------------------------------------------------------

def _mutate(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    how = rng.choice(["flip", "truncate", "both", "int"])
    if how in ("flip", "both") and out:
        for _ in range(rng.randint(1, 6)):
            out[rng.randrange(len(out))] = rng.randrange(256)
    if how == "int" and len(out) >= 16:
        where = rng.randrange(0, min(len(out) - 8, 64))
        out[where:where + 8] = struct.pack("<Q", rng.choice([0, 1, 2**31, 2**63 - 1, 2**64 - 1, rng.randrange(2**64)]))
    if how in ("truncate", "both"):
        out = out[: rng.randrange(len(out) + 1)]
    return bytes(out)


def _random_json(rng: random.Random, depth: int = 0):
    choice = rng.randrange(8 if depth < 3 else 5)
    if choice == 0:
        return None
    if choice == 1:
        return rng.choice([True, False])
    if choice == 2:
        return rng.choice([0, -1, 1, 2**64, 3.5, 1e308])
    if choice in (3, 4):
        return rng.choice(["", "x", "F32", "lora", "../../etc/passwd", "\u00e9"])
    if choice == 5:
        return [_random_json(rng, depth + 1) for _ in range(rng.randrange(4))]
    keys = ["dtype", "shape", "data_offsets", "__metadata__", "w", "name", "native_size", "modality", "audio",
            "sample_rate", "architectures", "model_type", "_class_name"]
    return {rng.choice(keys): _random_json(rng, depth + 1) for _ in range(rng.randrange(5))}


def malformed_files(rng: random.Random, count: int) -> list[dict[str, bytes]]:
    """``count`` cases, each the files of one model folder entry."""
    sys.path.insert(0, str(ROOT / "tests" / "core"))
    from test_discovery_fuzz import gguf_bytes, onnx_bytes, pickle_bytes, safetensors_bytes, soundfont_bytes

    bases = {".safetensors": safetensors_bytes(), ".gguf": gguf_bytes(), ".onnx": onnx_bytes(),
             ".sf2": soundfont_bytes(), ".pt": pickle_bytes()}
    cases: list[dict[str, bytes]] = []
    kinds = ["mutated", "random", "st-json", "model-json", "piper-json", "config-json"]
    for n in range(count):
        kind = kinds[n % len(kinds)]
        if kind in ("mutated", "random"):
            suffix = rng.choice(sorted(bases))
            name = f"rife-m{n}.onnx" if suffix == ".onnx" else f"m{n}{suffix}"
            data = _mutate(bases[suffix], rng) if kind == "mutated" else rng.randbytes(rng.randrange(0, 400))
            cases.append({name: data})
        elif kind == "st-json":
            raw = json.dumps(_random_json(rng)).encode()
            cases.append({f"m{n}.safetensors": struct.pack("<Q", len(raw)) + raw + b"\0" * rng.randrange(64)})
        elif kind == "model-json":
            cases.append({f"m{n}.safetensors": bases[".safetensors"],
                          f"m{n}.model.json": json.dumps(_random_json(rng)).encode()})
        elif kind == "piper-json":
            cases.append({f"v{n}.onnx": bases[".onnx"], f"v{n}.onnx.json": json.dumps(_random_json(rng)).encode()})
        else:
            name = rng.choice(["config.json", "model_index.json"])
            cases.append({f"f{n}/model.safetensors": bases[".safetensors"],
                          f"f{n}/{name}": json.dumps(_random_json(rng)).encode()})
    return cases


def malformed_inputs(count: int, rng: random.Random, rows: list) -> dict:
    from studio.core.models.discovery import scan_folder

    cases = malformed_files(rng, count)
    home = Path(tempfile.mkdtemp(prefix="studio-fuzz-"))
    models = home / "data" / "models"
    tracebacks = 0
    errors = 0
    for n, files in enumerate(cases):
        folder = models / f"case{n:04d}"
        for name, data in files.items():
            path = folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        try:
            cards = list(scan_folder(folder, source="fuzz"))
            errors += sum(1 for card in cards if card.error)
        except Exception:  # noqa: BLE001 - this is what must never happen
            tracebacks += 1
    listing = run_studio(["models", "list", "--json"], home, timeout=300)
    cli_ok = listing.returncode == 0 and not has_traceback(listing.stderr)
    if not cli_ok:
        tracebacks += 1
    listed = len(json.loads(listing.stdout)) if cli_ok else 0
    rows.append(("malformed model files", f"{len(cases)} cases", f"{errors} cards with an error, "
                 f"{tracebacks} exceptions; studio models list: {'ok' if cli_ok else 'FAILED'}, {listed} cards"))
    return {"malformed_inputs": len(cases), "tracebacks": tracebacks}


# --- 3. damaged inputs ------------------------------------------------------------------------------------------

def damaged_inputs(rows: list) -> dict:
    home = Path(tempfile.mkdtemp(prefix="studio-damaged-"))
    made = {}
    for args in (JOBS["image"], JOBS["audio"], JOBS["video"],
                 ["generate", "sfx", "--preset", "rain", "--duration-s", "0.5", "--format", "flac", "--prompt", "f"]):
        done = run_studio(args, home)
        if done.returncode == 0:
            path = Path(done.stdout.strip().splitlines()[-1])
            made[path.suffix] = path
    tracebacks = 0
    count = 0
    work = home / "damaged"
    work.mkdir()

    def check(label: str, args: list[str], expect_fail: bool = True, env_home: Path = home) -> None:
        nonlocal tracebacks, count
        done = run_studio(args, env_home)
        count += 1
        bad = has_traceback(done.stderr)
        tracebacks += bad
        message = (done.stderr.strip().splitlines() or [""])[-1]
        status = "TRACEBACK" if bad else ("exit %d" % done.returncode)
        if expect_fail and done.returncode == 0 and not bad:
            status += " (no error reported)"
        rows.append((label, status, message[:90]))

    for suffix, path in sorted(made.items()):
        data = path.read_bytes()
        variants = {
            "truncated": data[: len(data) // 2],
            "empty": b"",
            "header": data[:8] + b"\xff\xff\xff\xff" + data[12:],
            "garbage": os.urandom(200),
        }
        for how, content in variants.items():
            target = work / f"{how}{suffix}"
            target.write_bytes(content)
            check(f"info {how}{suffix}", ["info", str(target)], expect_fail=how != "header")
    # Settings of the wrong types.
    settings = home / "config" / "settings.json"
    settings.write_text(json.dumps({"models.folders": "/home/me/models", "models.memory_budget_mb": "lots",
                                    "models.idle_unload_s": [], "ui.theme": 3, "servers.endpoints": "none"}))
    check("settings wrong types: models list", ["models", "list"], expect_fail=False)
    check("settings wrong types: generate", JOBS["image"], expect_fail=False)
    settings.write_text("{not json")
    check("settings not JSON: library list", ["library", "list"], expect_fail=False)
    settings.unlink(missing_ok=True)
    # A corrupt database, then a foreign one: moved aside, files adopted again.
    before = len(visible_outputs(home / "data" / "library"))
    database = home / "data" / "studio.sqlite3"
    for extra in ("-wal", "-shm"):
        Path(str(database) + extra).unlink(missing_ok=True)
    database.write_bytes(b"SQLite format 3\0" + os.urandom(4096))
    check("corrupt database: library list", ["library", "list"], expect_fail=False)
    listed = run_studio(["library", "list", "--limit", "100000"], home).stdout.count("\n")
    rows.append(("  files re-adopted after corrupt db", f"{listed} of {before}", ""))
    for extra in ("-wal", "-shm"):
        Path(str(database) + extra).unlink(missing_ok=True)
    database.unlink()
    foreign = sqlite3.connect(database)
    foreign.execute("CREATE TABLE invoices (id INTEGER, total REAL)")
    foreign.commit()
    foreign.close()
    check("foreign database: library list", ["library", "list"], expect_fail=False)
    # --out where nothing can be written.
    blocker = work / "a-file"
    blocker.write_text("x")
    check("--out inside a file", JOBS["image"] + ["--out", str(blocker / "x.png")])
    check("--out to /proc", JOBS["image"] + ["--out", "/proc/studio-out.png"])
    return {"damaged_inputs": count, "tracebacks": tracebacks}


FIRST_GENERATE = r"""
import json, sys, time
from PySide6.QtCore import QTimer
from studio.engines.registry import open_studio_services
from studio.qt.app import create_application
from studio.qt.main_window import MainWindow

app = create_application()
window = MainWindow(open_studio_services())
window.resize(1366, 768)
window.show()
image = window.show_workspace("image")
result = {}


def press():
    if image.model_picker.card() is None:  # discovery still running: the person waits for the model list
        QTimer.singleShot(50, press)
        return
    image.prompt_edit.setPlainText("a large red circle on a blue background")
    result["model"], result["size"] = image.model_picker.value(), [image.width_spin.value(), image.height_spin.value()]
    result["pressed"] = time.monotonic()
    image.generate_button.click()


def finished(_job_id, item):
    result.update(seconds=time.monotonic() - result["pressed"], file=str(item.path))
    app.quit()


def failed(_job_id, message, _details):
    result["error"] = message
    app.quit()


window.runner.job_finished.connect(finished)
window.runner.job_failed.connect(failed)
QTimer.singleShot(0, press)
QTimer.singleShot(300_000, app.quit)
app.exec()
print(json.dumps(result))
"""


def first_generate(rows: list) -> float:
    with tempfile.TemporaryDirectory(prefix="studio-first-run-") as home:
        env = {**os.environ, "STUDIO_HOME": home, "QT_QPA_PLATFORM": "offscreen"}
        done = subprocess.run([sys.executable, "-c", FIRST_GENERATE], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=360)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    result = json.loads(lines[-1]) if lines else {"error": done.stderr.strip().splitlines()[-1:]}
    if "seconds" not in result:
        rows.append(("first Generate (fresh profile)", "FAILED", str(result.get("error"))))
        return -1.0
    rows.append(("first Generate (fresh profile)", f"{result['seconds']:.1f} s",
                 f"{result['model']} at {result['size'][0]}x{result['size'][1]}"))
    return round(result["seconds"], 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--malformed", type=int, default=240)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    rows: list[tuple[str, str, str]] = []
    started = time.monotonic()
    kills = kill_trials(args.trials, rng, rows)
    fuzz = malformed_inputs(args.malformed, rng, rows)
    damaged = damaged_inputs(rows)
    first_s = first_generate(rows)
    width = max(len(r[0]) for r in rows)
    print(f"{'check':{width}}  {'result':24}  detail")
    for name, result, detail in rows:
        print(f"{name:{width}}  {result:24}  {detail}")
    print(f"({time.monotonic() - started:.0f} s)")
    summary = {
        "kill_trials": kills["kill_trials"],
        "lost_artifacts": kills["lost_artifacts"],
        "partial_files": kills["partial_files"],
        "malformed_inputs": fuzz["malformed_inputs"],
        "tracebacks": kills["tracebacks"] + fuzz["tracebacks"] + damaged["tracebacks"],
        "first_generate_s": first_s,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
