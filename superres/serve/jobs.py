"""A bounded queue of upscale jobs, run by worker threads.

At most ``workers`` jobs run at once and ``max_queued`` wait; a job beyond those is refused
(429), as is one beyond ``max_kept`` jobs held (finished ones count until they expire). A
finished job's files are deleted ``ttl_s`` after it finished, or when its result has been
fetched by a synchronous request. Cancelling a queued job drops it; a running one stops at
its next tile. Each job's files live in its own folder inside the server's temporary folder.
"""

from __future__ import annotations

import queue
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from superres.serve.pool import RequestError

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
FINAL = (DONE, FAILED, CANCELLED)


class JobCancelledError(Exception):
    """Raised inside a running job (from its tile callback) once it was cancelled."""


def new_job_id() -> str:
    return uuid.uuid4().hex


@dataclass(eq=False)
class Job:
    """One upscale: its input file and options, and (filled by the worker) its state,
    progress in tiles, result file or error. Fields change only under the queue's lock or
    by the one worker running it."""

    id: str
    folder: Path
    upload: Path
    filename: str  # the client's name for the input, for the result's name
    params: Any  # superres.serve.work.UpscaleParams
    state: str = QUEUED
    done: int = 0
    total: int = 0
    error: RequestError | None = None
    result: Path | None = None
    result_name: str = ""
    model: str = ""
    size: tuple[int, int] | None = None  # (width, height) of the result
    finished_at: float | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    finished: threading.Event = field(default_factory=threading.Event)

    def on_tile(self, done: int, total: int) -> None:
        """The engine's progress callback; stops the job once it is cancelled."""
        if self.cancel.is_set():
            raise JobCancelledError
        self.done, self.total = done, total

    def describe(self) -> dict[str, Any]:
        """The job as ``GET /api/v1/jobs/{id}`` shows it."""
        progress = 1.0 if self.state == DONE else (self.done / self.total if self.total else 0.0)
        shown: dict[str, Any] = {
            "id": self.id,
            "state": self.state,
            "progress": round(progress, 4),
            "tiles_done": self.done,
            "tiles": self.total,
            "filename": self.filename,
        }
        if self.model:
            shown["model"] = self.model
        if self.state == DONE:
            shown |= {"result": f"/api/v1/jobs/{self.id}/result", "result_name": self.result_name}
            if self.size:
                shown |= {"width": self.size[0], "height": self.size[1]}
        if self.error is not None:
            shown["error"] = {"status": self.error.status, "message": str(self.error)}
        return shown


class JobQueue:
    """Jobs waiting and running; ``run(job)`` does one (sets ``job.result``, ``result_name``,
    ``model``, ``size``; raises RequestError for a bad input, JobCancelledError when cancelled)."""

    def __init__(
        self, run: Callable[[Job], None], *, workers: int, max_queued: int, max_kept: int, ttl_s: float
    ) -> None:
        self._run = run
        self._waiting: queue.Queue[Job] = queue.Queue(maxsize=max_queued)
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._max_kept = max_kept
        self._ttl_s = ttl_s
        self._threads = [
            threading.Thread(target=self._work, name=f"superres-worker-{n}", daemon=True)
            for n in range(workers)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Cancel every job and wait for the workers to end."""
        self._stopping.set()
        with self._lock:
            for job in self._jobs.values():
                job.cancel.set()
        for thread in self._threads:
            if thread.is_alive():
                thread.join(timeout=30)

    def submit(self, job: Job) -> Job:
        """Queue ``job``; RequestError 429 when the queue or the jobs held are full."""
        with self._lock:
            self._expire()
            if len(self._jobs) >= self._max_kept:
                raise RequestError(429, f"the server holds {self._max_kept} jobs already; try again later")
            try:
                self._waiting.put_nowait(job)
            except queue.Full:
                raise RequestError(429, "the job queue is full; try again later") from None
            self._jobs[job.id] = job
        return job

    def get(self, job_id: str) -> Job:
        with self._lock:
            self._expire()
            job = self._jobs.get(job_id)
        if job is None:
            raise RequestError(404, f"no job {job_id!r} (finished jobs expire after {self._ttl_s:g} s)")
        return job

    def cancel(self, job_id: str) -> Job:
        """Cancel a job: a queued one ends now, a running one at its next tile."""
        job = self.get(job_id)
        job.cancel.set()
        with self._lock:
            if job.state == QUEUED:
                self._finish(job, CANCELLED)
        return job

    def forget(self, job_id: str) -> None:
        """Drop a finished job and delete its files."""
        with self._lock:
            job = self._jobs.pop(job_id, None)
        if job is not None:
            shutil.rmtree(job.folder, ignore_errors=True)

    def counts(self) -> dict[str, int]:
        with self._lock:
            states = [job.state for job in self._jobs.values()]
        return {state: states.count(state) for state in (QUEUED, RUNNING, DONE, FAILED, CANCELLED)}

    def _finish(self, job: Job, state: str, error: RequestError | None = None) -> None:
        job.state, job.error, job.finished_at = state, error, time.monotonic()
        if state != DONE:
            shutil.rmtree(job.folder, ignore_errors=True)
        job.finished.set()

    def _expire(self) -> None:
        """Delete the jobs finished over ``ttl_s`` ago (called under the lock)."""
        now = time.monotonic()
        for job_id, job in list(self._jobs.items()):
            if job.finished_at is not None and now - job.finished_at > self._ttl_s:
                del self._jobs[job_id]
                shutil.rmtree(job.folder, ignore_errors=True)

    def _work(self) -> None:
        while not self._stopping.is_set():
            try:
                job = self._waiting.get(timeout=0.5)
            except queue.Empty:
                with self._lock:
                    self._expire()
                continue
            with self._lock:
                if job.state != QUEUED:  # cancelled while it waited
                    continue
                job.state = RUNNING
            self._run_one(job)

    def _run_one(self, job: Job) -> None:
        state, error = DONE, None
        try:
            if job.cancel.is_set():
                raise JobCancelledError
            self._run(job)
        except JobCancelledError:
            state = CANCELLED
        except RequestError as exc:
            state, error = FAILED, exc
        except Exception as exc:  # the boundary: the job failed, the server goes on
            state, error = FAILED, RequestError(500, f"internal error: {type(exc).__name__}: {exc}")
        with self._lock:
            if job.cancel.is_set() and state == DONE:
                state = CANCELLED
            self._finish(job, state, error)
