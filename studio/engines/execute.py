"""Running one job to its end, the same way for the GUI's worker thread and
the CLI: engine lookup, the call, the library write, and the queue update.

Errors become a one-line message plus the traceback as details; a cancelled
job stores nothing in the library."""

from __future__ import annotations

import logging
import traceback

from studio.core.jobs import Cancelled, CancelToken, Job, JobState, Reporter, StudioError
from studio.core.library import Library, LibraryItem
from studio.core.models.manager import holding_models
from studio.core.queue import JobQueue
from studio.engines.registry import engine_for

log = logging.getLogger(__name__)


def execute_job(job: Job, queue: JobQueue, library: Library, report: Reporter,
                cancel: CancelToken) -> tuple[JobState, LibraryItem | None]:
    try:
        engine = engine_for(job.request)
        with holding_models():  # no model this job gets is unloaded before it ends
            artifact = engine(job.request, report, cancel)
        if not artifact.meta.get("stopped"):  # an engine may keep a stopped result on purpose (a partial answer)
            cancel.raise_if_cancelled()  # a cancel after the last step still wins: nothing half-done is kept
        item = library.add(artifact.request or job.request, artifact)
        for extra in artifact.extra:  # the rest of a batch
            library.add(extra.request or job.request, extra)
    except Cancelled:
        queue.mark_cancelled(job.id)
        return JobState.CANCELLED, None
    except StudioError as exc:
        queue.fail(job.id, str(exc), traceback.format_exc())
        return JobState.FAILED, None
    except MemoryError:
        queue.fail(job.id, "out of memory: try a smaller size or unload other models", traceback.format_exc())
        return JobState.FAILED, None
    except Exception as exc:  # noqa: BLE001 - a failing engine must never take the worker down
        log.exception("job %s failed", job.id)
        message = f"{type(exc).__name__}: {exc}".strip().splitlines()[0]
        queue.fail(job.id, message, traceback.format_exc())
        return JobState.FAILED, None
    queue.finish(job.id, item.path)
    problem = (item.recipe.get("content_credentials") or {}).get("error")
    if problem:  # the file is kept with its plain recipe; the job says why it carries no credentials
        queue.note(job.id, f"Content Credentials: {problem}")
    return JobState.FINISHED, item
