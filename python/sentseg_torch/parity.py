"""Writes what the TypeScript parity tests compare against (tests/torch-bridge.test.ts):

  python3 -m sentseg_torch.parity model --variant tiny --seed 3 --embed-dim 32 --size 64 --out DIR
      DIR/model.{json,bin}: the model's weights as a checkpoint holds them (initial weights of the
      seed, then perturbed so that no weight is left at its constant initial value);
      DIR/init.{json,bin}: the unperturbed initial weights; DIR/io.{json,bin}: an input batch and
      the PyTorch pixel embeddings.
  python3 -m sentseg_torch.parity losses --out DIR
      DIR/losses.{json,bin}: a batch of embeddings, targets, label embeddings, log τ, boxes and CLIP
      box embeddings, and the PyTorch L_HD, L_LD, L_WD of it.
  python3 -m sentseg_torch.parity wd-steps --out DIR -- TRAIN_ARGS
      runs `python3 -m sentseg_torch.train TRAIN_ARGS` in this process (one process) and writes,
      for every step that took L_WD, DIR/wd-step-N.{json,bin}: the embeddings of the L_WD images,
      their boxes on the map, the CLIP targets, the 1×1 projection and the L_WD the bridge computed;
      DIR/wd-steps.json: each step's L_WD images (dataset, image id, slot) and box ids.
"""
from __future__ import annotations

import argparse
import os
from typing import List, Optional

import numpy as np
import torch

from .checkpoint import save_weights
from .losses import loss_hd, loss_ld, loss_wd
from .model import SegFormer, initial_weights, segformer_config


def write_model(variant: str, seed: int, embed_dim: int, size: int, out: str) -> None:
    os.makedirs(out, exist_ok=True)
    config = segformer_config(variant, embed_dim)
    init = initial_weights(config, seed)
    save_weights(out, "init", init, {"architecture": "segformer", "config": config})
    rng = np.random.default_rng(seed)
    weights = {k: (v + rng.normal(0, 0.05, v.shape)).astype(np.float32) for k, v in init.items()}
    model = SegFormer(config, weights=weights)
    save_weights(out, "model", weights, {"architecture": "segformer", "config": config})
    images = rng.normal(0, 1, (2, size, size - 8, 3)).astype(np.float32)  # width not a multiple of 32: padded
    with torch.no_grad():
        emb = model(torch.from_numpy(images)).numpy()
    save_weights(out, "io", {"images": images, "embeddings": emb}, {"variant": variant})


def write_losses(out: str, seed: int = 5) -> None:
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(seed)
    n, h, w, d, k, dclip = 3, 8, 8, 16, 6, 12
    emb = rng.normal(0, 1, (n, h, w, d)).astype(np.float32)
    label_emb = rng.normal(0, 1, (k, d)).astype(np.float32)
    target = rng.integers(0, k, (n, h, w)).astype(np.int64)
    target[rng.random((n, h, w)) < 0.2] = 255
    target[0, 0, :3] = k + 2  # outside the label set: ignored too
    log_tau = np.array(np.log(0.07), dtype=np.float32)
    boxes = np.array([[0, 0.5, 1.25, 5.5, 6.0], [2, 2.0, 0.0, 8.0, 3.5], [1, 3.3, 3.3, 4.1, 7.9]], dtype=np.float32)
    clip = rng.normal(0, 1, (3, dclip)).astype(np.float32)
    wd_w = rng.normal(0, 0.2, (d, dclip)).astype(np.float32)
    wd_b = rng.normal(0, 0.2, (dclip,)).astype(np.float32)
    te, tl, tt, tau = torch.from_numpy(emb), torch.from_numpy(label_emb), torch.from_numpy(target), torch.from_numpy(log_tau)
    hd = loss_hd(te, tl, tt, tau)
    ld = loss_ld(te, tl, tt, tau, 0.3)
    box_list = [(int(b[0]), float(b[1]), float(b[2]), float(b[3]), float(b[4])) for b in boxes]
    wd = loss_wd(te, box_list, torch.from_numpy(clip), torch.from_numpy(wd_w), torch.from_numpy(wd_b))
    save_weights(out, "losses", {
        "emb": emb, "labelEmb": label_emb, "target": target.astype(np.float32), "logTau": log_tau, "boxes": boxes,
        "clip": clip, "wdW": wd_w, "wdB": wd_b,
        "hd": np.array(float(hd), np.float32), "ld": np.array(float(ld), np.float32), "wd": np.array(float(wd), np.float32),
    }, {"what": "loss parity"})


