"""A finished file is never lost: a process killed between a file's rename
and its library row leaves a file the next start adopts from its embedded
recipe (and its job is marked finished); temp files of dead writers go,
those of live ones stay."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from studio.core.jobs import JobState
from studio.engines.registry import open_studio_services

KILLED_BEFORE_ROW = r"""
import os, signal, sys
from studio.core.jobs import Artifact, CancelToken, NullReporter
from studio.core.library import Library
from studio.engines import execute
from studio.engines.registry import open_studio_services
from studio.engines.pattern import PatternRequest

suffix = sys.argv[1]
def engine(request, report, cancel):
    if suffix == ".png":
        from studio.engines.pattern import run
        return run(request, report, cancel)
    import io, av, numpy as np
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=8)
        stream.width = stream.height = 16
        stream.pix_fmt = "yuv420p"
        for n in range(8):
            frame = av.VideoFrame.from_ndarray(np.full((16, 16, 3), n * 20, np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return Artifact(data=buffer.getvalue(), suffix=suffix, width=16, height=16, duration_s=1.0)
execute.engine_for = lambda request: engine
Library._index = lambda *args: os.kill(os.getpid(), signal.SIGKILL)  # dies right after the rename
services = open_studio_services()
job = services.queue.start(services.queue.submit(PatternRequest(prompt="kept", seed=3, steps=1, width=32,
                                                                height=32)).id)
execute.execute_job(job, services.queue, services.library, NullReporter(), CancelToken())
"""


@pytest.mark.parametrize("suffix", [".png", ".mp4"])
def test_a_file_renamed_before_its_row_is_adopted_on_start(studio_home, suffix):
    env = {**os.environ, "STUDIO_HOME": str(studio_home)}
    result = subprocess.run([sys.executable, "-c", KILLED_BEFORE_ROW, suffix], env=env, timeout=120)
    assert result.returncode == -signal.SIGKILL
    files = [p for p in (studio_home / "data" / "library").rglob(f"*{suffix}")]
    assert len(files) == 1

    services = open_studio_services()
    try:
        items = services.library.items()
        assert [item.path for item in items] == files
        assert items[0].prompt == "kept" and items[0].seed == 3 and items[0].kind == "pattern"
        if suffix == ".png":
            assert (items[0].width, items[0].height) == (32, 32)
        [job] = services.queue.jobs()
        assert job.state is JobState.FINISHED and job.artifact_path == files[0]
    finally:
        services.close()
    again = open_studio_services()  # adopted once, not again
    try:
        assert len(again.library.items()) == 1
    finally:
        again.close()


def test_files_without_a_studio_recipe_are_left_alone(studio_home):
    folder = studio_home / "data" / "library" / "2026-01-01"
    folder.mkdir(parents=True)
    (folder / "holiday.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    (folder / "notes.txt").write_text("just notes")
    services = open_studio_services()
    try:
        assert services.library.items() == []
        assert (folder / "holiday.png").exists()
    finally:
        services.close()


def test_temp_files_of_dead_writers_are_removed_and_of_live_ones_kept(studio_home):
    folder = studio_home / "data" / "library" / "2026-01-01"
    folder.mkdir(parents=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = folder / f".a.png.{dead.pid}-1-0.part"
    live = folder / f".b.png.{os.getpid()}-1-0.part"
    stale_dir = folder / f".c.mp4.{dead.pid}-1-1.part"
    stale.write_bytes(b"half")
    live.write_bytes(b"half")
    stale_dir.mkdir()
    (stale_dir / "frame.png").write_bytes(b"x")
    services = open_studio_services()
    try:
        assert not stale.exists() and not stale_dir.exists()
        assert live.exists()
    finally:
        services.close()


def test_a_replaced_database_readopts_the_finished_files(studio_home):
    services = open_studio_services()
    from studio.core.jobs import CancelToken, NullReporter
    from studio.engines.execute import execute_job
    from studio.engines.pattern import PatternRequest

    try:
        job = services.queue.start(services.queue.submit(PatternRequest(prompt="survivor", steps=1, width=16,
                                                                        height=16)).id)
        state, item = execute_job(job, services.queue, services.library, NullReporter(), CancelToken())
        assert state is JobState.FINISHED
        database = services.paths.database
    finally:
        services.close()
    for extra in ("-wal", "-shm"):
        Path(str(database) + extra).unlink(missing_ok=True)
    database.write_bytes(b"garbage" * 1000)
    reopened = open_studio_services()
    try:
        assert reopened.db.moved_aside is not None
        assert [i.path for i in reopened.library.items()] == [item.path]
    finally:
        reopened.close()
