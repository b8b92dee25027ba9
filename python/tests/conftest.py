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
    m = re.search(rf"(?:export )?const {const} = `(.*?)`;", text, re.S)
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


def add_box_dataset(dir_: Path, manifest: Path, images: int = 4, size=(48, 40)) -> str:
    """A box-only dataset (Objects365-style: images and boxes in image pixels, L_WD), two boxes an image
    (source 6 → car, 1 → person), one with fractional coordinates."""
    db = sqlite3.connect(manifest)
    root = dir_ / "boxds"
    (root / "images").mkdir(parents=True, exist_ok=True)
    db.execute("INSERT INTO datasets VALUES ('boxds', 'objects365', 'v2', NULL, ?, 'boxes', 'wd', 'none', '[]', 'now')", (str(root),))
    for src, name, lab in ((6, "Car", 3), (1, "Person", 4)):
        db.execute("INSERT INTO dataset_classes VALUES ('boxds', ?, ?, 'mapped', ?)", (src, name, lab))
    rng = np.random.default_rng(5)
    w, h = size
    next_id = int(db.execute("SELECT MAX(id) FROM images").fetchone()[0]) + 1
    for i in range(images):
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(root / "images" / f"{i}.jpg", quality=95)
        db.execute("INSERT INTO images VALUES (?, 'boxds', 'train', ?, NULL, ?, ?)", (next_id, f"images/{i}.jpg", w, h))
        db.execute("INSERT INTO boxes (image_id, source_id, x, y, w, h) VALUES (?, 6, ?, 2.25, 20, 15.75)", (next_id, 3.5 + i))
        db.execute("INSERT INTO boxes (image_id, source_id, x, y, w, h) VALUES (?, 1, 10, 12, 30, 24)", (next_id,))
        next_id += 1
    db.commit()
    db.close()
    return "boxds"


def write_box_cache(file: Path, manifest: Path, model_id: str, dim: int, seed: int = 9) -> int:
    """The TypeScript trainer's box-embedding cache (clip-boxes.ts schema) with a unit vector for every box."""
    from sentseg_torch.boxes import box_key
    from sentseg_torch.sqlite_files import Manifest

    db = sqlite3.connect(file)
    db.executescript(schema_sql("packages/trainer/src/boxes/clip-boxes.ts", "BOX_CACHE_SQL"))
    db.execute("INSERT INTO meta VALUES ('schema_version', '1'), ('created_at', 'now')")
    rng = np.random.default_rng(seed)
    m = Manifest(str(manifest))
    count = 0
    try:
        roots = {d.name: d.root for d in m.datasets()}
        for d in m.datasets():
            if d.annotation != "boxes":
                continue
            for image_id in m.image_ids(d.name, "train"):
                sample = m.sample(image_id)
                for box in m.boxes(image_id):
                    v = rng.normal(0, 1, dim).astype(np.float32)
                    v /= np.linalg.norm(v)
                    db.execute("INSERT INTO box_embeddings VALUES (?, ?, ?, ?)", (model_id, box_key(d.name, sample.image, roots[d.name], box), dim, v.tobytes()))
                    count += 1
    finally:
        m.close()
    db.commit()
    db.close()
    return count


@pytest.fixture(scope="session")
def box_world(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Path]:
    """The two dense datasets plus a box-only one (L_WD); no box-embedding cache yet."""
    d = tmp_path_factory.mktemp("box-world")
    manifest = write_manifest(d)
    add_box_dataset(d, manifest)
    bank = d / "label-bank.sqlite"
    write_bank(bank, LABELS, 16)
    return {"dir": d, "manifest": manifest, "bank": bank}
