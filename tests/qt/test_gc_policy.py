"""Cyclic garbage is collected on the GUI thread only (studio.qt.gc_policy):
a worker thread that allocates past every threshold triggers no collection,
and the GUI thread's timer then collects it."""

from __future__ import annotations

import gc
import threading
import weakref

from PySide6.QtCore import QObject

from studio.qt.gc_policy import GuiThreadCollector


class Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the cyclic collector frees it


def test_worker_garbage_is_collected_on_the_gui_thread(qtbot):
    owner = QObject()
    collections: list[tuple[str, int]] = []

    def record(phase: str, info: dict) -> None:
        if phase == "start":
            collections.append((threading.current_thread().name, info["generation"]))

    gc.callbacks.append(record)
    collector = GuiThreadCollector(owner, interval_ms=20)
    try:
        assert not gc.isenabled()
        refs: list[weakref.ref] = []

        def allocate() -> None:
            for _ in range(30 * gc.get_threshold()[0]):
                refs.append(weakref.ref(Node()))

        worker = threading.Thread(target=allocate, name="busy-worker")
        worker.start()
        worker.join()
        assert not [c for c in collections if c[0] == "busy-worker"]
        assert sum(ref() is not None for ref in refs) > gc.get_threshold()[0]  # nothing collected yet
        qtbot.waitUntil(lambda: all(ref() is None for ref in refs), timeout=10000)
        assert collections and {name for name, _ in collections} == {threading.main_thread().name}
    finally:
        gc.callbacks.remove(record)
        collector.stop()
    assert gc.isenabled()
    # The test's conftest turns collection off for GUI tests; leave it as the fixture expects.
    gc.disable()
