"""Read-only access to manifest.sqlite (dataset-tools, schema 1) and label-bank.sqlite (label-bank,
schema 1): the same queries as the TypeScript ManifestReader and LabelBank, refusing a file of
another kind or another schema version with a message naming the file."""
from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .errors import BridgeError

#: packages/dataset-tools/src/manifest/schema.ts MANIFEST_SCHEMA_VERSION.
MANIFEST_SCHEMA_VERSION = 1
#: packages/label-bank/src/store/schema.ts SCHEMA_VERSION.
LABEL_BANK_SCHEMA_VERSION = 1
#: "No label" in label-id maps (dataset-tools reader.ts IGNORE_INDEX / ignoreIndexFor): 255 while the
#: manifest has at most 255 labels, WIDE_IGNORE_INDEX in one with more, where 255 is a label.
IGNORE_INDEX = 255
WIDE_IGNORE_INDEX = 65535


def ignore_index_for(label_count: int) -> int:
    """The ignore value of label-id maps for a manifest of `label_count` labels: one that is no label id."""
    if label_count <= IGNORE_INDEX:
        return IGNORE_INDEX
    if label_count <= WIDE_IGNORE_INDEX:
        return WIDE_IGNORE_INDEX
    raise BridgeError(f"{label_count} labels: label ids past {WIDE_IGNORE_INDEX - 1} are not supported")

_KIND_TABLES: List[Tuple[str, Tuple[str, ...]]] = [
    ("manifest", ("meta", "datasets", "dataset_classes", "images")),
    ("label-bank", ("meta", "labels", "embeddings")),
    ("box-embeddings", ("box_embeddings",)),
]
_KIND_NAMES = {
    "missing": "a missing file",
    "directory": "a directory",
    "empty": "an empty file",
    "not-sqlite": "not a SQLite database",
    "damaged": "a damaged SQLite database",
    "manifest": "a sentseg manifest (merge-datasets)",
    "label-bank": "a sentseg label bank (label-bank)",
    "box-embeddings": "a sentseg box-embedding cache (train)",
    "other-sqlite": "a SQLite database of another program",
}


def _connect(file: str) -> sqlite3.Connection:
    """A read-write connection that only reads (query_only), or a read-only one where the file cannot
    be written (dataset-tools reader.ts openForReading). A read-only connection to a manifest in WAL
    mode creates its -wal and -shm files and, unable to checkpoint, leaves them behind when it closes;
    the last read-write connection removes them."""
    try:
        db = sqlite3.connect(f"file:{file}?mode=rw", uri=True)
        db.execute("PRAGMA query_only = ON")
        db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        return db
    except sqlite3.OperationalError:
        return sqlite3.connect(f"file:{file}?mode=ro", uri=True)


def sqlite_kind(file: str) -> str:
    """What a file is, told by the tables only that kind has (as @sentseg/common identifySqliteFile)."""
    if not os.path.exists(file):
        return "missing"
    if os.path.isdir(file):
        return "directory"
    if os.path.getsize(file) == 0:
        return "empty"
    with open(file, "rb") as f:
        if f.read(16) != b"SQLite format 3\x00":
            return "not-sqlite"
    try:
        db = _connect(file)
        try:
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        finally:
            db.close()
    except sqlite3.DatabaseError:
        return "damaged"
    for kind, needed in _KIND_TABLES:
        if all(t in tables for t in needed):
            return kind
    return "other-sqlite"


def _open_kind(file: str, kind: str, version: int, role: str) -> sqlite3.Connection:
    resolved = os.path.abspath(file)
    found = sqlite_kind(resolved)
    if found == "missing":
        raise BridgeError(f"{role} not found: {resolved}")
    if found != kind:
        raise BridgeError(f"{role}: {resolved} is {_KIND_NAMES[found]}, not {_KIND_NAMES[kind]}")
    db = _connect(resolved)
    row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    if row is None or row[0] != str(version):
        db.close()
        have = "missing" if row is None else row[0]
        raise BridgeError(f"{role} {resolved} has schema {have}; sentseg-torch reads schema {version} (rebuild it with this checkout's sentseg, or update sentseg-torch)")
    return db


