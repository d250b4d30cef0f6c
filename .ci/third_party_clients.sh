#!/usr/bin/env bash
# MCP clients that nobody in this project wrote, driving the real command against the sandbox:
#   1. the MCP Inspector's CLI from npm, over stdio: @modelcontextprotocol/inspector-cli (v1, what most
#      tutorials show) and @modelcontextprotocol/inspector --cli (v2, its maintained successor, which also
#      checks the tool schemas' portability with --strict); v2 also over streamable HTTP;
#   2. the 1.x Python SDK (mcp<2, what most MCP hosts still ship) in a virtualenv of its own, running
#      .ci/mcp1_client.py twice: the second start is answered first by the stdio front (runway_mcp.front).
# Every Inspector call but the first of each also starts with the front answering.
# Needs node >= 18 with npm (the npm registry) and python3 >= 3.11 with venv and pip (PyPI), plus this
# checkout's .venv (made by .ci/run; override with PYTHON=/path/to/python). Everything it installs or starts
# lives in a temporary directory and is removed on exit, whatever the outcome. Exits non-zero on any mismatch.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
BOOTSTRAP_PYTHON="${BOOTSTRAP_PYTHON:-python3}"
INSPECTOR_CLI_PACKAGE="${INSPECTOR_CLI_PACKAGE:-@modelcontextprotocol/inspector-cli@1}"
INSPECTOR_PACKAGE="${INSPECTOR_PACKAGE:-@modelcontextprotocol/inspector@2}"
KEY="sk-third-party-client-check"
STARTED=$SECONDS

export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 npm_config_fund=false npm_config_audit=false
export npm_config_update_notifier=false

WORK="$(mktemp -d "${TMPDIR:-/tmp}/runway-mcp-clients.XXXXXX")"
PIDS=()

