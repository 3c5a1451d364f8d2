"""The HTTP API against a real server on a loopback port: results equal the library's,
every refusal is JSON with the right 4xx status, jobs run, are polled and streamed."""

from __future__ import annotations

import io
import json
import threading

import pytest
from PIL import Image

from tests.serve.conftest import LIMITS, decoded, library_result, png_bytes

TINY = "tiny_x2"


def test_health_and_models(served):
    with served.client() as client:
        health = client.get("/api/v1/health").json()
        models = {m["name"]: m for m in client.get("/api/v1/models").json()["models"]}
    assert health["status"] == "ok"
    assert set(health["jobs"]) == {"queued", "running", "done", "failed", "cancelled"}
    assert set(models) == {TINY, "bicubic"}
    assert models[TINY]["scales"] == [2] and models[TINY]["card"]["arch"] == "srvgg"
    assert models["bicubic"]["scales"] == [2, 3, 4]


def test_raw_body_result_equals_the_library_output(served, tiny_weights, tmp_path):
    data = png_bytes(24, 32, seed=3)
    with served.client() as client:
        response = client.post(f"/api/v1/upscale?model={TINY}&filename=a.png", content=data)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    assert response.headers["x-superres-model"] == TINY
    assert 'filename="a_x2.png"' in response.headers["content-disposition"]
    assert response.content == library_result(tiny_weights, data, tmp_path)


def test_multipart_form_fields_set_the_options(served):
    files = {"file": ("photo.png", png_bytes(20, 30), "image/png")}
    form = {"model": "bicubic", "scale": "3", "format": "jpg", "quality": "80"}
    with served.client() as client:
        response = client.post("/api/v1/upscale", files=files, data=form)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(response.content)).size == (90, 60)


def test_outscale_and_metadata_are_kept(served):
    buffer = io.BytesIO()
    exif = Image.Exif()
    exif[0x010F] = "superres test camera"  # Make
    Image.fromarray(decoded(png_bytes(20, 20))).save(buffer, "JPEG", exif=exif, dpi=(300, 300))
    with served.client() as client:
        response = client.post(
            "/api/v1/upscale",
            params={"model": "bicubic", "outscale": 1.5, "filename": "c.jpg"},
            content=buffer.getvalue(),
        )
    assert response.status_code == 200, response.text
    result = Image.open(io.BytesIO(response.content))
    assert result.format == "JPEG" and result.size == (30, 30)
    assert result.getexif()[0x010F] == "superres test camera"
    assert round(result.info["dpi"][0]) == 450  # the same print size: DPI grows with the pixels


@pytest.mark.parametrize(
    ("params", "body", "status", "words"),
    [
        ({"model": TINY}, b"not an image at all", 415, "not an image"),
        ({"model": TINY}, b"", 400, "no image"),
        ({"model": TINY}, b"\x89PNG\r\n\x1a\n" + b"\0" * 40, 415, "not an image"),
        ({"model": "nope"}, None, 404, "no model named 'nope'"),
        ({"model": TINY, "scale": 4}, None, 422, "runs at x2"),
        ({"model": TINY, "strength": 0.5}, None, 422, "strength"),
        ({"model": TINY, "scale": "abc"}, None, 422, "scale"),
        ({"model": TINY, "quality": 0}, None, 422, "quality"),
        ({"model": TINY, "format": "exe"}, None, 422, "format"),
        ({"model": "bicubic", "outscale": 16}, png_bytes(50, 50), 413, "over the server's limit"),
    ],
)
def test_bad_requests_get_a_json_error(served, params, body, status, words):
    with served.client() as client:
        response = client.post(
            "/api/v1/upscale", params=params, content=png_bytes(24, 24) if body is None else body
        )
    assert response.status_code == status, response.text[:300]
    assert response.headers["content-type"] == "application/json"
    assert words in response.json()["error"]


