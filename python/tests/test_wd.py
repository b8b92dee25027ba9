"""L_WD in the bridge: its targets come from the TypeScript trainer's box-embedding cache; without
it the bridge names the command that builds it (exit 2, one line, no run folder); with it, box
datasets train with L_WD, N processes step as one (the box count is the global batch's)."""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Dict

import numpy as np
import pytest
import torch.multiprocessing as mp

from conftest import write_box_cache
from sentseg_torch.boxes import box_key
from sentseg_torch.checkpoint import load_checkpoint
from sentseg_torch.config import resolve_config
from sentseg_torch.model import initial_weights
from sentseg_torch.sqlite_files import Manifest
from sentseg_torch.train import _spawned, main, run_rank

PY = Path(__file__).resolve().parent.parent
MODEL = "local:tiny-clip-vision@0123456789abcdef"


def args(w: Dict[str, Path], run: Path, steps: int = 2) -> list:
    return ["--manifest", str(w["manifest"]), "--label-bank", str(w["bank"]), "--out", str(run), "--steps", str(steps),
            "--set", "data.batchSize=3", "--set", "data.shortEdge=64", "--set", "data.crop=64", "--set", f"boxCache={w['dir'] / 'boxes.sqlite'}"]


@pytest.fixture(scope="module")
def cached(box_world: Dict[str, Path]) -> Dict[str, Path]:
    cache = box_world["dir"] / "boxes.sqlite"
    if not cache.exists():
        write_box_cache(cache, box_world["manifest"], MODEL, 12)
    return box_world


def test_box_keys_are_the_typescript_ones(box_world: Dict[str, Path]) -> None:
    m = Manifest(str(box_world["manifest"]))
    try:
        image_id = m.image_ids("boxds", "train")[0]
        keys = [box_key("boxds", m.sample(image_id).image, str(box_world["dir"] / "boxds"), b) for b in m.boxes(image_id)]
    finally:
        m.close()
    assert keys == ["boxds/images/0.jpg#3.5,2.25,20,15.75", "boxds/images/0.jpg#10,12,30,24"]


