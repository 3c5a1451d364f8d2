"""The job queue on its own (bounded, cancellable, expiring), the token, the binding rule,
the server's temporary folder, and that `import superres` stays light."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from superres.errors import SuperresError
from superres.serve import ServeOptions, check_binding
from superres.serve.jobs import CANCELLED, DONE, FAILED, Job, JobQueue, new_job_id
from superres.serve.pool import RequestError
from tests.serve.conftest import png_bytes, serve


def _job(tmp_path, name="a.png") -> Job:
    folder = tmp_path / new_job_id()
    folder.mkdir()
    return Job(new_job_id(), folder, folder / "input.png", name, None)


def _wait(job: Job) -> None:
    assert job.finished.wait(10), job.state


def test_queue_is_bounded_and_cancels(tmp_path):
    release = threading.Event()
    started = threading.Event()

    def run(job: Job) -> None:
        started.set()
        while not release.is_set():
            job.on_tile(0, 1)  # raises once the job is cancelled
            time.sleep(0.01)

    queue = JobQueue(run, workers=1, max_queued=1, max_kept=10, ttl_s=60)
    queue.start()
    try:
        running = queue.submit(_job(tmp_path))
        assert started.wait(10)
        waiting = queue.submit(_job(tmp_path))
        with pytest.raises(RequestError) as refused:
            queue.submit(_job(tmp_path))
        assert refused.value.status == 429
        queue.cancel(waiting.id)
        assert waiting.state == CANCELLED and not waiting.folder.exists()  # a queued job ends at once
        queue.cancel(running.id)
        _wait(running)
        assert running.state == CANCELLED and not running.folder.exists()
    finally:
        release.set()
        queue.stop()


def test_finished_jobs_expire_and_failures_are_kept(tmp_path):
    def run(job: Job) -> None:
        if job.filename == "bad.png":
            raise RequestError(415, "bad.png: not an image")
        (job.folder / "result.png").write_bytes(b"x")

    queue = JobQueue(run, workers=1, max_queued=4, max_kept=2, ttl_s=0.3)
    queue.start()
    try:
        good, bad = queue.submit(_job(tmp_path)), queue.submit(_job(tmp_path, "bad.png"))
        _wait(good)
        _wait(bad)
        assert (good.state, bad.state, bad.error.status) == (DONE, FAILED, 415)
        with pytest.raises(RequestError) as full:  # max_kept counts finished jobs until they expire
            queue.submit(_job(tmp_path))
        assert full.value.status == 429
        time.sleep(0.5)
        with pytest.raises(RequestError) as gone:
            queue.get(good.id)
        assert gone.value.status == 404 and not good.folder.exists()
    finally:
        queue.stop()


def test_unexpected_error_fails_the_job_not_the_worker(tmp_path):
    def run(job: Job) -> None:
        if job.filename == "boom.png":
            raise RuntimeError("boom")

    queue = JobQueue(run, workers=1, max_queued=4, max_kept=10, ttl_s=60)
    queue.start()
    try:
        boom, after = queue.submit(_job(tmp_path, "boom.png")), queue.submit(_job(tmp_path))
        _wait(boom)
        _wait(after)
        assert boom.error.status == 500 and "boom" in str(boom.error) and after.state == DONE
    finally:
        queue.stop()


@pytest.mark.parametrize(
    ("host", "refused"),
    [
        ("127.0.0.1", False),
        ("localhost", False),
        ("::1", False),
        ("0.0.0.0", True),
        ("192.168.1.5", True),
        ("example.org", True),
    ],
)
def test_binding_elsewhere_needs_a_token(host, refused):
    if refused:
        with pytest.raises(SuperresError, match="without a token"):
            check_binding(host, None)
    check_binding(host, "secret")  # with a token, any address


def test_cli_refuses_a_public_address_without_a_token(monkeypatch, capsys):
    from superres.cli import main

    monkeypatch.delenv("SUPERRES_TOKEN", raising=False)
    assert main(["serve", "--host", "0.0.0.0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--token" in err and "SUPERRES_TOKEN" in err


def test_bad_options_are_refused():
    with pytest.raises(SuperresError, match="workers"):
        ServeOptions(workers=0)
    with pytest.raises(SuperresError, match="token"):
        ServeOptions(token=" ")


def test_token_is_required_and_the_temporary_folder_is_removed(tiny_weights):
    running = serve(ServeOptions(models=("bicubic",), token="s3cret"))
    try:
        root = running.app.state.root
        with running.client() as client:
            assert client.get("/api/v1/health").status_code == 200
            refused = client.get("/api/v1/models")
            wrong = client.get("/api/v1/models", headers={"Authorization": "Bearer nope"})
            auth = {"Authorization": "Bearer s3cret"}
            assert client.get("/api/v1/models", headers=auth).status_code == 200
            job = client.post("/api/v1/jobs?model=bicubic", content=png_bytes(8, 8), headers=auth).json()
            deadline = time.monotonic() + 30
            while client.get(f"/api/v1/jobs/{job['id']}", headers=auth).json()["state"] != "done":
                assert time.monotonic() < deadline
                time.sleep(0.05)
            # Everything of the request lies inside the server's own folder.
            (folder,) = root.iterdir()
            assert sorted(p.name for p in folder.iterdir()) == [
                "input",
                "result.png",
            ]  # no name, no type: PNG out
        assert refused.status_code == 401 and "token" in refused.json()["error"]
        assert wrong.status_code == 401
        assert root.is_dir()
    finally:
        running.stop()
    assert not root.exists()


def test_importing_superres_and_its_cli_does_not_import_fastapi():
    code = (
        "import sys, superres, superres.serve, superres.cli;"
        " print('fastapi' in sys.modules, 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_full_queue_is_429_and_jobs_cancel_over_http(monkeypatch):
    """One worker, one place in the queue: a third job is refused with 429 and Retry-After;
    DELETE cancels the queued job at once and the running one at its next tile."""
    from superres.serve.work import Upscaler

    release = threading.Event()

    def blocking(self, job: Job) -> None:
        while not release.is_set():
            job.on_tile(0, 1)
            time.sleep(0.01)

    monkeypatch.setattr(Upscaler, "__call__", blocking)
    running = serve(ServeOptions(models=("bicubic",), workers=1, max_queued=1))
    try:
        with running.client() as client:
            first = client.post("/api/v1/jobs", content=png_bytes(8, 8)).json()["id"]
            while client.get(f"/api/v1/jobs/{first}").json()["state"] != "running":
                time.sleep(0.02)
            second = client.post("/api/v1/jobs", content=png_bytes(8, 8)).json()["id"]
            refused = client.post("/api/v1/upscale", content=png_bytes(8, 8))
            assert refused.status_code == 429 and refused.headers["retry-after"]
            assert "queue is full" in refused.json()["error"]
            assert client.delete(f"/api/v1/jobs/{second}").json()["state"] == "cancelled"
            not_ready = client.get(f"/api/v1/jobs/{first}/result")
            assert not_ready.status_code == 409 and "running" in not_ready.json()["error"]
            client.delete(f"/api/v1/jobs/{first}")
            deadline = time.monotonic() + 10
            while client.get(f"/api/v1/jobs/{first}").json()["state"] != "cancelled":
                assert time.monotonic() < deadline
                time.sleep(0.02)
            cancelled = client.get(f"/api/v1/jobs/{second}/result")
            assert cancelled.status_code == 409 and "cancelled" in cancelled.json()["error"]
    finally:
        release.set()
        running.stop()


def test_client_file_names_never_make_paths():
    from superres.serve.work import input_suffix, result_name

    assert input_suffix("../../etc/passwd") == "" and input_suffix("a/../b.PNG") == ".png"
    assert result_name("../../etc/x.jpg", 4, "png") == "x_x4.png"
    assert result_name('a"; b\r\n.png', 2.5, "webp") == "a___b___x2.5.webp"
    assert result_name("", 2, "png") == "image_x2.png"
