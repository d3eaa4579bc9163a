"""A process killed while it writes to the library leaves a library that
opens, lists only whole files (every whole one: a file renamed before its
row is adopted), and shows the running job as interrupted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from PIL import Image

from studio.core.jobs import JobState
from studio.engines.registry import open_studio_services

WRITER = r"""
import sys
from studio.engines.registry import open_studio_services
from studio.engines.execute import execute_job
from studio.engines.pattern import PatternRequest
from studio.core.jobs import CancelToken, NullReporter
services = open_studio_services()
for n in range(1000):
    services.queue.submit(PatternRequest(prompt=f"image {n}", seed=n, steps=1, width=512, height=512))
print("ready", flush=True)
while True:
    job = services.queue.take_next()
    execute_job(job, services.queue, services.library, NullReporter(), CancelToken())
"""


def test_sigkill_mid_write_leaves_a_consistent_library(studio_home):
    env = {**os.environ, "STUDIO_HOME": str(studio_home)}
    process = subprocess.Popen([sys.executable, "-c", WRITER], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(list(Path(studio_home).rglob("*.png"))) < 5:
            time.sleep(0.1)  # let it write a few files (the first one loads the encoder)
        time.sleep(0.3)  # and be somewhere in the middle of the next one
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(10)

    services = open_studio_services()
    try:
        items = services.library.items(limit=10000)
        assert items, "the writer should have finished some images before it was killed"
        for item in items:
            with Image.open(item.path) as image:
                image.load()  # raises on a truncated file
                assert image.size == (512, 512)
        states = [job.state for job in services.queue.jobs()]
        # The job it ran is interrupted, or finished if its file was whole (adopted on start).
        assert states.count(JobState.INTERRUPTED) <= 1 and JobState.RUNNING not in states
        assert states.count(JobState.FINISHED) == len(items)
        assert not list(Path(services.paths.library_dir).rglob("*.part"))
        listed = {item.path for item in items}
        on_disk = {p for p in Path(services.paths.library_dir).rglob("*.png")}
        assert listed <= on_disk
    finally:
        services.close()
