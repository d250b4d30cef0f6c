"""The sandbox upstream, checked over real loopback HTTP against the documented behaviour.

Time is driven by an injected clock, so the lifecycle tests never sleep.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from runway_mcp.sandbox import Fault, Sandbox, SandboxConfig, SandboxServer, asset_bytes, asset_path

VERSION = "2024-11-06"
KEY = "sk-sandbox-test-Zq81Lw"
HEADERS = {"Authorization": f"Bearer {KEY}", "X-Runway-Version": VERSION}
V2V = "/runwayml/v1/video_to_video"
SEED_BODY: dict[str, Any] = {
    "videoUri": "https://media.w3.org/2010/05/sintel/trailer.mp4",
    "promptText": "Make the motion feel cinematic.",
    "model": "gen4_aleph",
    "references": [{"type": "image", "uri": "https://res.cloudinary.com/demo/image/upload/dog.jpg"}],
    "ratio": "1280:720",
}
MIB = 1024 * 1024
ISO_MS_Z = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer() as running:
        yield running


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sb(server: SandboxServer, clock: FakeClock) -> Sandbox:
    """The module's sandbox, emptied, with timings of 1 s hidden, 1 s pending, 4 s running."""
    server.sandbox.reset()
    server.sandbox.config = SandboxConfig(
        api_key=KEY, not_visible_seconds=1, pending_seconds=1, running_seconds=4, clock=clock
    )
    return server.sandbox


@pytest.fixture(scope="module")
def module_client(server: SandboxServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, headers=HEADERS, timeout=10) as client:
        yield client


@pytest.fixture
def http(module_client: httpx.Client, sb: Sandbox) -> httpx.Client:
    return module_client


def root(http: httpx.Client) -> str:
    return str(http.base_url).rstrip("/")


def data_uri(mime: str, size: int) -> str:
    return f"data:{mime};base64," + base64.b64encode(b"\0" * size).decode()


def issue_paths(response: httpx.Response) -> list[list[Any]]:
    return [issue["path"] for issue in response.json()["issues"]]


def create(http: httpx.Client, body: dict[str, Any] | None = None, path: str = V2V) -> str:
    response = http.post(path, json=SEED_BODY if body is None else body)
    assert response.status_code == 200, response.text
    task_id: str = response.json()["id"]
    return task_id


def with_(**changes: Any) -> dict[str, Any]:
    body = {**SEED_BODY, **changes}
    return {k: v for k, v in body.items() if v is not ...}


# Creating tasks


def test_seed_example_is_accepted_and_recorded(http: httpx.Client, sb: Sandbox) -> None:
    response = http.post(V2V, json=SEED_BODY)
    assert response.status_code == 200
    assert list(response.json()) == ["id"]
    task_id = response.json()["id"]
    assert uuid.UUID(task_id).version == 4
    assert sb.task_ids() == [task_id]
    [recorded] = sb.api_requests("POST", "/video_to_video")
    assert recorded.json == SEED_BODY
    assert recorded.created_task_id == task_id
    assert recorded.headers["x-runway-version"] == VERSION
    assert recorded.fault is None


def test_runway_direct_prefix_serves_the_same_routes(http: httpx.Client) -> None:
    task_id = create(http, path="/v1/video_to_video")
    assert http.get(f"/v1/tasks/{task_id}").status_code == 400  # not visible yet


