"""L_WD's targets: the CLIP image embeddings of the box crops, read from the box-embedding cache the
TypeScript trainer writes (boxes/clip-boxes.ts BoxEmbeddingCache, schema 1). The CLIP vision tower
is an ONNX model that only the TypeScript side runs: `sentseg-model box-embeddings` fills the cache,
and the bridge refuses to train L_WD without it, naming that command."""
from __future__ import annotations

import hashlib
import math
import os
import shlex
import sqlite3
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image

from .config import HUB_ID, is_hub_id
from .errors import BridgeError
from .sqlite_files import Box, Manifest, _open_kind, sqlite_kind

#: packages/trainer/src/boxes/clip-boxes.ts BOX_CACHE_SCHEMA_VERSION.
BOX_CACHE_SCHEMA_VERSION = 1


def js_number(x: float) -> str:
    """A number as JavaScript's String(x) writes it (the box keys hold box coordinates so)."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    if x == 0:
        return "0"
    if x == int(x) and abs(x) < 1e21:
        return str(int(x))
    # Shortest round-trip digits (repr gives the same ones as JS), then JS's choice of notation.
    sign = "-" if x < 0 else ""
    digits_repr = repr(abs(x))
    if "e" in digits_repr:
        m, e = digits_repr.split("e")
        digits, point = m.replace(".", ""), int(e) + 1
    else:
        whole, _, frac = digits_repr.partition(".")
        if whole != "0":
            digits, point = (whole + frac), len(whole)
        else:
            stripped = frac.lstrip("0")
            digits, point = stripped, -(len(frac) - len(stripped))
    digits = digits.lstrip("0").rstrip("0") or "0"
    k, n = len(digits), point
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * (-n) + digits
    e = n - 1
    body = digits if k == 1 else digits[0] + "." + digits[1:]
    return sign + body + "e" + ("+" if e >= 0 else "-") + str(abs(e))


def box_key(dataset: str, image: str, root: str, box: Box) -> str:
    """clip-boxes.ts boxKey: dataset, the image's path relative to the root, and the box."""
    rel = os.path.relpath(os.path.normpath(image), os.path.normpath(root)).replace(os.sep, "/")
    return f"{dataset}/{rel}#{js_number(box.x)},{js_number(box.y)},{js_number(box.w)},{js_number(box.h)}"


def box_cache_file(config: Dict[str, object]) -> str:
    """train.ts boxCacheFile: boxCache, else <manifest>.box-embeddings.sqlite."""
    return str(config["boxCache"]) if config.get("boxCache") else f"{config['manifest']}.box-embeddings.sqlite"


def build_command(config: Dict[str, object]) -> str:
    """The command that fills the cache for this config's box datasets."""
    parts = ["npx", "sentseg-model", "box-embeddings", "--manifest", str(config["manifest"]), "--clip-vision", str(config["clipVision"]) if config.get("clipVision") else "CLIP_VISION_FOLDER"]
    if config.get("boxCache"):
        parts += ["--set", f"boxCache={config['boxCache']}"]
    data = config["data"]  # type: ignore[assignment]
    if data.get("datasets"):  # type: ignore[union-attr]
        parts += ["--set", "data.datasets=" + "[" + ",".join(f'"{d}"' for d in data["datasets"]) + "]"]  # type: ignore[index]
    if list(data["splits"]) != ["train", "training"]:  # type: ignore[index]
        parts += ["--set", "data.splits=" + "[" + ",".join(f'"{s}"' for s in data["splits"]) + "]"]  # type: ignore[index]
    by = config["losses"]["byDataset"]  # type: ignore[index]
    for name, loss in sorted(by.items()):  # type: ignore[union-attr]
        parts += ["--set", f"losses.byDataset.{name}={loss}"]
    return " ".join(shlex.quote(p) for p in parts)


