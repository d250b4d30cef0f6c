"""A local simulation of CometAPI's Runway routes, for tests, benchmarks and a key-free demo.

It behaves like the upstream *as documented* (`shared/reference/runway-via-cometapi.md` and Runway's
public API reference), not like our client expects, and shares no code with the rest of
`runway_mcp`: it is an independent second reading of the documentation.

Routes, each under `/runwayml/v1/` (CometAPI) and `/v1/` (Runway direct):
    POST video_to_video | image_to_video | text_to_image | video_upscale | character_performance
    GET tasks/{id}; DELETE tasks/{id} only with `SandboxConfig.supports_cancel` (otherwise it answers
    like any unknown route: 404 in CometAPI's JSON error envelope).
    POST uploads, on `/v1/` only (Runway's ephemeral uploads, see `uploads.py`): a slot with a
    presigned form URL under /_sandbox/uploads/ (no API key there, like S3) and a `runway://` URI that
    creates on `/v1/` then accept; `/runwayml/v1/` refuses `runway://` URIs. `Sandbox.uploads` holds them.
Differences between the prefixes: Runway's newer video_to_video models (aleph2, seedance2,
seedance2_fast, seedance2_mini, gemini_omni_flash) are accepted on `/v1/` always and on
`/runwayml/v1/` only with `cometapi_forwards_new_models`; CometAPI's gateway rejects text_to_image
without reference images (`reference_images_empty`, always in its envelope). Auth errors, unknown
routes and injected status faults use CometAPI's envelope; validation errors (body, and the
X-Runway-Version header) follow `SandboxConfig.error_style`.

Prompt markers (read from `promptText`; on routes without a prompt, from `videoUri` or
`character.uri`, e.g. `https://example.com/a.mp4?sandbox:fail=INTERNAL`):
    sandbox:fail=<CODE>   the task ends FAILED with failureCode CODE and a human `failure` text
    sandbox:unsafe        FAILED with SAFETY.INPUT.TEXT, decided right after the queue (no RUNNING)
    sandbox:throttle      THROTTLED instead of PENDING while queued
    sandbox:seconds=<f>   this task runs for f seconds instead of `running_seconds`

Task lifecycle, by `SandboxConfig.clock` since creation: task_not_exist (HTTP 400, like an unknown
id) for `not_visible_seconds`, then PENDING, then RUNNING with `progress`, then SUCCEEDED with an
output URL `/_sandbox/media/<id>.mp4?exp=<unix>&sig=<hmac>` (`.png` for text_to_image), which
answers 403 with an XML body once expired or when tampered with. The video served is a real 2 s
256x144 H.264 clip (`assets/output.mp4`: a ball crossing a dusk sky, its time printed on each frame),
or `SandboxConfig.output_video` when a test sets its own; the image, `sample.png` or `output_image`.

Faults (`Fault`, or `POST /_sandbox/faults`) apply to API requests; a media URL only gets faults
whose `path` names it. `drop_connection` and `reset_mid_response` abort the real TCP connection
(see `faults.py`), so the client sees a transport error, never an HTTP 500.

Control routes (no auth, not recorded): POST/GET/DELETE /_sandbox/faults, GET /_sandbox/requests
(`?body=1` adds each body as base64), POST /_sandbox/reset, GET /_sandbox/tasks, GET /_sandbox/health.
Sample media for tests: `asset_path("sample_input.mp4" | "sample.png" | "sample.jpg" | "output.mp4")`;
real clips of any size, codec and container: `runway_mcp.sandbox.clips.write_clip` (PyAV and Pillow).
"""

from runway_mcp.sandbox.app import Sandbox
from runway_mcp.sandbox.config import Fault, RecordedRequest, SandboxConfig
from runway_mcp.sandbox.media import asset_bytes, asset_path
from runway_mcp.sandbox.server import SandboxServer, serve

__all__ = [
    "Fault",
    "RecordedRequest",
    "Sandbox",
    "SandboxConfig",
    "SandboxServer",
    "asset_bytes",
    "asset_path",
    "serve",
]