@pytest.mark.parametrize(
    ("changes", "path", "code"),
    [
        ({"videoUri": ...}, ["videoUri"], "invalid_type"),
        ({"videoUri": "http://media.w3.org/a.mp4"}, ["videoUri"], "invalid_format"),
        ({"videoUri": "https://93.184.216.34/a.mp4"}, ["videoUri"], "invalid_format"),
        ({"videoUri": "https://localhost/a.mp4"}, ["videoUri"], "invalid_format"),
        ({"videoUri": "https://example.com/" + "a" * 2029}, ["videoUri"], "too_big"),
        ({"videoUri": "data:;base64,AAAA"}, ["videoUri"], "custom"),
        ({"videoUri": "data:video/mp4,AAAA"}, ["videoUri"], "custom"),
        ({"videoUri": "data:image/png;base64,AAAA"}, ["videoUri"], "custom"),
        ({"videoUri": "data:video/mp4;base64,@@not base64@@"}, ["videoUri"], "custom"),
        ({"videoUri": 42}, ["videoUri"], "invalid_type"),
        ({"promptText": ...}, ["promptText"], "invalid_type"),
        ({"promptText": ""}, ["promptText"], "too_small"),
        ({"promptText": "a" * 1001}, ["promptText"], "too_big"),
        ({"promptText": "😀" * 500 + "a"}, ["promptText"], "too_big"),
        ({"model": ...}, ["model"], "invalid_type"),
        ({"model": "gen5_unknown"}, ["model"], "invalid_union"),
        ({"seed": -1}, ["seed"], "too_small"),
        ({"seed": 4_294_967_296}, ["seed"], "too_big"),
        ({"seed": True}, ["seed"], "invalid_type"),
        ({"seed": 1.5}, ["seed"], "invalid_type"),
        ({"seed": 7.0}, ["seed"], "invalid_type"),
        ({"seed": "7"}, ["seed"], "invalid_type"),
        ({"seed": None}, ["seed"], "invalid_type"),
        ({"references": [SEED_BODY["references"][0]] * 2}, ["references"], "too_big"),
        ({"references": {"type": "image"}}, ["references"], "invalid_type"),
        ({"references": [{"type": "video", "uri": "https://a.example.com/x.jpg"}]}, ["references", 0, "type"], None),
        ({"references": [{"type": "image", "uri": "http://a.example.com/x.jpg"}]}, ["references", 0, "uri"], None),
        ({"references": [{"type": "image", "uri": "data:image/gif;base64,R0lG"}]}, ["references", 0, "uri"], None),
        ({"references": [{"type": "image"}]}, ["references", 0, "uri"], "invalid_type"),
        ({"ratio": "1920:1080"}, ["ratio"], "invalid_value"),
        (
            {"contentModeration": {"publicFigureThreshold": "high"}},
            ["contentModeration", "publicFigureThreshold"],
            None,
        ),
        ({"contentModeration": "low"}, ["contentModeration"], "invalid_type"),
    ],
)
@pytest.mark.parametrize("style", ["runway", "cometapi"])
def test_video_to_video_rule_is_enforced(
    http: httpx.Client, sb: Sandbox, style: str, changes: dict[str, Any], path: list[Any], code: str | None
) -> None:
    sb.config.error_style = style  # type: ignore[assignment]
    response = http.post(V2V, json=with_(**changes))
    assert response.status_code == 400
    body = response.json()
    if style == "runway":
        assert body["error"] == "Validation of body failed"
        assert body["docUrl"].startswith("https://docs.dev.runwayml.com/")
        issue = body["issues"][0]  # a missing model also gets zod's "no matching discriminator" issue
        assert all(i["path"] == path and i["message"] for i in body["issues"])
        assert code is None or issue["code"] == code
    else:
        error = body["error"]
        assert error["type"] == "comet_api_error"
        assert error["param"] == path[0]
        assert ".".join(map(str, path)) in error["message"]
        assert "(request id: " in error["message"]
    assert sb.task_ids() == []


@pytest.mark.parametrize(
    "changes",
    [
        {"promptText": "😀" * 500},
        {"promptText": "a" * 1000},
        {"seed": 0},
        {"seed": 4_294_967_295},
        {"references": ...},
        {"references": []},
        {"ratio": ...},
        {"ratio": "640:480"},
        {"contentModeration": {"publicFigureThreshold": "low"}},
        {"duration": 5, "somethingNew": {"x": 1}},
        {"videoUri": "https://cdn.example.co.uk/path/clip.mov?sig=abc#t=1"},
        {"videoUri": data_uri("video/mp4", 1024), "references": [{"type": "image", "uri": data_uri("image/png", 64)}]},
    ],
)
def test_video_to_video_accepts_what_the_docs_allow(http: httpx.Client, changes: dict[str, Any]) -> None:
    create(http, with_(**changes))


def test_every_bad_field_is_listed_and_the_envelope_names_the_first(http: httpx.Client, sb: Sandbox) -> None:
    bad = with_(videoUri="ftp://x.example.com/a.mp4", promptText="", seed=-5, ratio="1:1")
    assert issue_paths(http.post(V2V, json=bad)) == [["videoUri"], ["promptText"], ["seed"], ["ratio"]]
    sb.config.error_style = "cometapi"
    error = http.post(V2V, json=bad).json()["error"]
    assert error["param"] == "videoUri"
    for field in ("videoUri", "promptText", "seed", "ratio"):
        assert field in error["message"]


