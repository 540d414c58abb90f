#!/bin/sh
# One-shot job run before the API replicas start: create or migrate the history database schema once (replicas
# that start together then only find it up to date), then ingest the catalog into the Chroma server (the bundled
# demo catalog when none is named and the store is empty). Settings come from the SHOPQUERY_* environment, as for
# the replicas; the catalog file is $CATALOG_DIR/$CATALOG_FILE (CATALOG_DIR: /catalog, the mounted volume).
set -eu

python - <<'PY'
from assistant.settings import load_settings
from tools.history import HistoryStore

store = HistoryStore.from_settings(load_settings())
print(f"history schema version {store.version} at {store.display_url}")
store.close()
PY

if [ -z "${CATALOG_FILE:-}" ]; then
  # No catalog named: load the bundled demo catalog, but only into an empty store (here, once, rather than in
  # every replica at start-up).
  exec python -c "from assistant.app import Assistant; from assistant.settings import load_settings; \
r = Assistant(load_settings()).ensure_catalog(progress=False); \
print(r.summary() if r else 'the catalog store already holds products: nothing ingested')"
fi
exec shopquery ingest "${CATALOG_DIR:-/catalog}/${CATALOG_FILE}" --quiet
