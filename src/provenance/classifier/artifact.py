"""Model artifact I/O: ``manifest.json`` + ``arrays.npz``, checked on every load.

The manifest holds the schema version, the probe-set hash the model was trained
on, the feature description, labels, training figures and the sha256 of every
other file. Arrays are loaded with ``allow_pickle=False``. Any problem (missing,
tampered or truncated file, newer schema, a probe set that does not hold the model's
probes unchanged) is an ``ArtifactError`` with a one-line message. No pickle anywhere.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from ..errors import ArtifactError

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"
ARRAYS = "arrays.npz"
KIND = "provenance-creator-classifier"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def write_artifact(out_dir: Path | str, arrays: dict[str, Any], meta: dict[str, Any], probeset: Any) -> Path:
    import numpy as np
    d = Path(out_dir)
    d.mkdir(parents=True, exist_ok=True)
    arr_path = d / ARRAYS
    tmp = d / (ARRAYS + ".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    os.replace(tmp, arr_path)
    manifest = {
        "kind": KIND,
        "schema_version": SCHEMA_VERSION,
        "probeset": probeset.info(),
        "probe_ids": sorted(probeset.ids()),
        "files": {ARRAYS: _sha256(arr_path)},
        "arrays": sorted(arrays),
        **meta,
    }
    mpath = d / MANIFEST
    mpath.write_text(json.dumps(manifest, indent=1, sort_keys=False, ensure_ascii=False) + "\n", encoding="utf-8")
    return d


def read_manifest(d: Path) -> dict[str, Any]:
    mpath = d / MANIFEST
    if not d.is_dir():
        raise ArtifactError(f"{d}: model directory not found")
    if not mpath.is_file():
        raise ArtifactError(f"{d}: missing {MANIFEST}")
    try:
        m = json.loads(mpath.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise ArtifactError(f"{mpath}: unreadable or truncated manifest ({type(e).__name__})") from None
    if not isinstance(m, dict) or m.get("kind") != KIND:
        raise ArtifactError(f"{mpath}: not a provenance classifier manifest")
    sv = m.get("schema_version")
    if not isinstance(sv, int):
        raise ArtifactError(f"{mpath}: missing schema_version")
    if sv > SCHEMA_VERSION:
        raise ArtifactError(f"{mpath}: schema_version {sv} is newer than this tool supports ({SCHEMA_VERSION}); upgrade provenance")
    for k in ("files", "labels", "probeset"):
        if k not in m:
            raise ArtifactError(f"{mpath}: manifest lacks '{k}'")
    return m


def load_artifact(path: Path | str, probeset: Any = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(manifest, arrays) after every check; ``probeset`` (if given) must match the manifest's hash."""
    import numpy as np
    d = Path(path)
    m = read_manifest(d)
    files = m["files"]
    if not isinstance(files, dict) or ARRAYS not in files:
        raise ArtifactError(f"{d}: manifest does not list {ARRAYS}")
    for name, digest in files.items():
        if "/" in name or "\\" in name or name.startswith("."):
            raise ArtifactError(f"{d}: bad file name in manifest: {name!r}")
        f = d / name
        if not f.is_file():
            raise ArtifactError(f"{d}: missing artifact file {name}")
        if _sha256(f) != digest:
            raise ArtifactError(f"{f}: checksum mismatch (tampered or truncated)")
    if probeset is not None:
        # The probe set in use must hold the model's, unchanged: the same set, or one that adds
        # probes (those are sent and stored, left out of the score: attribute.py). A probe the
        # model knows that changed, or is missing, refuses the model.
        want = m["probeset"].get("hash")
        if probeset.hash != want and not probeset.holds(m["probeset"], m.get("probe_ids")):
            raise ArtifactError(f"{d}: trained on probe set {want}, but the probe set in use is {probeset.hash} "
                                f"and does not hold the model's probes unchanged; retrain with `provenance train`")
    try:
        with np.load(d / ARRAYS, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except Exception as e:  # noqa: BLE001 - any decode problem is an artifact problem
        raise ArtifactError(f"{d / ARRAYS}: unreadable arrays ({type(e).__name__})") from None
    missing = set(m.get("arrays", [])) - set(arrays)
    if missing:
        raise ArtifactError(f"{d / ARRAYS}: missing arrays {', '.join(sorted(missing))}")
    return m, arrays