@dataclass
class DatasetInfo:
    name: str
    root: str
    annotation: str
    loss: str
    encoding: str
    splits: List[str]
    images: int


@dataclass
class Sample:
    id: int
    dataset: str
    image: str
    mask: Optional[str]
    width: int
    height: int


@dataclass
class Box:
    box_id: int
    source_id: int
    x: float
    y: float
    w: float
    h: float


class Manifest:
    """manifest.sqlite, read-only."""

    def __init__(self, file: str) -> None:
        self.file = os.path.abspath(file)
        self.db = _open_kind(self.file, "manifest", MANIFEST_SCHEMA_VERSION, "manifest")
        self._roots: Dict[str, str] = {}

    def close(self) -> None:
        self.db.close()

    def labels(self) -> List[Tuple[int, str]]:
        return [(int(r[0]), str(r[1])) for r in self.db.execute("SELECT id, name FROM labels ORDER BY id")]

    def datasets(self) -> List[DatasetInfo]:
        out: List[DatasetInfo] = []
        for name, root, annotation, loss, encoding in self.db.execute("SELECT name, root, annotation, loss, encoding FROM datasets ORDER BY name").fetchall():
            per = self.db.execute("SELECT split, COUNT(*) FROM images WHERE dataset = ? GROUP BY split ORDER BY split", (name,)).fetchall()
            out.append(DatasetInfo(name, root, annotation, loss, encoding, [p[0] for p in per], sum(p[1] for p in per)))
        return out

    def ignore_index(self) -> int:
        """This manifest's ignore value (ManifestReader.ignoreIndex): ignore_index_for its label ids' range."""
        row = self.db.execute("SELECT COALESCE(MAX(id) + 1, 0) FROM labels").fetchone()
        return ignore_index_for(int(row[0]))

    def lut(self, dataset: str, ignore_index: Optional[int] = None) -> np.ndarray:
        """Source id → label id; ignored, unmapped and unknown ids map to the ignore index (ManifestReader.lut)."""
        if ignore_index is None:
            ignore_index = self.ignore_index()
        rows = self.db.execute("SELECT source_id, label_id FROM dataset_classes WHERE dataset = ?", (dataset,)).fetchall()
        size = max([256] + [int(r[0]) + 1 for r in rows])
        lut = np.full(size, ignore_index, dtype=np.int32)
        for source, label in rows:
            if label == ignore_index:
                raise BridgeError(f"manifest {self.file}: label id {label} collides with the ignore index {ignore_index}")
            if label is not None:
                lut[int(source)] = int(label)
        return lut

    def image_ids(self, dataset: str, split: str) -> List[int]:
        return [int(r[0]) for r in self.db.execute("SELECT id FROM images WHERE dataset = ? AND split = ? ORDER BY split, image_path", (dataset, split))]

    def _root(self, dataset: str) -> str:
        if dataset not in self._roots:
            row = self.db.execute("SELECT root FROM datasets WHERE name = ?", (dataset,)).fetchone()
            if row is None:
                raise BridgeError(f"no dataset {dataset!r} in {self.file}")
            self._roots[dataset] = str(row[0])
        return self._roots[dataset]

    def sample(self, image_id: int) -> Sample:
        row = self.db.execute("SELECT id, dataset, image_path, mask_path, width, height FROM images WHERE id = ?", (image_id,)).fetchone()
        if row is None:
            raise BridgeError(f"image {image_id} is not in {self.file}")
        root = self._root(row[1])
        return Sample(int(row[0]), str(row[1]), os.path.join(root, row[2]), None if row[3] is None else os.path.join(root, row[3]), int(row[4]), int(row[5]))

    def segments(self, image_id: int) -> Dict[int, int]:
        return {int(s): int(c) for s, c in self.db.execute("SELECT segment_id, source_id FROM segments WHERE image_id = ?", (image_id,))}

    def boxes(self, image_id: int) -> List[Box]:
        return [Box(int(r[0]), int(r[1]), float(r[2]), float(r[3]), float(r[4]), float(r[5])) for r in self.db.execute("SELECT id, source_id, x, y, w, h FROM boxes WHERE image_id = ? ORDER BY id", (image_id,))]

    def instance_masks(self, image_id: int, dataset: str) -> List[Tuple[int, str]]:
        root = self._root(dataset)
        return [(int(r[0]), os.path.join(root, r[1])) for r in self.db.execute("SELECT source_id, mask_path FROM instance_masks WHERE image_id = ? ORDER BY id", (image_id,))]