def test_data_uri_size_limits(http: httpx.Client) -> None:
    too_big_video = with_(videoUri=data_uri("video/mp4", 16 * MIB + 1))
    assert issue_paths(http.post(V2V, json=too_big_video)) == [["videoUri"]]
    too_big_image = with_(references=[{"type": "image", "uri": data_uri("image/jpeg", 5 * MIB + 1)}])
    response = http.post(V2V, json=too_big_image)
    assert response.json()["issues"][0]["code"] == "too_big"
    create(http, with_(references=[{"type": "image", "uri": data_uri("image/webp", 5 * MIB)}]))


def test_a_20_mb_data_uri_body_is_accepted(http: httpx.Client, sb: Sandbox) -> None:
    body = with_(videoUri=data_uri("video/mp4", 15 * MIB))
    assert len(json.dumps(body)) > 20_000_000
    task_id = create(http, body)
    assert sb.api_requests()[-1].created_task_id == task_id


def test_non_json_bodies_are_rejected(http: httpx.Client, sb: Sandbox) -> None:
    not_json = http.post(V2V, content=b"{videoUri: nope", headers={"Content-Type": "application/json"})
    assert not_json.status_code == 400
    assert not_json.json()["issues"][0]["path"] == []
    form = http.post(V2V, data={"videoUri": "https://a.example.com/a.mp4"})
    assert form.status_code == 400
    assert http.post(V2V, json=[SEED_BODY]).status_code == 400
    assert sb.task_ids() == []


# The other create routes


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (
            "/runwayml/v1/image_to_video",
            {"model": "gen3a_turbo", "promptImage": data_uri("image/png", 100), "promptText": "a cat", "duration": 5},
        ),
        (
            "/runwayml/v1/image_to_video",
            {
                "model": "gen4_turbo",
                "promptImage": [{"uri": "https://i.example.com/a.jpg", "position": "first"}],
                "ratio": "1280:720",
            },
        ),
        (
            "/runwayml/v1/text_to_image",
            {
                "model": "gen4_image",
                "promptText": "@cat on a sofa",
                "ratio": "1920:1080",
                "referenceImages": [{"uri": "https://i.example.com/cat.png", "tag": "cat"}],
            },
        ),
        ("/v1/text_to_image", {"model": "gen4_image", "promptText": "a sofa", "ratio": "1024:1024"}),
        ("/runwayml/v1/video_upscale", {"model": "upscale_v1", "videoUri": "https://v.example.com/a.mp4"}),
        (
            "/runwayml/v1/character_performance",
            {
                "model": "act_two",
                "character": {"type": "image", "uri": "https://i.example.com/face.jpg"},
                "reference": {"type": "video", "uri": "https://v.example.com/act.mp4"},
                "expressionIntensity": 3,
            },
        ),
        (
            "/v1/video_to_video",
            {
                "model": "aleph2",
                "videoUri": "https://v.example.com/a.mp4",
                "keyframes": [{"uri": "https://i.example.com/k.png", "at": 0.5}],
                "targetAspectRatio": "16:9",
            },
        ),
        (
            "/v1/video_to_video",
            {
                "model": "seedance2",
                "promptVideo": "https://v.example.com/a.mp4",
                "promptText": "x" * 3500,
                "duration": 8,
                "audio": True,
            },
        ),
    ],
)
def test_other_routes_accept_documented_bodies(http: httpx.Client, path: str, body: dict[str, Any]) -> None:
    create(http, body, path)


@pytest.mark.parametrize(
    ("path", "body", "bad"),
    [
        (
            "/runwayml/v1/image_to_video",
            {"model": "gen4_turbo", "promptImage": "https://i.example.com/a.jpg"},
            [["ratio"]],
        ),
        (
            "/runwayml/v1/image_to_video",
            {"model": "gen3a_turbo", "promptImage": data_uri("image/gif", 10), "promptText": "x", "duration": 7},
            [["promptImage"], ["duration"]],
        ),
        (
            "/v1/text_to_image",
            {"model": "gen4_image_turbo", "promptText": "x", "ratio": "1024:1024"},
            [["referenceImages"]],
        ),
        (
            "/v1/text_to_image",
            {
                "model": "gen4_image",
                "promptText": "x",
                "ratio": "1024:1024",
                "referenceImages": [{"uri": "https://i.example.com/a.png"}] * 4,
            },
            [["referenceImages"]],
        ),
        ("/runwayml/v1/video_upscale", {"model": "upscale_v2", "videoUri": "https://v.example.com/a.mp4"}, [["model"]]),
        (
            "/runwayml/v1/character_performance",
            {
                "model": "act_two",
                "character": {"type": "image", "uri": data_uri("video/mp4", 10)},
                "reference": {"type": "image", "uri": "https://i.example.com/a.png"},
                "expressionIntensity": 6,
            },
            [["character", "uri"], ["reference", "type"], ["expressionIntensity"]],
        ),
        (
            "/v1/video_to_video",
            {
                "model": "aleph2",
                "videoUri": "https://v.example.com/a.mp4",
                "keyframes": [{"uri": "https://i.example.com/k.png", "seconds": 1}] * 6,
            },
            [["keyframes"]],
        ),
        (
            "/v1/video_to_video",
            {"model": "seedance2", "videoUri": "https://v.example.com/a.mp4", "promptText": "x" * 3501},
            [["promptVideo"], ["promptText"]],
        ),
    ],
)
def test_other_routes_reject_what_the_docs_forbid(
    http: httpx.Client, path: str, body: dict[str, Any], bad: list[list[Any]]
) -> None:
    response = http.post(path, json=body)
    assert response.status_code == 400
    assert issue_paths(response) == bad


