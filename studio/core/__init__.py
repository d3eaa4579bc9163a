"""Qt-free infrastructure: jobs and the persistent queue, the model registry
and manager, the output library, provenance, settings and devices.

Nothing under this package imports PySide6 (checked by a test)."""