def word_only_text(name: str) -> str:
    return f"An image of {name}."


@dataclass
class LabelEmbeddings:
    names: List[str]
    encoder_id: str
    dim: int
    #: len(names) × dim, float32.
    data: np.ndarray = field(repr=False)


class LabelBank:
    """label-bank.sqlite, read-only."""

    def __init__(self, file: str) -> None:
        self.file = os.path.abspath(file)
        self.db = _open_kind(self.file, "label-bank", LABEL_BANK_SCHEMA_VERSION, "label bank")

    def close(self) -> None:
        self.db.close()

    def _model(self, model_id: Optional[str]) -> Tuple[str, int]:
        models = [(str(r[0]), str(r[1]), int(r[2])) for r in self.db.execute("SELECT model_id, location, dim FROM models ORDER BY added_at, model_id")]
        if model_id is not None:
            for m in models:
                if model_id in (m[0], m[1]):
                    return m[0], m[2]
            raise BridgeError(f"no embeddings for model {model_id!r} in {self.file} (models: {', '.join(m[0] for m in models) or 'none'}); run label-bank embed --model ...")
        if not models:
            raise BridgeError(f"no embeddings in {self.file}; run label-bank embed --model ...")
        if len(models) > 1:
            raise BridgeError(f"{self.file} holds embeddings of {len(models)} models ({', '.join(m[0] for m in models)}); name one with --set encoder=ID")
        return models[0][0], models[0][2]

    def embeddings_for(self, names: Sequence[str], kind: str, model_id: Optional[str]) -> LabelEmbeddings:
        """One row per name, in order (the manifest's label order), as readLabelEmbeddings."""
        model, dim = self._model(model_id)
        rows: List[np.ndarray] = []
        missing_labels: List[str] = []
        missing_vectors: List[str] = []
        for name in names:
            found = self.db.execute("SELECT description FROM labels WHERE name = ?", (name,)).fetchone()
            if found is None:
                missing_labels.append(name)
                continue
            text = str(found[0]) if kind == "sentence" else word_only_text(name)
            digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
            vec = self.db.execute("SELECT vector FROM embeddings WHERE model_id = ? AND text_sha256 = ?", (model, digest)).fetchone()
            if vec is None:
                missing_vectors.append(name)
                continue
            rows.append(np.frombuffer(vec[0], dtype="<f4").copy())
        if missing_labels:
            shown = ", ".join(missing_labels[:8]) + (", …" if len(missing_labels) > 8 else "")
            raise BridgeError(f"manifest and label bank were built with different label sets: {len(missing_labels)} label(s) are not in {self.file}: {shown} (label-bank add NAME adds one)")
        if missing_vectors:
            shown = ", ".join(missing_vectors[:8]) + (f", … ({len(missing_vectors)} in all)" if len(missing_vectors) > 8 else "")
            raise BridgeError(f"{self.file}: {kind} embeddings missing for model {model}: {shown}; run label-bank embed")
        data = np.stack(rows).astype(np.float32) if rows else np.zeros((0, dim), np.float32)
        return LabelEmbeddings(list(names), model, dim, data)


def read_label_embeddings(bank_file: str, manifest: Manifest, kind: str, encoder: Optional[str]) -> LabelEmbeddings:
    labels = manifest.labels()
    for i, (lid, _) in enumerate(labels):
        if lid != i:
            raise BridgeError(f"manifest {manifest.file} has label ids with gaps (id {lid} at position {i})")
    bank = LabelBank(bank_file)
    try:
        return bank.embeddings_for([n for _, n in labels], kind, encoder)
    finally:
        bank.close()


def dumps_json(value: object) -> str:
    return json.dumps(value, indent=2)
