"""Model shapes and names, losses against hand-computed values, optimizer and checkpoint round trip."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from sentseg_torch.checkpoint import load_checkpoint, load_weights, save_checkpoint, save_weights
from sentseg_torch.losses import loss_hd, loss_ld, loss_wd, low_loss_mask
from sentseg_torch.model import SegFormer, VARIANTS, parameter_specs, segformer_config
from sentseg_torch.optim import Optimizer, learning_rate


def test_embeddings_at_a_quarter_of_the_padded_input() -> None:
    model = SegFormer(segformer_config("tiny", 24), seed=1)
    out = model(torch.zeros(2, 70, 64, 3))
    assert tuple(out.shape) == (2, 24, 16, 24)  # 70 → padded 96 → 24; 64 → 16
    assert model.p("stage1/patch/w").shape == (7 * 7 * 3, 16)
    assert model.p("stage1/block0/ffn/dw/w").shape == (9, 64)
    assert math.isclose(float(torch.exp(model.p("log_tau"))), 0.07, rel_tol=1e-6)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_variant_declares_its_published_sizes(variant: str) -> None:
    specs = parameter_specs(segformer_config(variant, 512))
    names = [s[0] for s in specs]
    assert len(names) == len(set(names))
    depths = VARIANTS[variant]["depths"]
    assert sum(1 for n in names if n.endswith("/ln1/g")) == sum(depths)  # type: ignore[arg-type]


def test_hd_is_the_mean_over_valid_pixels() -> None:
    emb = torch.tensor([[[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]]])  # 1×1×3 pixels, D=2
    labels = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    target = torch.tensor([[[0, 0, 255]]])
    log_tau = torch.tensor(0.0)  # τ = 1
    # pixel 0: logits (1, 0) → −log(e/(e+1)); pixel 1: logits (0, 1) → −log(1/(1+e)); pixel 2 ignored.
    expected = (math.log(1 + math.exp(-1)) + math.log(1 + math.e)) / 2
    assert math.isclose(float(loss_hd(emb, labels, target, log_tau)), expected, rel_tol=1e-6)


def test_ld_drops_the_hardest_30_percent_and_divides_by_all_valid_pixels() -> None:
    losses = np.array([5, 1, 4, 2, 3, 0, 9, 9, 9, 9], dtype=np.float32)
    valid = np.array([1, 1, 1, 1, 1, 1, 1, 1, 1, 0], dtype=np.float32)
    keep = low_loss_mask(losses, valid, 1, 0.3)
    # 9 valid → drop ⌊2.7⌋ = 2: the two 9s at indices 6, 7 (ties: earlier first); 8 stays.
    assert keep.tolist() == [1, 1, 1, 1, 1, 1, 0, 0, 1, 0]
    emb = torch.tensor([[[[1.0, 0.0]] * 4]])
    labels = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    target = torch.tensor([[[0, 0, 1, 255]]])  # two easy pixels, one hard, one ignored
    easy, hard = math.log(1 + math.exp(-1)), math.log(1 + math.e)
    got = float(loss_ld(emb, labels, target, torch.tensor(0.0), 0.34))
    assert math.isclose(got, 2 * easy / 3, rel_tol=1e-6)  # ⌊0.34·3⌋ = 1 dropped (the hard one), M = 3
    assert not math.isclose(got, 2 * easy / 2, rel_tol=1e-3)


def test_wd_pools_boxes_with_partial_pixels() -> None:
    emb = torch.zeros(1, 2, 2, 2)
    emb[0, :, 0, 0] = 1.0  # left column → (1, 0)
    emb[0, :, 1, 1] = 1.0  # right column → (0, 1)
    eye = torch.eye(2)
    zero = torch.zeros(2)
    # box over the left column only, target (1, 0): distance 0
    assert float(loss_wd(emb, [(0, 0.0, 0.0, 1.0, 2.0)], torch.tensor([[1.0, 0.0]]), eye, zero)) < 1e-6
    # box over both columns, halves: pooled (0.5, 0.5) → normalised (√½, √½); target (1, 0)
    d = float(loss_wd(emb, [(0, 0.0, 0.0, 2.0, 2.0)], torch.tensor([[1.0, 0.0]]), eye, zero))
    assert math.isclose(d, (1 - math.sqrt(0.5)) + math.sqrt(0.5), rel_tol=1e-6)


def test_adamw_first_step_moves_each_weight_by_lr() -> None:
    p = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    p.grad = torch.tensor([0.5, -3.0])
    opt = Optimizer({"kind": "adamw", "weightDecay": 0.1, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8, "momentum": 0.9})
    opt.apply([("x/w", p)], 0.01, lambda n: True)
    # m̂/(√v̂+ε) = sign(g) on the first step; decay multiplies by 1 − lr·wd first.
    assert torch.allclose(p.detach(), torch.tensor([1.0 * 0.999 - 0.01, -2.0 * 0.999 + 0.01]), atol=1e-7)
    assert set(opt.state()) == {"x/w/m", "x/w/v"}


def test_poly_schedule_with_warmup() -> None:
    assert learning_rate(0, 1.0, 10, 1, 0, 1e-6) == 1.0
    assert math.isclose(learning_rate(5, 1.0, 10, 1, 0, 1e-6), 0.5)
    assert math.isclose(learning_rate(1, 1.0, 10, 1, 2, 0.0), 0.9 * 0.5)


def test_weights_file_and_checkpoint_round_trip(tmp_path: Path) -> None:
    tensors = {"a/w": np.arange(6, dtype=np.float32).reshape(2, 3), "log_tau": np.array(-2.5, np.float32)}
    save_weights(str(tmp_path), "model", tensors, {"x": 1})
    doc = json.loads((tmp_path / "model.json").read_text())
    assert doc["weightsManifest"][0]["weights"] == [{"name": "a/w", "shape": [2, 3], "dtype": "float32"}, {"name": "log_tau", "shape": [], "dtype": "float32"}]
    assert (tmp_path / "model.bin").stat().st_size == 7 * 4
    _, back = load_weights(str(tmp_path), "model")
    assert np.array_equal(back["a/w"], tensors["a/w"]) and float(back["log_tau"]) == -2.5
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    model = SegFormer(segformer_config("tiny", 8), seed=2)
    state = {"step": 4, "seed": 2, "labels": ["a"], "encoderId": "e", "labelText": "sentence", "embedDim": 8, "savedAt": "t"}
    for step in (2, 4):
        save_checkpoint(str(run), model.config, model.weights(), {"kind": "adamw"}, 3, {"x/m": np.ones(2, np.float32)}, {**state, "step": step}, keep=1)
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["latest.json", "step-000004"]
    ck = load_checkpoint(str(run))
    assert ck.state["step"] == 4 and ck.optimizer_step == 3 and ck.model_config["variant"] == "tiny"
    assert all(np.array_equal(ck.weights[k], v) for k, v in model.weights().items())