@pytest.mark.parametrize("references", [..., []])
def test_cometapi_rejects_text_to_image_without_references(http: httpx.Client, sb: Sandbox, references: Any) -> None:
    body = with_(model="gen4_image", promptText="x", ratio="1024:1024", referenceImages=references)
    response = http.post("/runwayml/v1/text_to_image", json=body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "reference_images_empty"
    assert sb.task_ids() == []


def test_newer_models_reach_cometapi_only_when_it_forwards_them(http: httpx.Client, sb: Sandbox) -> None:
    aleph2 = {"model": "aleph2", "videoUri": "https://v.example.com/a.mp4"}
    assert issue_paths(http.post(V2V, json=aleph2)) == [["model"]]
    sb.config.cometapi_forwards_new_models = True
    create(http, aleph2)


# Headers and routes


def test_auth_is_required_on_every_api_call(http: httpx.Client, sb: Sandbox, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    task_id = create(http)
    for headers in ({"Authorization": ""}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer wrong-key"}):
        for response in (
            http.post(V2V, json=SEED_BODY, headers=headers),
            http.get(f"/runwayml/v1/tasks/{task_id}", headers=headers),
        ):
            assert response.status_code == 401
            assert response.json()["error"]["type"] == "comet_api_error"
            assert "(request id: " in response.json()["error"]["message"]
    sb.config.api_key = None  # then any non-empty bearer token is accepted
    assert http.post(V2V, json=SEED_BODY, headers={"Authorization": "Bearer another"}).status_code == 200
    assert len(sb.task_ids()) == 2
    assert KEY not in caplog.text


@pytest.mark.parametrize("version", [None, "2023-09-06", ""])
@pytest.mark.parametrize("style", ["runway", "cometapi"])
def test_create_requires_a_known_version_header(
    http: httpx.Client, sb: Sandbox, version: str | None, style: str
) -> None:
    sb.config.error_style = style  # type: ignore[assignment]
    headers = {"Authorization": f"Bearer {KEY}"} | ({} if version is None else {"X-Runway-Version": version})
    response = httpx.post(root(http) + V2V, json=SEED_BODY, headers=headers)
    assert response.status_code == 400
    assert "X-Runway-Version" in response.text
    if style == "cometapi":
        assert response.json()["error"]["param"] == "X-Runway-Version"
    else:
        assert issue_paths(response) == [["X-Runway-Version"]]
    assert sb.task_ids() == []
    assert http.post(V2V, json=SEED_BODY, headers={"X-Runway-Version": "2024-09-13"}).status_code == 200


def test_task_get_takes_the_version_header_as_optional(http: httpx.Client, clock: FakeClock) -> None:
    task_id = create(http)
    clock.advance(1.5)
    bare = httpx.get(f"{root(http)}/runwayml/v1/tasks/{task_id}", headers={"Authorization": f"Bearer {KEY}"})
    assert bare.json()["status"] == "PENDING"
    assert http.get(f"/runwayml/v1/tasks/{task_id}", headers={"X-Runway-Version": "1999-01-01"}).status_code == 400


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/runwayml/v1/text_to_video"),
        ("GET", "/runwayml/v1/video_to_video"),
        ("POST", "/runwayml/v2/x"),
        ("GET", "/runwayml/v1/tasks/"),
        ("POST", "/runwayml/v1/video_to_video/"),
    ],
)
def test_unknown_routes_answer_404_in_the_envelope(http: httpx.Client, method: str, path: str) -> None:
    response = http.request(method, path, json=SEED_BODY)
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "comet_api_error"


# Task lifecycle


def test_lifecycle_in_runway_shape(http: httpx.Client, sb: Sandbox, clock: FakeClock) -> None:
    task_id = create(http)
    url = f"/runwayml/v1/tasks/{task_id}"
    hidden = http.get(url)
    assert (hidden.status_code, hidden.json()) == (
        400,
        {"code": "task_not_exist", "message": "task_not_exist", "data": None},
    )
    clock.advance(1.0)
    pending = http.get(url).json()
    assert pending["status"] == "PENDING" and pending["id"] == task_id
    assert ISO_MS_Z.fullmatch(pending["createdAt"])
    assert "progress" not in pending and "output" not in pending
    progress = []
    for _ in range(3):
        clock.advance(1.0)
        running = http.get(url).json()
        assert running["status"] == "RUNNING"
        progress.append(running["progress"])
    assert 0 <= progress[0] < progress[1] < progress[2] < 1
    clock.advance(2.0)
    done = http.get(url).json()
    assert done["status"] == "SUCCEEDED"
    assert done["createdAt"] == pending["createdAt"]
    [output] = done["output"]
    assert output.startswith(f"{root(http)}/_sandbox/media/{task_id}.mp4?")


def test_lifecycle_in_envelope_shape(http: httpx.Client, sb: Sandbox, clock: FakeClock) -> None:
    sb.config.task_shape = "envelope"
    task_id = create(http)
    url = f"/runwayml/v1/tasks/{task_id}"
    assert http.get(url).json()["code"] == "task_not_exist"
    seen = []
    for step in (1.0, 2.0, 2.0, 2.0):
        clock.advance(step)
        body = http.get(url).json()
        assert (body["code"], body["message"]) == ("success", "")
        data = body["data"]
        assert data["task_id"] == task_id and data["action"] == "VIDEO_TO_VIDEO"
        seen.append((data["status"], data["progress"], data["data"]["status"]))
        assert data["data"]["id"] == task_id
    assert seen == [
        ("QUEUED", "0%", "PENDING"),
        ("IN_PROGRESS", "25%", "RUNNING"),
        ("IN_PROGRESS", "75%", "RUNNING"),
        ("SUCCESS", "100%", "SUCCEEDED"),
    ]
    assert data["submit_time"] < data["start_time"] < data["finish_time"]
    assert data["fail_reason"] == ""
    assert data["data"]["output"][0].startswith(root(http))


def test_alternate_shape_flips_per_request(http: httpx.Client, sb: Sandbox, clock: FakeClock) -> None:
    sb.config.task_shape = "alternate"
    task_id = create(http)
    clock.advance(1.5)
    shapes = ["data" in http.get(f"/runwayml/v1/tasks/{task_id}").json() for _ in range(4)]
    assert shapes == [False, True, False, True]


def test_unknown_task_id_answers_task_not_exist(http: httpx.Client) -> None:
    response = http.get(f"/runwayml/v1/tasks/{uuid.uuid4()}")
    assert (response.status_code, response.json()["code"]) == (400, "task_not_exist")


@pytest.mark.parametrize(
    ("prompt", "code", "after"),
    [
        ("sandbox:fail=INTERNAL.BAD_OUTPUT.CODE01 make it blue", "INTERNAL.BAD_OUTPUT.CODE01", 6.0),
        ("make it blue sandbox:unsafe", "SAFETY.INPUT.TEXT", 2.0),
        ("sandbox:fail=THIRD_PARTY.UNAVAILABLE", "THIRD_PARTY.UNAVAILABLE", 6.0),
    ],
)
def test_failure_markers(
    http: httpx.Client, sb: Sandbox, clock: FakeClock, prompt: str, code: str, after: float
) -> None:
    task_id = create(http, with_(promptText=prompt))
    url = f"/runwayml/v1/tasks/{task_id}"
    clock.advance(after - 0.01)
    assert http.get(url).json()["status"] in ("PENDING", "RUNNING")
    clock.advance(0.02)
    failed = http.get(url).json()
    assert failed["status"] == "FAILED" and failed["failureCode"] == code
    assert failed["failure"] and "output" not in failed
    sb.config.task_shape = "envelope"
    data = http.get(url).json()["data"]
    assert (data["status"], data["fail_reason"]) == ("FAILURE", failed["failure"])


def test_throttle_and_seconds_markers(http: httpx.Client, clock: FakeClock) -> None:
    task_id = create(http, with_(promptText="sandbox:throttle sandbox:seconds=0.5 go"))
    url = f"/runwayml/v1/tasks/{task_id}"
    clock.advance(1.5)
    assert http.get(url).json()["status"] == "THROTTLED"
    clock.advance(0.75)
    assert http.get(url).json()["status"] == "RUNNING"
    clock.advance(0.5)
    assert http.get(url).json()["status"] == "SUCCEEDED"


def test_markers_on_a_route_without_prompt_come_from_the_input_url(http: httpx.Client, clock: FakeClock) -> None:
    body = {"model": "upscale_v1", "videoUri": "https://v.example.com/a.mp4?sandbox:fail=ASSET.INVALID"}
    task_id = create(http, body, "/runwayml/v1/video_upscale")
    clock.advance(10)
    assert http.get(f"/runwayml/v1/tasks/{task_id}").json()["failureCode"] == "ASSET.INVALID"


def test_cancel_when_supported(http: httpx.Client, sb: Sandbox, clock: FakeClock) -> None:
    sb.config.supports_cancel = True
    running, finished = create(http), create(http)
    clock.advance(3)
    assert http.delete(f"/runwayml/v1/tasks/{running}").status_code == 204
    clock.advance(10)
    cancelled = http.get(f"/runwayml/v1/tasks/{running}").json()
    assert cancelled["status"] == "CANCELLED"
    sb.config.task_shape = "envelope"
    assert http.get(f"/runwayml/v1/tasks/{running}").json()["data"]["status"] == "CANCELLED"
    for task_id in (running, finished):  # terminal: deleted
        deleted = http.delete(f"/runwayml/v1/tasks/{task_id}")
        assert (deleted.status_code, deleted.content) == (204, b"")
        assert http.get(f"/runwayml/v1/tasks/{task_id}").json()["code"] == "task_not_exist"
    assert sb.task_ids() == [running, finished]


def test_cancel_when_not_supported_is_an_unknown_route(http: httpx.Client, clock: FakeClock) -> None:
    task_id = create(http)
    clock.advance(3)
    response = http.delete(f"/runwayml/v1/tasks/{task_id}")
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "comet_api_error"
    assert http.get(f"/runwayml/v1/tasks/{task_id}").json()["status"] == "RUNNING"


# Output media


def test_output_url_serves_a_real_video_until_it_expires(http: httpx.Client, sb: Sandbox, clock: FakeClock) -> None:
    sb.config.output_url_ttl_seconds = 60
    task_id = create(http)
    clock.advance(7)
    [url] = http.get(f"/runwayml/v1/tasks/{task_id}").json()["output"]
    video = httpx.get(url)
    assert video.status_code == 200
    assert video.headers["content-type"] == "video/mp4"
    assert video.content == asset_bytes("output.mp4")
    assert int(video.headers["content-length"]) == len(video.content)
    assert httpx.head(url).headers["content-length"] == video.headers["content-length"]
    assert httpx.get(url.replace("sig=", "sig=0")).status_code == 403
    clock.advance(61)
    expired = httpx.get(url)
    assert expired.status_code == 403
    assert "<Code>AccessDenied</Code>" in expired.text and "expired" in expired.text
    [fresh] = http.get(f"/runwayml/v1/tasks/{task_id}").json()["output"]
    assert fresh != url and httpx.get(fresh).status_code == 200


def test_output_base_url_and_image_outputs(http: httpx.Client, sb: Sandbox, clock: FakeClock) -> None:
    sb.config.output_base_url = "https://cdn.example.com/"
    body = {
        "model": "gen4_image_turbo",
        "promptText": "x",
        "ratio": "720:720",
        "referenceImages": [{"uri": "https://i.example.com/a.png"}],
    }
    task_id = create(http, body, "/runwayml/v1/text_to_image")
    clock.advance(7)
    [url] = http.get(f"/runwayml/v1/tasks/{task_id}").json()["output"]
    assert url.startswith(f"https://cdn.example.com/_sandbox/media/{task_id}.png?")
    image = http.get(url.replace("https://cdn.example.com", root(http)))
    assert image.headers["content-type"] == "image/png"
    assert image.content.startswith(b"\x89PNG\r\n\x1a\n")


def test_assets_are_small_real_files() -> None:
    for name in ("output.mp4", "sample_input.mp4"):
        data = asset_bytes(name)
        assert data[4:8] == b"ftyp" and b"avc1" in data and len(data) < 20_000
    assert asset_bytes("sample.png").startswith(b"\x89PNG")
    assert asset_bytes("sample.jpg").startswith(b"\xff\xd8\xff")
    assert asset_path("sample_input.mp4").read_bytes() == asset_bytes("sample_input.mp4")


# Faults


def test_status_fault_with_retry_after_and_matching(http: httpx.Client, sb: Sandbox) -> None:
    sb.add_fault(Fault(kind="status", status=429, retry_after=2, method="POST", path="/video_to_video", times=2))
    assert http.get(f"/runwayml/v1/tasks/{uuid.uuid4()}").status_code == 400  # GET does not match
    for _ in range(2):
        response = http.post(V2V, json=SEED_BODY)
        assert (response.status_code, response.headers["retry-after"]) == (429, "2")
        assert response.json()["error"]["type"] == "comet_api_error"
    create(http)
    assert [r.fault for r in sb.api_requests()] == [None, "status", "status", None]
    assert len(sb.task_ids()) == 1


def test_forever_fault_until_cleared(http: httpx.Client, sb: Sandbox) -> None:
    sb.add_fault(Fault(kind="status", status=503, times=-1))
    assert all(http.post(V2V, json=SEED_BODY).status_code == 503 for _ in range(3))
    sb.clear_faults()
    create(http)


@pytest.mark.parametrize("status", [502, 524])
def test_html_fault(http: httpx.Client, sb: Sandbox, status: int) -> None:
    sb.add_fault(Fault(kind="html", status=status))
    response = http.post(V2V, json=SEED_BODY)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/html")
    assert "<!DOCTYPE html>" in response.text and str(status) in response.text


def test_redirect_fault(http: httpx.Client, sb: Sandbox) -> None:
    sb.add_fault(Fault(kind="redirect"))
    response = http.post(V2V, json=SEED_BODY)
    assert response.status_code == 301
    assert response.headers["location"] == f"{root(http)}/runwayml/v1/video_to_video/"
    assert sb.task_ids() == []


def test_body_faults(http: httpx.Client, sb: Sandbox) -> None:
    for kind in ("empty", "malformed_json", "wrong_shape"):
        sb.add_fault(Fault(kind=kind))
    empty, malformed, wrong = (http.post(V2V, json=SEED_BODY) for _ in range(3))
    assert (empty.status_code, empty.content) == (200, b"")
    assert malformed.status_code == 200 and malformed.headers["content-type"] == "application/json"
    with pytest.raises(json.JSONDecodeError):
        malformed.json()
    assert (wrong.status_code, wrong.json()) == (200, {"foo": 1})
    assert sb.task_ids() == []


def test_huge_body_fault(http: httpx.Client, sb: Sandbox) -> None:
    sb.add_fault(Fault(kind="huge_body", status=502))
    response = http.post(V2V, json=SEED_BODY)
    assert response.status_code == 502
    assert len(response.content) >= 10 * MIB


@pytest.mark.parametrize("kind", ["drop_connection", "reset_mid_response"])
def test_connection_faults_are_transport_errors(http: httpx.Client, sb: Sandbox, kind: str) -> None:
    sb.add_fault(Fault(kind=kind, method="post"))  # type: ignore[arg-type]
    with pytest.raises(httpx.TransportError):  # a forwarded-for header must not hide the real peer
        http.post(V2V, json=SEED_BODY, headers={"X-Forwarded-For": "203.0.113.9"})
    create(http)  # the next request is served normally
    assert [r.fault for r in sb.api_requests()] == [kind, None]


def test_reset_mid_response_sends_headers_first(http: httpx.Client, sb: Sandbox) -> None:
    sb.add_fault(Fault(kind="reset_mid_response"))
    with http.stream("GET", f"/runwayml/v1/tasks/{uuid.uuid4()}") as response:
        assert response.status_code == 200
        with pytest.raises(httpx.TransportError):
            response.read()


def test_delay_fault_then_normal_answer(http: httpx.Client, sb: Sandbox) -> None:
    sb.add_fault(Fault(kind="delay", delay_seconds=0.3))
    started = time.monotonic()
    create(http)
    assert time.monotonic() - started >= 0.3
    # A read, not a create: the server finishes the delayed request after the client gave up.
    sb.add_fault(Fault(kind="delay", delay_seconds=0.5))
    with pytest.raises(httpx.ReadTimeout):
        http.get(f"/runwayml/v1/tasks/{uuid.uuid4()}", timeout=0.1)


@pytest.mark.parametrize("kind", ["status", "drop_connection"])
def test_after_create_fault_still_creates_the_task(
    http: httpx.Client, sb: Sandbox, clock: FakeClock, kind: str
) -> None:
    sb.add_fault(Fault(kind=kind, status=502, after_create=True, path="/video_to_video"))  # type: ignore[arg-type]
    if kind == "status":
        assert http.post(V2V, json=SEED_BODY).status_code == 502
    else:
        with pytest.raises(httpx.TransportError):
            http.post(V2V, json=SEED_BODY)
    [task_id] = sb.task_ids()
    [recorded] = sb.api_requests()
    assert (recorded.fault, recorded.created_task_id) == (kind, task_id)
    clock.advance(1.5)
    assert http.get(f"/runwayml/v1/tasks/{task_id}").json()["status"] == "PENDING"


def test_media_urls_only_get_faults_that_name_them(http: httpx.Client, sb: Sandbox, clock: FakeClock) -> None:
    task_id = create(http)
    clock.advance(7)
    [url] = http.get(f"/runwayml/v1/tasks/{task_id}").json()["output"]
    sb.add_fault(Fault(kind="status", status=500))
    assert httpx.get(url).status_code == 200
    sb.clear_faults()
    sb.add_fault(Fault(kind="reset_mid_response", path="/_sandbox/media/"))
    with pytest.raises(httpx.TransportError):
        httpx.get(url)
    assert httpx.get(url).status_code == 200


# Control routes and running modes


def test_control_routes(http: httpx.Client, sb: Sandbox, clock: FakeClock) -> None:
    plain = httpx.Client(base_url=root(http))  # no auth needed
    assert plain.get("/_sandbox/health").json()["status"] == "ok"
    added = plain.post("/_sandbox/faults", json={"kind": "status", "status": 503, "path": "/video_to_video"})
    assert added.json()["faults"][0]["status"] == 503
    assert plain.post("/_sandbox/faults", json={"kind": "nope"}).status_code == 400
    assert plain.post("/_sandbox/faults", json={"kind": "status", "times": "2"}).status_code == 400
    assert plain.get("/_sandbox/faults").json()["faults"][0]["kind"] == "status"
    assert http.post(V2V, json=SEED_BODY).status_code == 503
    plain.post("/_sandbox/faults", json=[{"kind": "empty"}, {"kind": "wrong_shape"}])
    assert plain.delete("/_sandbox/faults").json() == {"faults": []}
    task_id = create(http, with_(videoUri=data_uri("video/mp4", 1000)))
    listed = plain.get("/_sandbox/requests").json()
    assert [r["fault"] for r in listed] == ["status", None]
    assert listed[1]["created_task_id"] == task_id
    assert listed[1]["headers"]["authorization"] == f"Bearer ***{KEY[-4:]}"
    assert listed[1]["json"]["videoUri"].endswith("chars]") and "body_base64" not in listed[1]
    with_body = plain.get("/_sandbox/requests", params={"body": "1"}).json()[1]
    assert json.loads(base64.b64decode(with_body["body_base64"]))["model"] == "gen4_aleph"
    clock.advance(3)
    [task] = plain.get("/_sandbox/tasks").json()
    assert (task["id"], task["status"], task["visible"]) == (task_id, "RUNNING", True)
    assert plain.post("/_sandbox/reset").status_code == 200
    assert sb.task_ids() == [] and sb.requests == [] and plain.get("/_sandbox/tasks").json() == []
    assert sb.api_requests() == []  # control calls are never recorded


def test_in_process_asgi_use() -> None:
    async def scenario() -> None:
        sandbox = Sandbox(SandboxConfig(not_visible_seconds=0))
        transport = httpx.ASGITransport(app=sandbox.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sandbox.test", headers=HEADERS) as client:
            task_id = (await client.post(V2V, json=SEED_BODY)).json()["id"]
            assert (await client.get(f"/runwayml/v1/tasks/{task_id}")).json()["status"] == "PENDING"
            sandbox.add_fault(Fault(kind="drop_connection"))
            with pytest.raises(Exception, match="connection dropped"):
                await client.post(V2V, json=SEED_BODY)

    asyncio.run(scenario())


def test_serve_runs_the_blocking_server_and_keeps_stdout_clean() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code = f"from runway_mcp.sandbox import serve; serve(port={port})"
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/_sandbox/health", timeout=0.5)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and process.poll() is None
                time.sleep(0.05)
        assert health.json()["status"] == "ok"
    finally:
        process.terminate()
        stdout, stderr = process.communicate(timeout=10)
    assert stdout == b""
    assert f"127.0.0.1:{port}".encode() in stderr