def expected_model_prefix(clip_vision: Optional[str]) -> Optional[Tuple[str, bool]]:
    """The cache's model id for config clipVision (exact for a local folder, as loadClipVisionEncoder
    names it), or the prefix of one for a hub id; None when clipVision is unset."""
    if not clip_vision:
        return None
    if is_hub_id(clip_vision, os.getcwd()):
        m = HUB_ID.match(clip_vision)
        assert m is not None
        return f"hf:{m.group(1)}/{m.group(2)}@{m.group(3) or 'main'}#", False
    onnx = os.path.join(clip_vision, "onnx", "vision_model.onnx")
    if not os.path.exists(onnx):
        raise BridgeError(f"clipVision {clip_vision}: not a CLIP vision tower in transformers.js layout (no onnx/vision_model.onnx)")
    h = hashlib.sha256()
    with open(onnx, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return f"local:{os.path.basename(os.path.abspath(clip_vision))}@{h.hexdigest()[:16]}", True


@dataclass
class BoxTargets:
    model_id: str
    dim: int
    #: box id → L2-normalised CLIP embedding of its crop (float32).
    vectors: Dict[int, np.ndarray]
    #: boxes of unreadable images, which have no target (the TypeScript trainer skips them too).
    unreadable: int


def _readable(file: str) -> bool:
    try:
        with Image.open(file) as im:
            im.verify()
        return True
    except (OSError, ValueError, SyntaxError):
        return False


def read_box_targets(manifest: Manifest, config: Dict[str, object], images: Sequence[Tuple[str, int]], datasets: Sequence[str]) -> BoxTargets:
    """The cached CLIP embedding of every box of `images` ((dataset, image id) of the L_WD datasets).
    Refuses (BridgeError) when the cache is absent, of another kind or version, holds no embeddings
    of the configured vision tower, or lacks boxes of readable images, naming the command that fills it."""
    file = os.path.abspath(box_cache_file(config))
    command = build_command(config)
    why = f"L_WD of {', '.join(datasets)} trains against the CLIP embeddings of the box crops, which sentseg-torch reads from the TypeScript trainer's cache"
    if sqlite_kind(file) == "missing":
        raise BridgeError(f"{why}; {file} does not exist: build it with `{command}` (then run this command again)")
    db: sqlite3.Connection = _open_kind(file, "box-embeddings", BOX_CACHE_SCHEMA_VERSION, "box-embedding cache (boxCache)")
    try:
        models = [str(r[0]) for r in db.execute("SELECT DISTINCT model_id FROM box_embeddings ORDER BY model_id")]
        wanted = expected_model_prefix(config.get("clipVision"))  # type: ignore[arg-type]
        if wanted is None:
            candidates = models
        else:
            candidates = [m for m in models if (m == wanted[0] if wanted[1] else m.startswith(wanted[0]))]
        if not candidates:
            held = f"it holds embeddings of {', '.join(models)}" if models else "it holds no embeddings"
            tower = f"clipVision {config.get('clipVision')}" if wanted else "any vision tower"
            raise BridgeError(f"{why}; {file} has none of {tower} ({held}): build them with `{command}`")
        if len(candidates) > 1:
            raise BridgeError(f"box-embedding cache {file} holds embeddings of several vision towers ({', '.join(candidates)}): name the one to train against with --set clipVision=FOLDER_OR_HUB_ID")
        model_id = candidates[0]
        vectors: Dict[int, np.ndarray] = {}
        missing: List[Tuple[str, List[int]]] = []
        unreadable = 0
        roots = {d.name: d.root for d in manifest.datasets()}
        for dataset, image_id in images:
            sample = manifest.sample(image_id)
            lacking: List[int] = []
            for box in manifest.boxes(image_id):
                row = db.execute("SELECT vector FROM box_embeddings WHERE model_id = ? AND box_key = ?", (model_id, box_key(dataset, sample.image, roots[dataset], box))).fetchone()
                if row is None:
                    lacking.append(box.box_id)
                else:
                    vectors[box.box_id] = np.frombuffer(row[0], dtype="<f4").astype(np.float32)
            if lacking:
                if _readable(sample.image):
                    missing.append((sample.image, lacking))
                else:
                    unreadable += len(lacking)
        if missing:
            count = sum(len(b) for _, b in missing)
            raise BridgeError(f"{why}; {file} lacks {count} box(es) of {len(missing)} image(s) (first: {missing[0][0]}) for {model_id}: add them with `{command}`")
        dims = {v.shape[0] for v in vectors.values()}
        if len(dims) > 1:
            raise BridgeError(f"box-embedding cache {file} holds embeddings of {sorted(dims)} dimensions for {model_id}; delete it and build it again with `{command}`")
        if not vectors:
            raise BridgeError(f"no box of {', '.join(datasets)} could be embedded (their images are unreadable)")
        return BoxTargets(model_id, dims.pop(), vectors, unreadable)
    finally:
        db.close()
