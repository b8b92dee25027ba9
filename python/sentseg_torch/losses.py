"""L_HD, L_LD and L_WD (packages/trainer/src/losses/) in PyTorch. Each takes an optional
`denominator`: the count it averages over (valid pixels M for L_HD and L_LD, boxes P for L_WD).
One process leaves it None and gets exactly the TypeScript losses; under DDP each rank passes the
count of the whole global batch, so the ranks' summed gradients are those of the global batch."""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

IGNORE_INDEX = 255
LD_DROP_FRACTION = 0.3
LOSS_NAMES = ("hd", "ld", "wd")


def l2_normalize(x: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    return x / torch.sqrt(torch.clamp((x * x).sum(-1, keepdim=True), min=eps))


def cosine_logits(pixel_emb: torch.Tensor, label_emb: torch.Tensor, log_tau: torch.Tensor) -> torch.Tensor:
    """cos(e_j, V_i)/τ for every pixel j and label i: [P, K]."""
    dim = pixel_emb.shape[-1]
    if label_emb.shape[1] != dim:
        raise ValueError(f"pixel embeddings have {dim} dimensions, label embeddings {label_emb.shape[1]}")
    pixels = l2_normalize(pixel_emb.reshape(-1, dim))
    return torch.matmul(pixels, l2_normalize(label_emb).t()) / torch.exp(log_tau)


def pixel_losses(pixel_emb: torch.Tensor, label_emb: torch.Tensor, target: torch.Tensor, log_tau: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """−log softmax at the true label per pixel (0 where invalid) and the 0/1 valid mask, both [P]."""
    k = label_emb.shape[0]
    flat = target.reshape(-1).long()
    valid = ((flat < k) & (flat >= 0)).to(pixel_emb.dtype)
    safe = torch.where(valid > 0, flat, torch.zeros_like(flat))
    log_probs = torch.log_softmax(cosine_logits(pixel_emb, label_emb, log_tau), dim=1)
    picked = log_probs.gather(1, safe[:, None])[:, 0]
    return -picked * valid, valid


def _count(valid: torch.Tensor, denominator: Optional[float]) -> torch.Tensor:
    if denominator is not None:
        return torch.tensor(max(float(denominator), 1.0), dtype=valid.dtype, device=valid.device)
    return torch.clamp(valid.sum(), min=1.0)


def loss_hd(pixel_emb: torch.Tensor, label_emb: torch.Tensor, target: torch.Tensor, log_tau: torch.Tensor, denominator: Optional[float] = None) -> torch.Tensor:
    """L_HD: the mean over valid pixels of −log l_j."""
    losses, valid = pixel_losses(pixel_emb, label_emb, target, log_tau)
    return losses.sum() / _count(valid, denominator)


def low_loss_mask(losses: np.ndarray, valid: np.ndarray, images: int, fraction: float = LD_DROP_FRACTION) -> np.ndarray:
    """Per image, drops the ⌊fraction · valid⌋ valid pixels of largest loss (ties: earlier pixel kept first)."""
    keep = np.zeros(losses.shape[0], dtype=np.float32)
    per = losses.shape[0] // images
    for i in range(images):
        idx = np.flatnonzero(valid[i * per:(i + 1) * per] > 0) + i * per
        # Descending loss, then ascending pixel index: lexsort's last key is the primary one.
        order = idx[np.lexsort((idx, -losses[idx].astype(np.float64)))]
        drop = int(np.floor(fraction * idx.size))
        keep[order[drop:]] = 1
    return keep


def loss_ld(pixel_emb: torch.Tensor, label_emb: torch.Tensor, target: torch.Tensor, log_tau: torch.Tensor, drop_fraction: float = LD_DROP_FRACTION, denominator: Optional[float] = None) -> torch.Tensor:
    """L_LD (eq. 5): −(1/M) Σ w_j log l_j, each image's hardest valid pixels weighted 0, M the VALID pixels."""
    losses, valid = pixel_losses(pixel_emb, label_emb, target, log_tau)
    keep = low_loss_mask(losses.detach().cpu().numpy(), valid.detach().cpu().numpy(), target.shape[0], drop_fraction)
    return (losses * torch.from_numpy(keep).to(losses.device, losses.dtype)).sum() / _count(valid, denominator)


def roi_pool_weights(boxes: Sequence[Tuple[int, float, float, float, float]], n: int, h: int, w: int) -> np.ndarray:
    """wd.ts roiPoolWeights: per box, each map pixel's overlap area over the box area. boxes: (image, x0, y0, x1, y1)."""
    weights = np.zeros((len(boxes), n * h * w), dtype=np.float32)
    for r, (image, bx0, by0, bx1, by1) in enumerate(boxes):
        x0, y0, x1, y1 = max(0.0, bx0), max(0.0, by0), min(float(w), bx1), min(float(h), by1)
        if x1 <= x0 or y1 <= y0:
            continue
        area = (x1 - x0) * (y1 - y0)
        base = image * h * w
        for y in range(int(np.floor(y0)), int(np.ceil(y1))):
            dy = min(y + 1, y1) - max(y, y0)
            for x in range(int(np.floor(x0)), int(np.ceil(x1))):
                dx = min(x + 1, x1) - max(x, x0)
                weights[r, base + y * w + x] = (dx * dy) / area
    return weights


def loss_wd(pixel_emb: torch.Tensor, boxes: Sequence[Tuple[int, float, float, float, float]], clip_box_emb: torch.Tensor, w: torch.Tensor, b: torch.Tensor, denominator: Optional[float] = None) -> torch.Tensor:
    """L_WD = (1/P) Σ_r ‖v*_r − v_r‖₁ of L2-normalised RoI-pooled 1×1-projected embeddings and CLIP box embeddings."""
    if len(boxes) == 0:
        return pixel_emb.sum() * 0
    if clip_box_emb.shape[0] != len(boxes):
        raise ValueError(f"{len(boxes)} boxes but {clip_box_emb.shape[0]} CLIP box embeddings")
    n, h, wd, _ = pixel_emb.shape
    projected = torch.matmul(pixel_emb, w) + b
    pool = torch.from_numpy(roi_pool_weights(boxes, n, h, wd)).to(pixel_emb.device, pixel_emb.dtype)
    pooled = torch.matmul(pool, projected.reshape(n * h * wd, -1))
    distance = (l2_normalize(clip_box_emb) - l2_normalize(pooled)).abs().sum(1)
    count = float(len(boxes)) if denominator is None else max(float(denominator), 1.0)
    return distance.sum() / count


LOSSES_FOR = {"dense": ("hd", "ld"), "instance-masks": ("ld", "hd"), "boxes": ("wd",)}
