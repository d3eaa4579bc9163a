"""The output library: atomic writes with the recipe embedded, newest-first
listing, search, delete, and a clear error when the disk refuses a write."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from studio.core.atomic import atomic_write_bytes
from studio.core.jobs import StudioError
from studio.core.provenance import read_recipe
from studio.engines.pattern import PatternRequest, run
from studio.core.jobs import CancelToken, NullReporter


def _make(services, prompt: str, seed: int = 1):
    request = PatternRequest(prompt=prompt, seed=seed, steps=2, width=16, height=16)
    return services.library.add(request, run(request, NullReporter(), CancelToken()))


def test_items_are_listed_newest_first_with_their_recipe(services):
    first = _make(services, "a quiet lake")
    second = _make(services, "a loud city")
    items = services.library.items()
    assert [item.id for item in items] == [second.id, first.id]
    assert items[0].request == PatternRequest(prompt="a loud city", seed=1, steps=2, width=16, height=16)
    assert read_recipe(first.path)["request"]["prompt"] == "a quiet lake"
    assert first.path.is_relative_to(services.paths.library_dir)


def test_search_matches_prompt_text_literally(services):
    _make(services, "100% orange")
    _make(services, "a blue_bird")
    _make(services, "plain")
    assert [i.prompt for i in services.library.items(search="orange")] == ["100% orange"]
    assert [i.prompt for i in services.library.items(search="%")] == ["100% orange"]
    assert [i.prompt for i in services.library.items(search="_")] == ["a blue_bird"]
    assert services.library.items(search="nothing like this") == []


def test_delete_removes_row_and_file(services):
    item = _make(services, "temporary")
    services.library.delete(item.id)
    assert not item.path.exists()
    assert services.library.items() == []


def test_rescan_drops_rows_of_missing_files_and_partial_files(services):
    item = _make(services, "will vanish")
    item.path.unlink()
    part = item.path.with_name(".leftover.png.123.part")
    part.write_bytes(b"half")
    assert services.library.rescan() == 1
    assert not part.exists()


def test_same_second_same_seed_gets_distinct_files(services):
    paths = {_make(services, "twin", seed=5).path for _ in range(3)}
    assert len(paths) == 3


def test_failed_write_leaves_old_file_and_no_temp(tmp_path):
    target = tmp_path / "out.png"
    atomic_write_bytes(target, b"old")
    os.chmod(tmp_path, 0o500)
    try:
        if os.access(tmp_path, os.W_OK):  # root ignores permissions
            pytest.skip("permissions are not enforced for this user")
        with pytest.raises(StudioError, match="could not write"):
            atomic_write_bytes(target, b"new")
    finally:
        os.chmod(tmp_path, 0o700)
    assert target.read_bytes() == b"old"
    assert [p.name for p in Path(tmp_path).iterdir()] == ["out.png"]


def test_full_disk_is_a_clear_error(tmp_path, monkeypatch):
    import errno

    real_open = open

    def full_disk_open(path, mode="r", *args, **kwargs):
        handle = real_open(path, mode, *args, **kwargs)
        if "w" in mode and str(path).endswith(".part"):
            def refuse(_data):
                raise OSError(errno.ENOSPC, "No space left on device")
            handle.write = refuse
        return handle

    monkeypatch.setattr("builtins.open", full_disk_open)
    with pytest.raises(StudioError, match="disk is full"):
        atomic_write_bytes(tmp_path / "big.png", b"x" * 10)
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []
