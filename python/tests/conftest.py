"""Fixtures: a small manifest and label bank written with the TypeScript packages' own schema SQL
(read from packages/*/src/**/schema.ts, so the fixture follows the contract), two dense datasets of
real PNG/JPEG files (one gray-mask, one COCO-panoptic-style RGB mask), seeded."""
from __future__ import annotations

import hashlib
import os
import re
import sqlite3
import sys
from pathlib import Path
from typing import Dict, List

import numpy as np
import pytest
from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
REPO = HERE.parent.parent


def schema_sql(ts_file: str, const: str) -> str:
    text = (REPO / ts_file).read_text(encoding="utf-8")
    m = re.search(rf"export const {const} = `(.*?)`;", text, re.S)
    assert m, f"{const} not found in {ts_file}"
    return m.group(1)


def write_bank(file: Path, names: List[str], dim: int, seed: int = 7, model: str = "test:seeded") -> Dict[str, np.ndarray]:
    db = sqlite3.connect(file)
    db.executescript(schema_sql("packages/label-bank/src/store/schema.ts", "SCHEMA_SQL"))
    db.execute("INSERT INTO meta VALUES ('schema_version', '1'), ('created_at', 'now')")
    db.execute("INSERT INTO models VALUES (?, 'generated', ?, 'now')", (model, dim))
    rng = np.random.default_rng(seed)
    vectors: Dict[str, np.ndarray] = {}
    for i, name in enumerate(names):
        desc = f"An image of {name}. A thing called {name}."
        db.execute("INSERT INTO labels VALUES (?, ?, 'g', NULL, ?, 'shipped', NULL, 'shipped')", (i, name, desc))
        for text in (desc, f"An image of {name}."):
            v = rng.normal(0, 1, dim).astype(np.float32)
            v /= np.linalg.norm(v)
            if text == desc:
                vectors[name] = v
            db.execute("INSERT INTO embeddings VALUES (?, ?, ?, ?, ?, 'now')", (model, hashlib.sha256(text.encode()).hexdigest(), text, dim, v.tobytes()))
    db.commit()
    db.close()
    return vectors


LABELS = ["road", "sky", "tree", "car", "person"]


def write_manifest(dir_: Path, per_dataset: int = 4, size=(48, 40)) -> Path:
    file = dir_ / "manifest.sqlite"
    db = sqlite3.connect(file)
    db.executescript(schema_sql("packages/dataset-tools/src/manifest/schema.ts", "MANIFEST_SQL"))
    db.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    for i, n in enumerate(LABELS):
        db.execute("INSERT INTO labels VALUES (?, ?, 'shipped')", (i, n))
    rng = np.random.default_rng(11)
    w, h = size
    image_id = 1
    # gray: source ids 7 → road(0), 8 → sky(1), 9 → ignore, 10 unmapped
    root = dir_ / "grayds"
    db.execute("INSERT INTO datasets VALUES ('grayds', 'f', 'v', NULL, ?, 'dense', 'hd', 'gray', '[]', 'now')", (str(root),))
    for src, name, status, lab in ((7, "road", "mapped", 0), (8, "sky", "mapped", 1), (9, "void", "ignore", None), (10, "odd", "unmapped", None)):
        db.execute("INSERT INTO dataset_classes VALUES ('grayds', ?, ?, ?, ?)", (src, name, status, lab))
    for i in range(per_dataset):
        (root / "img").mkdir(parents=True, exist_ok=True)
        (root / "ann").mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(root / "img" / f"{i}.png")
        mask = np.full((h, w), 7, np.uint8)
        mask[: h // 2] = 8
        mask[:, :4] = 9
        mask[-3:, -3:] = 10
        Image.fromarray(mask).save(root / "ann" / f"{i}.png")
        db.execute("INSERT INTO images VALUES (?, 'grayds', 'train', ?, ?, ?, ?)", (image_id, f"img/{i}.png", f"ann/{i}.png", w, h))
        image_id += 1
    # panoptic: segment ids 1..3 → categories 20 (tree), 21 (car), 22 (person)
    root = dir_ / "panods"
    db.execute("INSERT INTO datasets VALUES ('panods', 'f', 'v', NULL, ?, 'dense', 'ld', 'panoptic-rgb', '[]', 'now')", (str(root),))
    for src, lab in ((20, 2), (21, 3), (22, 4)):
        db.execute("INSERT INTO dataset_classes VALUES ('panods', ?, ?, 'mapped', ?)", (src, LABELS[lab], lab))
    for i in range(per_dataset):
        (root / "img").mkdir(parents=True, exist_ok=True)
        (root / "ann").mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(root / "img" / f"{i}.jpg", quality=95)
        seg = np.zeros((h, w, 3), np.uint8)
        seg[:, : w // 3, 0] = 1
        seg[:, w // 3: 2 * w // 3, 0] = 2
        seg[:, 2 * w // 3:, 1] = 1  # segment id 256
        Image.fromarray(seg).save(root / "ann" / f"{i}.png")
        db.execute("INSERT INTO images VALUES (?, 'panods', 'train', ?, ?, ?, ?)", (image_id, f"img/{i}.jpg", f"ann/{i}.png", w, h))
        for seg_id, cat in ((1, 20), (2, 21), (256, 22)):
            db.execute("INSERT INTO segments VALUES (?, ?, ?)", (image_id, seg_id, cat))
        image_id += 1
    db.commit()
    db.close()
    return file


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Path]:
    d = tmp_path_factory.mktemp("world")
    manifest = write_manifest(d)
    bank = d / "label-bank.sqlite"
    write_bank(bank, LABELS, 16)
    return {"dir": d, "manifest": manifest, "bank": bank}
