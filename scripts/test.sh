#!/usr/bin/env bash
# Run the whole test suite (unit + integration with the real embedded model and a real chromadb on disk).
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -m "not slow"`.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${SHOPQUERY_VENV:-.venv}
[ -x "$VENV/bin/python" ] || { echo "run 'bash scripts/setup.sh' first" >&2; exit 2; }
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 ANONYMIZED_TELEMETRY=False GRADIO_ANALYTICS_ENABLED=False
"$VENV/bin/ruff" check .
# the layers (.importlinter): tools.core <- tools <- assistant <- eval, never upwards
"$VENV/bin/lint-imports" --no-cache .importlinter > /dev/null || "$VENV/bin/lint-imports" --no-cache .importlinter
# the types ([tool.mypy] in pyproject.toml) of assistant/ and tools/; the report only when they do not check
mypy_report=$("$VENV/bin/mypy" --cache-dir .cache/mypy 2>&1) || { echo "$mypy_report" >&2; exit 1; }
# pytest exits 5 when no test ran: that fails this script like any other failure.
exec "$VENV/bin/python" -m pytest "$@"
