"""Readers, lookup-table remap, augmentation geometry, balanced sampling and sharding."""
from __future__ import annotations

import shutil
import sqlite3
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from sentseg_torch.data import AugmentConfig, AugmentPlan, BalancedSampler, DatasetSpec, crop_labels, load_sample, shard
from sentseg_torch.errors import BridgeError
from sentseg_torch.rng import seeded_random, seeded_random_array
from sentseg_torch.sqlite_files import LabelBank, Manifest, read_label_embeddings


def test_vectorised_generator_draws_the_same_sequence() -> None:
    one = seeded_random(12345)
    seq = [one() for _ in range(50)]
    assert np.array_equal(seeded_random_array(12345, 50), np.array(seq))
    assert np.array_equal(seeded_random_array(12345, 10, skip=40), np.array(seq[40:]))


def test_reads_datasets_labels_and_lookup_table(world) -> None:
    m = Manifest(str(world["manifest"]))
    try:
        assert [d.name for d in m.datasets()] == ["grayds", "panods"]
        assert [d.loss for d in m.datasets()] == ["hd", "ld"]
        lut = m.lut("grayds")
        assert (lut[7], lut[8], lut[9], lut[10], lut[200]) == (0, 1, 255, 255, 255)
        assert len(m.image_ids("grayds", "train")) == 4
    finally:
        m.close()


def test_refuses_other_kinds_and_schemas_naming_the_file(world, tmp_path: Path) -> None:
    with pytest.raises(BridgeError, match=r"label-bank\.sqlite is a sentseg label bank \(label-bank\), not a sentseg manifest"):
        Manifest(str(world["bank"]))
    with pytest.raises(BridgeError, match="manifest.sqlite is a sentseg manifest"):
        LabelBank(str(world["manifest"]))
    newer = tmp_path / "newer.sqlite"
    shutil.copy(world["manifest"], newer)
    db = sqlite3.connect(newer)
    db.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    db.commit()
    db.close()
    before = newer.read_bytes()
    with pytest.raises(BridgeError, match=r"newer\.sqlite has schema 2; sentseg-torch reads schema 1"):
        Manifest(str(newer))
    assert newer.read_bytes() == before


def test_reading_a_wal_manifest_leaves_no_wal_or_shm_file_beside_it(world, tmp_path: Path) -> None:
    """merge-datasets writes manifests in WAL mode; the bridge only reads them, and leaves nothing beside them."""
    wal = tmp_path / "wal.sqlite"
    shutil.copy(world["manifest"], wal)
    db = sqlite3.connect(wal)
    assert db.execute("PRAGMA journal_mode = WAL").fetchone()[0] == "wal"
    db.close()
    before = wal.read_bytes()
    m = Manifest(str(wal))
    assert [d.name for d in m.datasets()] == ["grayds", "panods"]
    m.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["wal.sqlite"]
    assert wal.read_bytes() == before


def test_label_embeddings_follow_the_manifest_label_order(world) -> None:
    m = Manifest(str(world["manifest"]))
    try:
        emb = read_label_embeddings(str(world["bank"]), m, "sentence", None)
    finally:
        m.close()
    assert emb.names == ["road", "sky", "tree", "car", "person"]
    assert emb.data.shape == (5, 16)
    assert np.allclose(np.linalg.norm(emb.data, axis=1), 1, atol=1e-6)


def test_masks_remap_through_the_table_and_flip_with_the_image(world) -> None:
    m = Manifest(str(world["manifest"]))
    try:
        ds = DatasetSpec("grayds", "dense", "gray", m.lut("grayds"))
        cfg = AugmentConfig(short_edge=40, crop=64, flip=False, color_jitter=0, blur_probability=0, noise_std=0)
        img = load_sample(m, ds, m.image_ids("grayds", "train")[0], 0, cfg, seed=3)
        # 48×40 at short edge 40 stays 48×40; the 64² crop pads with ignore.
        t = img.target
        assert t[0, 10] == 1 and t[30, 10] == 0  # sky on top, road below
        assert t[5, 0] == 255  # source 9: ignore
        assert t[39, 47] == 255  # source 10: unmapped
        assert (t[40:] == 255).all() and (t[:, 48:] == 255).all()
        assert np.all(img.pixels[40:] == 0)
        pano = DatasetSpec("panods", "dense", "panoptic-rgb", m.lut("panods"))
        p = load_sample(m, pano, m.image_ids("panods", "train")[0], 1, cfg, seed=3).target
        assert (p[0, 0], p[0, 20], p[0, 40]) == (2, 3, 4)
    finally:
        m.close()


def test_a_manifest_of_more_than_255_labels_has_a_label_255(world, tmp_path: Path) -> None:
    """ignoreIndexFor in dataset-tools: "no label" is 65,535 there, and label 255 trains like any other."""
    wide = tmp_path / "wide.sqlite"
    shutil.copy(world["manifest"], wide)
    db = sqlite3.connect(wide)
    db.executemany("INSERT INTO labels VALUES (?, ?, 'added')", [(i, f"extra {i}") for i in range(5, 305)])
    # grayds' source 9 (ignored so far) becomes label 255.
    db.execute("UPDATE dataset_classes SET status = 'mapped', label_id = 255 WHERE dataset = 'grayds' AND source_id = 9")
    db.commit()
    db.close()
    m = Manifest(str(wide))
    try:
        assert m.ignore_index() == 65535
        lut = m.lut("grayds")
        assert (lut[7], lut[9], lut[10]) == (0, 255, 65535)
        ds = DatasetSpec("grayds", "dense", "gray", lut, m.ignore_index())
        cfg = AugmentConfig(short_edge=40, crop=64, flip=False, color_jitter=0, blur_probability=0, noise_std=0)
        t = load_sample(m, ds, m.image_ids("grayds", "train")[0], 0, cfg, seed=3).target
        assert t[5, 0] == 255  # source 9: label 255, no longer ignored
        assert t[39, 47] == 65535  # source 10: unmapped
        assert (t[40:] == 65535).all()
    finally:
        m.close()


def test_crop_labels_flips_and_pads() -> None:
    labels = np.arange(6, dtype=np.int32).reshape(2, 3)
    plan = AugmentPlan(3, 2, 0, 0, True, 1, 1, 1, 0, 0)
    out = crop_labels(labels, 3, 2, plan, 4, 255)
    assert out.tolist() == [[255, 2, 1, 0], [255, 5, 4, 3], [255] * 4, [255] * 4]


def test_balanced_batches_and_shards() -> None:
    s = BalancedSampler([("a", list(range(10))), ("b", list(range(100, 103)))], 5, seed=4)
    seen_b = Counter()
    for step in range(6):
        batch = s.batch(step)
        per = Counter(i.dataset for i in batch)
        assert sorted(per.values()) == [2, 3]  # ⌊5/2⌋ each, the extra rotating
        assert [i.slot for i in batch] == list(range(5))
        seen_b.update(i.image_id for i in batch if i.dataset == "b")
        parts = [shard(batch, r, 2) for r in range(2)]
        assert sorted(i.slot for p in parts for i in p) == list(range(5))
    assert set(seen_b) == {100, 101, 102}  # each epoch is a permutation
    assert s.batch(3) == BalancedSampler([("a", list(range(10))), ("b", list(range(100, 103)))], 5, seed=4).batch(3)