def test_without_the_cache_the_bridge_names_the_command_that_builds_it(box_world: Dict[str, Path], tmp_path: Path) -> None:
    run = tmp_path / "run"
    a = ["--manifest", str(box_world["manifest"]), "--label-bank", str(box_world["bank"]), "--out", str(run), "--set", "clipVision=" + str(tmp_path / "nowhere")]
    r = subprocess.run([sys.executable, "-m", "sentseg_torch.train", *a, "--set", f"boxCache={tmp_path / 'none.sqlite'}"], cwd=PY, capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1, r.stderr
    cache = tmp_path / "none.sqlite"
    assert f"{cache} does not exist: build it with `npx sentseg-model box-embeddings --manifest {box_world['manifest']} --clip-vision {tmp_path / 'nowhere'} --set boxCache={cache}`" in r.stderr
    assert not run.exists() and not cache.exists()
    # The default cache lies beside the manifest; without clipVision the command says where the tower goes.
    r = subprocess.run([sys.executable, "-m", "sentseg_torch.train", "--manifest", str(box_world["manifest"]), "--label-bank", str(box_world["bank"]), "--out", str(run)], cwd=PY, capture_output=True, text=True)
    assert r.returncode == 2
    assert f"{box_world['manifest']}.box-embeddings.sqlite does not exist: build it with `npx sentseg-model box-embeddings --manifest {box_world['manifest']} --clip-vision CLIP_VISION_FOLDER`" in r.stderr


def test_a_cache_lacking_boxes_or_of_another_tower_is_refused(box_world: Dict[str, Path], tmp_path: Path) -> None:
    cache = tmp_path / "partial.sqlite"
    write_box_cache(cache, box_world["manifest"], MODEL, 12)
    db = sqlite3.connect(cache)
    db.execute("DELETE FROM box_embeddings WHERE rowid IN (SELECT rowid FROM box_embeddings LIMIT 3)")
    db.commit()
    db.close()
    base = ["--manifest", str(box_world["manifest"]), "--label-bank", str(box_world["bank"]), "--set", f"boxCache={cache}"]
    assert main(base + ["--out", str(tmp_path / "a")]) == 2
    assert not (tmp_path / "a").exists()
    r = subprocess.run([sys.executable, "-m", "sentseg_torch.train", *base, "--out", str(tmp_path / "a")], cwd=PY, capture_output=True, text=True)
    assert "lacks 3 box(es) of 2 image(s)" in r.stderr and f"for {MODEL}: add them with `npx sentseg-model box-embeddings" in r.stderr
    vision = tmp_path / "other-tower"
    (vision / "onnx").mkdir(parents=True)
    (vision / "onnx" / "vision_model.onnx").write_bytes(b"not the tower the cache was built with")
    r = subprocess.run([sys.executable, "-m", "sentseg_torch.train", *base, "--out", str(tmp_path / "a"), "--set", f"clipVision={vision}"], cwd=PY, capture_output=True, text=True)
    assert r.returncode == 2
    assert f"has none of clipVision {vision} (it holds embeddings of {MODEL})" in r.stderr


def test_trains_box_datasets_with_l_wd(cached: Dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    assert main(args(cached, run, 3)) == 0
    metrics = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics] == [1, 2, 3]
    assert all(m["wd"] is not None and 0 < m["wd"] <= 2 * np.sqrt(12) for m in metrics)
    assert all(abs(m["loss"] - (m["hd"] or 0) - (m["ld"] or 0) - m["wd"]) < 1e-5 for m in metrics)
    assert sum(m["wdBoxes"] for m in metrics) > 0
    out = capsys.readouterr().out
    assert f"L_WD boxes: {sum(m['wdBoxes'] for m in metrics)} used, {sum(m['wdBoxesCut'] for m in metrics)} left out" in out
    model = json.loads((run / "checkpoints" / "step-000003" / "model.json").read_text())
    assert model["modelTopology"]["config"]["boxProjectionDim"] == 12
    assert {"wd/w", "wd/b"} <= {w["name"] for w in model["weightsManifest"][0]["weights"]}
    assert main(["--resume", str(run), "--steps", "4"]) == 0  # the projection resumes too


def test_two_processes_take_the_same_l_wd_steps_as_one(cached: Dict[str, Path], tmp_path: Path) -> None:
    """The L_WD images of a step may all fall on one rank: the projection still steps as one process's."""
    import torch

    config = resolve_config([{
        "manifest": str(cached["manifest"]), "labelBank": str(cached["bank"]), "steps": 3, "checkpointEvery": 100,
        "boxCache": str(cached["dir"] / "boxes.sqlite"), "data": {"batchSize": 3, "shortEdge": 64, "crop": 64},
        "optimizer": {"lr": 0.001},
    }], ["test"])
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    run_rank(0, 1, config, str(one), False, "cpu", str(one / "dump"), torch.float64)
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    from test_ddp import free_port
    os.environ["MASTER_PORT"] = free_port()
    mp.spawn(_spawned, args=(2, config, str(two), False, "cpu", str(two / "dump"), torch.float64), nprocs=2, join=True)
    single = dict(np.load(one / "dump" / "rank-0.npz"))
    w0, w1 = dict(np.load(two / "dump" / "rank-0.npz")), dict(np.load(two / "dump" / "rank-1.npz"))
    assert all(np.array_equal(w0[n], w1[n]) for n in single)
    diff = {n: float(np.abs(w0[n] - single[n]).max()) for n in single}
    print(f"L_WD, adamw float64: largest |2 processes − 1 process| after 3 steps: {max(diff.values()):.2e} at {max(diff, key=diff.get)}")
    assert max(diff.values()) < 1e-10
    m1 = [json.loads(l) for l in (one / "metrics.jsonl").read_text().splitlines()]
    m2 = [json.loads(l) for l in (two / "metrics.jsonl").read_text().splitlines()]
    assert all(m["wd"] is not None for m in m1)
    for a, b in zip(m1, m2):
        assert a["wdBoxes"] == b["wdBoxes"] and abs(a["wd"] - b["wd"]) < 1e-10 and abs(a["loss"] - b["loss"]) < 1e-10
    init = initial_weights(load_checkpoint(str(one)).model_config, 1)
    assert float(np.abs(single["wd/w"] - init["wd/w"]).max()) > 1e-4  # the projection trained