cleanup() {
    local status=$?
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    if [[ $status -ne 0 ]]; then
        for log in "$WORK"/*.log; do
            [[ -s $log ]] && printf '\n--- %s (last 40 lines) ---\n' "$(basename "$log")" && tail -n 40 "$log"
        done
    fi
    rm -rf "$WORK"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

section() {
    printf '\n==> %s\n' "$*"
}

fail() {
    echo "error: $*" >&2
    exit 1
}

check_on_npm() {
    local found
    found="$(npm view "$1" version 2>/dev/null | tail -n 1)" || true
    [[ -n $found ]] || fail "$1 is not on the npm registry (npm view found nothing)"
    echo "  on npm: $found"
}

free_port() {
    "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_for_url() {
    "$PYTHON" - "$1" <<'PY'
import sys, time, urllib.request

deadline = time.monotonic() + 30
while True:
    try:
        with urllib.request.urlopen(sys.argv[1], timeout=2):
            break
    except OSError:
        if time.monotonic() > deadline:
            sys.exit(f"nothing answered at {sys.argv[1]} within 30 s")
        time.sleep(0.1)
PY
}

# Reads a JSON document on stdin and checks it with the Python expression in $1 (the document is `doc`);
# prints $2 on success. Further arguments are available to the expression as `args`.
expect_json() {
    local expression=$1 label=$2
    shift 2
    "$PYTHON" -c '
import json, sys
expression, label, *args = sys.argv[1:]
text = sys.stdin.read()
try:
    doc = json.loads(text)
except ValueError:
    sys.exit(f"{label}: not JSON: {text[:500]!r}")
if not eval(expression, {"doc": doc, "args": args}):
    sys.exit(f"{label}: unexpected answer: {json.dumps(doc)[:1500]}")
print(f"ok: {label}")
' "$expression" "$label" "$@"
}

# The structured result of a tools/call answer, as one JSON document on stdout.
structured_result() {
    "$PYTHON" -c '
import json, sys
doc = json.load(sys.stdin)
if doc.get("isError"):
    sys.exit("the tool answered with an error: " + json.dumps(doc)[:1500])
print(json.dumps(doc.get("structuredContent") or json.loads(doc["content"][0]["text"])))
'
}

section "Tools"
command -v node >/dev/null || fail "node is not installed (Node 18 or newer is needed)"
command -v npm >/dev/null || fail "npm is not installed"
[[ -x $PYTHON ]] || fail "$PYTHON not found: run .ci/run first, or set PYTHON"
node --version
npm --version
"$PYTHON" -c 'import runway_mcp; print("runway_mcp", runway_mcp.__version__)'

section "Sandbox upstream"
SANDBOX_PORT="$(free_port)"
SANDBOX_URL="http://127.0.0.1:$SANDBOX_PORT"
"$PYTHON" -m runway_mcp sandbox --port "$SANDBOX_PORT" >"$WORK/sandbox.log" 2>&1 &
PIDS+=("$!")
wait_for_url "$SANDBOX_URL/_sandbox/health"
echo "sandbox on $SANDBOX_URL"

# The environment every server below gets: the sandbox as upstream, scratch directories, quick polling.
SERVER_ENV=(
    "COMETAPI_KEY=$KEY"
    "COMETAPI_BASE_URL=$SANDBOX_URL"
    "RUNWAY_MCP_DATA_DIR=$WORK/data"
    "RUNWAY_MCP_OUTPUT_DIR=$WORK/out"
    "RUNWAY_MCP_POLL_INTERVAL=0.5"
)
INSPECTOR_ENV_FLAGS=()
for pair in "${SERVER_ENV[@]}"; do
    INSPECTOR_ENV_FLAGS+=(-e "$pair")
done
VIDEO="https://media.w3.org/2010/05/sintel/trailer.mp4"

posts_to_sandbox() {
    "$PYTHON" -c '
import json, sys, urllib.request
with urllib.request.urlopen(sys.argv[1] + "/_sandbox/requests", timeout=10) as answer:
    print(sum(1 for r in json.load(answer) if r["method"] == "POST"))
' "$SANDBOX_URL"
}

# One inspector against one target: tools/list, a create, then get_task on the new task.
drive_inspector() {
    local label=$1
    shift
    local inspector=("$@")
    local before listed created task_id
    before="$(posts_to_sandbox)"

    listed="$("${inspector[@]}" --method tools/list)"
    expect_json '{"create_video_to_video", "get_task", "wait_for_task", "list_tasks"} <= {t["name"] for t in doc["tools"]}' \
        "$label: tools/list names the task tools" <<<"$listed"
    expect_json 'all(t["inputSchema"]["type"] == "object" and t.get("description") for t in doc["tools"])' \
        "$label: every tool has an object input schema and a description" <<<"$listed"

    created="$("${inspector[@]}" --method tools/call --tool-name create_video_to_video \
        --tool-arg "video_uri=$VIDEO" --tool-arg "prompt_text=Make it look like a snowy winter night" \
        --tool-arg seed=42 | structured_result)"
    expect_json 'doc["status"] == "PENDING" and doc["model"] == "gen4_aleph" and len(doc["task_id"]) > 8' \
        "$label: tools/call create_video_to_video" <<<"$created"
    task_id="$("$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["task_id"])' <<<"$created")"

    "${inspector[@]}" --method tools/call --tool-name get_task --tool-arg "task_id=$task_id" | structured_result |
        expect_json 'doc["task_id"] == args[0] and doc["status"] in ("PENDING", "THROTTLED", "RUNNING", "SUCCEEDED")' \
            "$label: tools/call get_task" "$task_id"

    [[ "$(posts_to_sandbox)" -eq $((before + 1)) ]] || fail "$label: expected exactly one create at the sandbox"
    echo "ok: $label: exactly one create reached the sandbox"
}

section "MCP Inspector CLI v1 ($INSPECTOR_CLI_PACKAGE), stdio"
check_on_npm "$INSPECTOR_CLI_PACKAGE"
npm install --prefix "$WORK/inspector-v1" --no-save --loglevel=error "$INSPECTOR_CLI_PACKAGE" >"$WORK/npm-v1.log" 2>&1 ||
    fail "npm could not install $INSPECTOR_CLI_PACKAGE (see npm-v1.log above)"
V1_BUILD="$WORK/inspector-v1/node_modules/@modelcontextprotocol/inspector-cli/build"
# v1 finds its own package.json relative to the working directory, so it must run from its build directory.
inspector_v1() {
    (cd "$V1_BUILD" && env "${SERVER_ENV[@]}" node index.js "$PYTHON" -m runway_mcp "$@" 2>>"$WORK/inspector-v1.log")
}
drive_inspector "inspector-cli v1 (stdio)" inspector_v1

section "MCP Inspector v2 ($INSPECTOR_PACKAGE --cli), stdio and streamable HTTP"
check_on_npm "$INSPECTOR_PACKAGE"
npm install --prefix "$WORK/inspector-v2" --no-save --loglevel=error "$INSPECTOR_PACKAGE" >"$WORK/npm-v2.log" 2>&1 ||
    fail "npm could not install $INSPECTOR_PACKAGE (see npm-v2.log above)"
V2="$WORK/inspector-v2/node_modules/.bin/mcp-inspector"
mkdir -p "$WORK/home"  # v2 keeps a catalog under ~/.mcp-inspector: not in the real home directory
inspector_v2_stdio() {
    HOME="$WORK/home" "$V2" --cli "${INSPECTOR_ENV_FLAGS[@]}" "$PYTHON" -m runway_mcp "$@" 2>>"$WORK/inspector-v2.log"
}
drive_inspector "inspector v2 (stdio)" inspector_v2_stdio
# --strict: the Inspector's own check that every tool schema is portable across clients; exit 6 on errors.
inspector_v2_stdio --method tools/list --strict >/dev/null || fail "inspector v2 --strict found tool-schema problems"
echo "ok: inspector v2 (stdio): tools/list --strict finds no tool-schema portability problem"

if "$PYTHON" -c 'import runway_mcp.remote.app' 2>/dev/null; then
    HTTP_PORT="$(free_port)"
    env "${SERVER_ENV[@]}" "$PYTHON" -m runway_mcp --transport streamable-http --host 127.0.0.1 --port "$HTTP_PORT" \
        >"$WORK/http-server.log" 2>&1 &
    PIDS+=("$!")
    wait_for_url "http://127.0.0.1:$HTTP_PORT/healthz"
    inspector_v2_http() {
        HOME="$WORK/home" "$V2" --cli "http://127.0.0.1:$HTTP_PORT/mcp" "$@" 2>>"$WORK/inspector-v2.log"
    }
    drive_inspector "inspector v2 (streamable HTTP)" inspector_v2_http
else
    echo "skipped: runway_mcp.remote.app is not importable, so there is no streamable HTTP to test"
fi

section "The 1.x Python SDK (mcp<2) in its own virtualenv"
"$BOOTSTRAP_PYTHON" -m venv "$WORK/mcp1-venv"
"$WORK/mcp1-venv/bin/python" -m pip install --quiet "mcp<2" >"$WORK/pip-mcp1.log" 2>&1 ||
    fail "pip could not install mcp<2 (see pip-mcp1.log above)"
"$WORK/mcp1-venv/bin/python" -c 'import importlib.metadata as m; print("mcp", m.version("mcp"))'
SERVER_PYTHON="$PYTHON" SANDBOX_URL="$SANDBOX_URL" DATA_DIR="$WORK/mcp1-data" \
    "$WORK/mcp1-venv/bin/python" .ci/mcp1_client.py 2>"$WORK/mcp1-client.log"
# Again with the same data directory: the first start left the stdio manifest, so this time the server's front
# answers initialize and tools/list before the SDK has loaded, and hands the session over for the rest.
compgen -G "$WORK/mcp1-data/cache/stdio-manifest-*.json" >/dev/null || fail "the first start wrote no stdio manifest"
echo "again, answered first by the stdio front from the manifest the first start wrote:"
SERVER_PYTHON="$PYTHON" SANDBOX_URL="$SANDBOX_URL" DATA_DIR="$WORK/mcp1-data" \
    "$WORK/mcp1-venv/bin/python" .ci/mcp1_client.py 2>>"$WORK/mcp1-client.log"

section "All third-party clients passed in $((SECONDS - STARTED)) s"