def write_data(out: str) -> None:
    """Augmentation plans, colour/noise of a fixed crop, and sampler batches, as JSON (data.json)."""
    import json

    from dataclasses import asdict

    from .data import AugmentConfig, BalancedSampler, colour_and_normalise, image_seed, plan_augment

    os.makedirs(out, exist_ok=True)
    cfg = AugmentConfig(short_edge=512, crop=256, flip=True, color_jitter=0.2, blur_probability=0.5, noise_std=3)
    plans = [asdict(plan_augment(1000 + 37 * s, 700 - 11 * s, cfg, image_seed(7, s, s % 3))) for s in range(20)]
    size = 16
    rgb = ((np.arange(size * size * 3).reshape(size, size, 3) * 37) % 256).astype(np.uint8)
    valid = np.ones((size, size), dtype=bool)
    valid[-3:, :] = False
    plan = plan_augment(640, 480, cfg, 99)
    pixels = colour_and_normalise(rgb, valid, plan, 3.0)
    sampler = BalancedSampler([("a", list(range(10, 17))), ("b", list(range(100, 103))), ("c", [500, 501])], 5, 11)
    batches = [[(i.dataset, i.image_id, i.slot) for i in sampler.batch(t)] for t in range(9)]
    with open(os.path.join(out, "data.json"), "w", encoding="utf-8") as f:
        json.dump({"plans": plans, "pixels": pixels.reshape(-1).tolist(), "batches": batches}, f)


def write_wd_steps(out: str, train_args: List[str]) -> int:
    """Trains with the bridge and records what each step's L_WD was computed from."""
    import json

    from . import train as T
    from .losses import LOSS_NAMES

    os.makedirs(out, exist_ok=True)
    current: dict = {}
    steps: list = []
    step_fn, wd_fn = T.Trainer.step, T.loss_wd

    def step(self: T.Trainer, step: int, images: list, failures: int) -> dict:
        order = {name: i for i, name in enumerate(LOSS_NAMES)}
        wd = [im for im in sorted(images, key=lambda im: order[self.loss_of[im.dataset]]) if self.loss_of[im.dataset] == "wd"]
        vectors = self.box_targets.vectors if self.box_targets else {}
        current.clear()
        current.update(step=step + 1, images=[[im.dataset, im.image_id, im.slot] for im in wd], boxIds=[b[0] for im in wd for b in im.boxes if b[0] in vectors])
        return step_fn(self, step, images, failures)

    def loss_wd(e: torch.Tensor, boxes: list, clip: torch.Tensor, w: torch.Tensor, b: torch.Tensor, denominator: Optional[float] = None) -> torch.Tensor:
        value = wd_fn(e, boxes, clip, w, b, denominator)
        n = current["step"]
        save_weights(out, f"wd-step-{n}", {
            "emb": e.detach().cpu().numpy(), "boxes": np.array(boxes, dtype=np.float32).reshape(-1, 5), "clip": clip.detach().cpu().numpy(),
            "wdW": w.detach().cpu().numpy(), "wdB": b.detach().cpu().numpy(), "wd": np.array(float(value.detach()), np.float32),
        }, {"what": "L_WD of one training step"})
        steps.append(dict(current))
        return value

    T.Trainer.step, T.loss_wd = step, loss_wd  # type: ignore[method-assign, assignment]
    try:
        code = T.main(train_args + ["--nproc", "1"])
    finally:
        T.Trainer.step, T.loss_wd = step_fn, wd_fn  # type: ignore[method-assign]
    with open(os.path.join(out, "wd-steps.json"), "w", encoding="utf-8") as f:
        json.dump(steps, f)
    return code


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python3 -m sentseg_torch.parity")
    sub = p.add_subparsers(dest="what", required=True)
    m = sub.add_parser("model")
    m.add_argument("--variant", default="tiny")
    m.add_argument("--seed", type=int, default=3)
    m.add_argument("--embed-dim", type=int, default=32)
    m.add_argument("--size", type=int, default=64)
    m.add_argument("--out", required=True)
    da = sub.add_parser("data")
    da.add_argument("--out", required=True)
    lo = sub.add_parser("losses")
    lo.add_argument("--out", required=True)
    ws = sub.add_parser("wd-steps")
    ws.add_argument("--out", required=True)
    ws.add_argument("train_args", nargs=argparse.REMAINDER)
    a = p.parse_args(argv)
    if a.what == "model":
        write_model(a.variant, a.seed, a.embed_dim, a.size, a.out)
    elif a.what == "data":
        write_data(a.out)
    elif a.what == "wd-steps":
        return write_wd_steps(a.out, [x for x in a.train_args if x != "--"])
    else:
        write_losses(a.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