def test_size_limits(served):
    big = png_bytes(400, 400)  # 160,000 pixels, over 100,000
    noise = bytes(range(256)) * (LIMITS["max_upload_bytes"] // 256 + 1)
    with served.client() as client:
        too_many_pixels = client.post("/api/v1/upscale?model=bicubic", content=big)
        too_many_bytes = client.post("/api/v1/upscale?model=bicubic", content=noise)
        chunked = client.post(
            "/api/v1/upscale?model=bicubic", content=iter([noise[:200_000], noise[200_000:]])
        )
    assert too_many_pixels.status_code == 413 and "100,000" in too_many_pixels.json()["error"]
    assert too_many_bytes.status_code == 413 and "bytes" in too_many_bytes.json()["error"]
    assert chunked.status_code == 413, chunked.text  # no Content-Length: the stream is counted


@pytest.mark.parametrize(
    ("content_type", "body", "status"),
    [
        ("multipart/form-data", b"--x\r\n", 400),  # no boundary
        ("multipart/form-data; boundary=x", b"--x\r\nContent-Disposition: form-data\r\n\r\ngarbage", 400),
        (
            "multipart/form-data; boundary=x",
            b'--x\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--x--\r\n',
            422,
        ),
    ],
)
def test_malformed_multipart(served, content_type, body, status):
    with served.client() as client:
        response = client.post("/api/v1/upscale", content=body, headers={"content-type": content_type})
    assert response.status_code == status, response.text
    assert response.json()["error"]


def test_job_submit_poll_result_and_events(served, tiny_weights, tmp_path):
    data = png_bytes(30, 20, seed=5)
    with served.client() as client:
        submitted = client.post("/api/v1/jobs", files={"file": ("j.png", data)}, data={"model": TINY})
        assert submitted.status_code == 202, submitted.text
        job_id = submitted.json()["id"]
        with client.stream("GET", f"/api/v1/jobs/{job_id}/events") as events:
            states = [
                json.loads(line[5:])["state"] for line in events.iter_lines() if line.startswith("data:")
            ]
        shown = client.get(f"/api/v1/jobs/{job_id}").json()
        result = client.get(f"/api/v1/jobs/{job_id}/result")
        unknown = client.get("/api/v1/jobs/0123/result")
    assert states[-1] == "done" and shown["state"] == "done" and shown["progress"] == 1
    assert (shown["width"], shown["height"], shown["result_name"]) == (40, 60, "j_x2.png")
    assert result.content == library_result(tiny_weights, data, tmp_path)
    assert unknown.status_code == 404 and "no job" in unknown.json()["error"]


def test_failed_job_reports_its_error(served):
    with served.client() as client:
        job_id = client.post("/api/v1/jobs?model=bicubic", content=b"GIF89a broken").json()["id"]
        with client.stream("GET", f"/api/v1/jobs/{job_id}/events") as events:
            last = [line for line in events.iter_lines() if line.startswith("data:")][-1]
        result = client.get(f"/api/v1/jobs/{job_id}/result")
    assert json.loads(last[5:])["error"]["status"] == 415
    assert result.status_code == 415 and "not an image" in result.json()["error"]


def test_concurrent_requests_get_their_own_results(served, tiny_weights, tmp_path):
    """Eight clients at once on one shared model (two workers): none gets another's output."""
    inputs = [png_bytes(16 + n, 24, seed=n) for n in range(8)]
    results: dict[int, bytes] = {}

    def client_run(n: int) -> None:
        with served.client() as client:
            results[n] = client.post(f"/api/v1/upscale?model={TINY}", content=inputs[n]).content

    threads = [threading.Thread(target=client_run, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for n, data in enumerate(inputs):
        assert results[n] == library_result(tiny_weights, data, tmp_path), n


def test_page_and_its_files_are_served_without_outside_links(served):
    with served.client() as client:
        page = client.get("/")
        files = [client.get(f"/static/{name}") for name in ("app.js", "zip.js", "style.css")]
    assert page.status_code == 200 and "superres" in page.text
    assert "content-security-policy" in page.headers
    for response in [page, *files]:
        assert response.status_code == 200
        assert "http://" not in response.text and "https://" not in response.text  # no CDN: works offline


def test_unknown_route_and_method_are_json(served):
    with served.client() as client:
        missing = client.get("/api/v1/nothing")
        wrong = client.put("/api/v1/models")
    assert missing.status_code == 404 and missing.json()["error"]
    assert wrong.status_code == 405 and wrong.json()["error"]


def test_sixteen_bit_input_stays_sixteen_bit(served, tiny_weights, tmp_path):
    import numpy as np

    buffer = io.BytesIO()
    ramp = (np.arange(18 * 22, dtype=np.uint32).reshape(18, 22) * 150).astype(np.uint16)
    Image.fromarray(ramp).save(buffer, "PNG")
    with served.client() as client:
        response = client.post(f"/api/v1/upscale?model={TINY}&filename=deep.png", content=buffer.getvalue())
    assert response.status_code == 200, response.text[:300]
    assert Image.open(io.BytesIO(response.content)).mode in ("I;16", "I")
    assert decoded(response.content).max() > 255
    assert response.content == library_result(tiny_weights, buffer.getvalue(), tmp_path)
