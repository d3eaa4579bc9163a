"""Atomic writes: data reaches the disk before the rename that exposes it, and
two writers of one file never share a temp name."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from studio.core import atomic
from studio.core.atomic import PART_SUFFIX, atomic_output, atomic_write_bytes, temp_path


def _record_fsyncs_and_renames(monkeypatch) -> list[tuple[str, str]]:
    events: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(src, dst) -> None:
        events.append(("replace", str(Path(src).resolve())))
        real_replace(src, dst)

    monkeypatch.setattr(atomic.os, "fsync", fsync)
    monkeypatch.setattr(atomic.os, "replace", replace)
    return events


def test_temp_names_differ_between_threads_and_calls(tmp_path):
    target = tmp_path / "clip.mp4"
    names: list[Path] = []
    threads = [threading.Thread(target=lambda: names.append(temp_path(target))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    names += [temp_path(target), temp_path(target)]
    assert len(set(names)) == len(names)
    assert all(name.parent == tmp_path and name.name.endswith(PART_SUFFIX) for name in names)


def test_a_streamed_file_is_flushed_before_it_is_renamed(tmp_path, monkeypatch):
    events = _record_fsyncs_and_renames(monkeypatch)
    target = tmp_path / "clip.mp4"
    with atomic_output(target) as temp:
        temp.write_bytes(b"frames")
        temp_name = str(temp.resolve())
    assert target.read_bytes() == b"frames"
    rename = events.index(("replace", temp_name))
    assert ("fsync", temp_name) in events[:rename]


def test_every_frame_of_a_folder_is_flushed_before_the_folder_is_renamed(tmp_path, monkeypatch):
    events = _record_fsyncs_and_renames(monkeypatch)
    target = tmp_path / "frames"
    with atomic_output(target) as temp:
        temp.mkdir()
        for index in range(3):
            (temp / f"{index:04d}.png").write_bytes(b"png%d" % index)
        temp_name = str(temp.resolve())
    rename = events.index(("replace", temp_name))
    flushed = {name for kind, name in events[:rename] if kind == "fsync"}
    assert {f"{temp_name}/{index:04d}.png" for index in range(3)} | {temp_name} <= flushed
    assert sorted(p.name for p in target.iterdir()) == ["0000.png", "0001.png", "0002.png"]


def test_a_failed_writer_leaves_the_old_file_whole_and_no_part(tmp_path):
    target = tmp_path / "clip.mp4"
    atomic_write_bytes(target, b"old")
    with pytest.raises(RuntimeError):
        with atomic_output(target) as temp:
            temp.write_bytes(b"half")
            raise RuntimeError("encoder failed")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]
