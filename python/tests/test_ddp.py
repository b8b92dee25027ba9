"""DistributedDataParallel on CPU (gloo): 2 processes end with identical weights, equal to one
process over the same global batch; the CLI writes a run folder and resumes it."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Dict

import numpy as np
import pytest
import torch.multiprocessing as mp

from sentseg_torch.checkpoint import load_checkpoint, load_weights
from sentseg_torch.config import resolve_config
from sentseg_torch.model import initial_weights
from sentseg_torch.train import _spawned, main, run_rank

PY = Path(__file__).resolve().parent.parent


def small_config(world: Dict[str, Path], steps: int = 3) -> Dict[str, object]:
    return resolve_config([{
        "manifest": str(world["manifest"]), "labelBank": str(world["bank"]), "steps": steps, "checkpointEvery": 100,
        "data": {"batchSize": 4, "shortEdge": 64, "crop": 64},
        "optimizer": {"lr": 0.001},
    }], ["test"])


def free_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return str(s.getsockname()[1])


@pytest.mark.parametrize("kind", ["sgd", "adamw"])
def test_two_gloo_processes_take_the_same_steps_as_one(world, tmp_path: Path, kind: str) -> None:
    config = small_config(world)
    config["optimizer"]["kind"] = kind  # type: ignore[index]
    config["optimizer"]["lr"] = 0.01 if kind == "sgd" else 0.001  # type: ignore[index]
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    run_rank(0, 1, config, str(one), False, "cpu", str(one / "dump"))
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = free_port()
    mp.spawn(_spawned, args=(2, config, str(two), False, "cpu", str(two / "dump")), nprocs=2, join=True)
    _, w0 = load_weights(str(two / "dump"), "rank-0")
    _, w1 = load_weights(str(two / "dump"), "rank-1")
    _, single = load_weights(str(one / "dump"), "rank-0")
    assert set(w0) == set(w1) == set(single)
    for name in single:
        assert np.array_equal(w0[name], w1[name]), f"{name} differs between ranks"
    worst = {n: float(np.abs(w0[n] - single[n]).max()) for n in single}
    print(f"{kind}: largest |2 processes − 1 process| after 3 steps: {max(worst.values()):.2e} at {max(worst, key=worst.get)}")
    if kind == "sgd":
        assert max(worst.values()) < 1e-5, sorted(worst.items(), key=lambda kv: -kv[1])[:5]
    # AdamW divides each gradient by its own running RMS: a weight whose gradient is float32
    # rounding noise (the attention key biases: exactly 0 in exact arithmetic) steps by up to lr
    # whatever the noise's size, so its value depends on the summation order; the weights are
    # compared through SGD above, AdamW through the losses of every step below.
    init = initial_weights(load_checkpoint(str(one)).model_config, 1)
    assert max(float(np.abs(single[n] - init[n]).max()) for n in single) > 1e-3  # it trained
    m1 = [json.loads(l) for l in (one / "metrics.jsonl").read_text().splitlines()]
    m2 = [json.loads(l) for l in (two / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in m2] == [1, 2, 3] and all(m["images"] == 4 for m in m2)
    assert m1[0]["loss"] != m1[2]["loss"]
    for a, b in zip(m1, m2):
        assert abs(a["loss"] - b["loss"]) < 1e-5 and abs(a["ld"] - b["ld"]) < 1e-5 and abs(a["hd"] - b["hd"]) < 1e-5


def test_cli_writes_the_run_folder_and_resumes(world, tmp_path: Path) -> None:
    run = tmp_path / "run"
    args = ["--manifest", str(world["manifest"]), "--label-bank", str(world["bank"]), "--set", "data.batchSize=2", "--set", "data.shortEdge=64", "--set", "data.crop=64", "--set", "checkpointEvery=2"]
    assert main(args + ["--out", str(run), "--steps", "3"]) == 0
    assert json.loads((run / "checkpoints" / "latest.json").read_text()) == {"step": 3, "dir": "step-000003"}
    config = json.loads((run / "config.json").read_text())
    assert config["manifest"] == str(world["manifest"]) and config["data"]["batchSize"] == 2
    assert main(args + ["--out", str(run), "--steps", "3"]) == 2  # holds a run: refused
    assert main(["--resume", str(run), "--steps", "5"]) == 0
    steps = [json.loads(l)["step"] for l in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5]
    assert load_checkpoint(str(run)).optimizer_step == 5


def test_usage_mistakes_exit_2_with_one_line(world, tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "sentseg_torch.train", "--manifest", str(world["bank"]), "--label-bank", str(world["bank"]), "--out", str(tmp_path / "x")], cwd=PY, capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "is a sentseg label bank (label-bank), not a sentseg manifest" in r.stderr
    assert not (tmp_path / "x").exists()


def test_runs_under_torchrun(world, tmp_path: Path) -> None:
    run = tmp_path / "torchrun"
    r = subprocess.run([
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        # Debian's torch 1.13 on Python 3.11 cannot parse the default "0" of --redirects and --tee
        # (IntFlag no longer lists its zero member): name a real setting.
        "--redirects", "1", "--tee", "1", "-m", "sentseg_torch.train",
        "--manifest", str(world["manifest"]), "--label-bank", str(world["bank"]), "--out", str(run), "--steps", "2",
        "--set", "data.batchSize=2", "--set", "data.shortEdge=64", "--set", "data.crop=64",
    ], cwd=PY, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "2 process(es) on cpu (gloo)" in r.stderr
    metrics = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines()]
    assert [(m["step"], m["images"], m["processes"]) for m in metrics] == [(1, 2, 2), (2, 2, 2)]


def test_an_unreadable_image_is_skipped_named_and_fails_the_run(world, tmp_path: Path) -> None:
    import shutil
    import sqlite3
    d = tmp_path / "w"
    shutil.copytree(world["dir"], d)
    db = sqlite3.connect(d / "manifest.sqlite")
    for name, root in db.execute("SELECT name, root FROM datasets").fetchall():
        db.execute("UPDATE datasets SET root = ? WHERE name = ?", (str(d / Path(root).name), name))
    db.commit()
    db.close()
    (d / "grayds" / "img" / "0.png").write_bytes(b"not a png")
    run = tmp_path / "run"
    r = subprocess.run([sys.executable, "-m", "sentseg_torch.train", "--manifest", str(d / "manifest.sqlite"), "--label-bank", str(world["bank"]), "--out", str(run), "--steps", "2",
                        "--set", "data.batchSize=8", "--set", "data.shortEdge=64", "--set", "data.crop=64"], cwd=PY, capture_output=True, text=True)
    assert "grayds image 1" in r.stderr and "0.png" in r.stderr
    assert r.returncode == 2
    assert "unreadable image(s) skipped (listed above)" in r.stderr
    metrics = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines()]
    assert [m["images"] + m["skipped"] for m in metrics] == [8, 8] and sum(m["skipped"] for m in metrics) >= 1
    assert (run / "checkpoints" / "latest.json").exists()
