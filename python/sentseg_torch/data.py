"""Training samples as the TypeScript trainer makes them (packages/trainer/src/data/): the augmentation
plan from the same seeded generator (short edge, crop, flip, colour jitter, blur, noise), the mask
values remapped through the dataset's lookup table, dataset-balanced batches (the same batch for the
same seed and step), each step's global batch sharded across ranks."""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image, ImageFilter

from .rng import mix_seed, seeded_random, seeded_random_array
from .sqlite_files import IGNORE_INDEX, Box, Manifest

PIXEL_MEAN = np.array([123.675, 116.28, 103.53], dtype=np.float32)
PIXEL_STD = np.array([58.395, 57.12, 57.375], dtype=np.float32)
OUTPUT_STRIDE = 4


@dataclass
class AugmentConfig:
    short_edge: int
    crop: int
    flip: bool
    color_jitter: float
    blur_probability: float
    noise_std: float

    @staticmethod
    def from_config(data: Dict[str, object]) -> "AugmentConfig":
        return AugmentConfig(int(data["shortEdge"]), int(data["crop"]), bool(data["flip"]), float(data["colorJitter"]), float(data["blurProbability"]), float(data["noiseStd"]))  # type: ignore[arg-type]


@dataclass
class AugmentPlan:
    resized_width: int
    resized_height: int
    left: int
    top: int
    flip: bool
    brightness: float
    contrast: float
    saturation: float
    blur_sigma: float
    noise_seed: int


def _js_round(x: float) -> int:
    return int(math.floor(x + 0.5))


def plan_augment(width: int, height: int, config: AugmentConfig, seed: int) -> AugmentPlan:
    """augment.ts planAugment, draw for draw."""
    random = seeded_random(seed)
    scale = config.short_edge / min(width, height)
    rw = max(1, _js_round(width * scale))
    rh = max(1, _js_round(height * scale))
    left = int(math.floor(random() * (max(0, rw - config.crop) + 1)))
    top = int(math.floor(random() * (max(0, rh - config.crop) + 1)))
    flip = config.flip and random() < 0.5
    jitter = lambda: 1 + (random() * 2 - 1) * config.color_jitter  # noqa: E731
    brightness = jitter()
    contrast = jitter()
    saturation = jitter()
    blur = 0.5 + random() if random() < config.blur_probability else 0.0
    noise_seed = int(math.floor(random() * 2**32))
    return AugmentPlan(rw, rh, left, top, flip, brightness, contrast, saturation, blur, noise_seed)


def _gaussians(seed: int, count: int) -> np.ndarray:
    """The first `count` draws of colourAndNormalise's Box–Muller generator (cos, then the spare sin)."""
    pairs = (count + 1) // 2
    draws = seeded_random_array(seed, 2 * pairs)
    u = np.maximum(draws[0::2], 1e-12)
    v = draws[1::2]
    r = np.sqrt(-2 * np.log(u))
    out = np.empty(2 * pairs, dtype=np.float64)
    out[0::2] = r * np.cos(2 * np.pi * v)
    out[1::2] = r * np.sin(2 * np.pi * v)
    return out[:count]


def colour_and_normalise(rgb: np.ndarray, valid: np.ndarray, plan: AugmentPlan, noise_std: float) -> np.ndarray:
    """rgb uint8 [crop, crop, 3], valid bool [crop, crop] → normalised float32 [crop, crop, 3] (padding 0)."""
    out = np.zeros(rgb.shape, dtype=np.float32)
    px = rgb[valid].astype(np.float64)
    if px.shape[0] == 0:
        return out
    gray_w = np.array([0.299, 0.587, 0.114])
    mean_gray = float((px @ gray_w).sum() / px.shape[0]) * plan.brightness
    c = px * plan.brightness
    gray = (c @ gray_w)[:, None]
    c = gray + (c - gray) * plan.saturation
    c = mean_gray + (c - mean_gray) * plan.contrast
    if noise_std > 0:
        c = c + _gaussians(plan.noise_seed, c.size).reshape(c.shape) * noise_std
    c = np.clip(c, 0, 255)
    out[valid] = ((c - PIXEL_MEAN.astype(np.float64)) / PIXEL_STD.astype(np.float64)).astype(np.float32)
    return out


def crop_labels(labels: np.ndarray, width: int, height: int, plan: AugmentPlan, crop: int, fill: int) -> np.ndarray:
    """Nearest-neighbour resize + crop + flip of a label map [height, width] to [crop, crop] (augment.ts cropLabels)."""
    out = np.full((crop, crop), fill, dtype=np.int32)
    sx = width / plan.resized_width
    sy = height / plan.resized_height
    ny = max(0, min(crop, plan.resized_height - plan.top))
    nx = max(0, min(crop, plan.resized_width - plan.left))
    if nx == 0 or ny == 0:
        return out
    ry = plan.top + np.arange(ny)
    rx = plan.left + np.arange(nx)
    src_y = np.minimum(height - 1, np.floor((ry + 0.5) * sy).astype(np.int64))
    src_x = np.minimum(width - 1, np.floor((rx + 0.5) * sx).astype(np.int64))
    block = labels[src_y[:, None], src_x[None, :]]
    xs = np.arange(nx)
    cols = crop - 1 - xs if plan.flip else xs
    out[:ny, cols] = block
    return out


def transform_box(box: Box, width: int, height: int, plan: AugmentPlan, crop: int, min_side: float = 2) -> Optional[Tuple[float, float, float, float, float]]:
    """augment.ts transformBox: (x0, y0, x1, y1) in crop pixels and the share of the box's area inside the crop."""
    sx = plan.resized_width / width
    sy = plan.resized_height / height
    full_x0, full_x1 = box.x * sx - plan.left, (box.x + box.w) * sx - plan.left
    full_y0, full_y1 = box.y * sy - plan.top, (box.y + box.h) * sy - plan.top
    x0 = max(0.0, full_x0)
    x1 = min(float(crop), full_x1)
    y0 = max(0.0, full_y0)
    y1 = min(float(crop), full_y1)
    if x1 - x0 < min_side or y1 - y0 < min_side:
        return None
    visible = ((x1 - x0) * (y1 - y0)) / ((full_x1 - full_x0) * (full_y1 - full_y0))
    return (crop - x1, y0, crop - x0, y1, visible) if plan.flip else (x0, y0, x1, y1, visible)


def _lookup(lut: np.ndarray, ids: np.ndarray, ignore: int = IGNORE_INDEX) -> np.ndarray:
    """Source ids → label ids; ids past the table are ignored (load-sample.ts lookup)."""
    ids = ids.astype(np.int64)
    inside = (ids >= 0) & (ids < lut.shape[0])
    return np.where(inside, lut[np.clip(ids, 0, lut.shape[0] - 1)], ignore).astype(np.int32)


def read_mask_values(file: str, encoding: str) -> np.ndarray:
    """A mask's values [h, w]: gray/palette values, or panoptic ids R + 256·G + 256²·B."""
    with Image.open(file) as im:
        if encoding == "panoptic-rgb":
            rgb = np.asarray(im.convert("RGB"), dtype=np.int64)
            return (rgb[..., 0] + 256 * rgb[..., 1] + 65536 * rgb[..., 2]).astype(np.int64)
        arr = np.asarray(im)
    if arr.ndim == 3:
        arr = arr[..., 0]
    return arr.astype(np.int64)


def dense_labels(values: np.ndarray, encoding: str, segments: Dict[int, int], lut: np.ndarray, ignore: int = IGNORE_INDEX) -> np.ndarray:
    """load-sample.ts denseLabels: gray values through the table; panoptic segments → category → table."""
    if encoding == "panoptic-rgb":
        flat = values.reshape(-1)
        uniq, inv = np.unique(flat, return_inverse=True)
        mapped = np.array([int(_lookup(lut, np.array([segments[int(u)]]), ignore)[0]) if int(u) in segments else ignore for u in uniq], dtype=np.int32)
        return mapped[inv].reshape(values.shape)
    return _lookup(lut, values, ignore)


@dataclass
class LoadedImage:
    dataset: str
    image_id: int
    slot: int
    #: [crop, crop, 3] float32, normalised.
    pixels: np.ndarray
    #: [crop, crop] int32 label ids; the dataset spec's `ignore` (255, or 65,535 past 255 labels) = no label.
    target: np.ndarray
    #: (box id, label id, x0, y0, x1, y1) in crop pixels.
    boxes: List[Tuple[int, int, float, float, float, float]] = field(default_factory=list)
    #: boxes left out because the crop showed less than min_box_visible of their area.
    boxes_cut: int = 0


@dataclass
class DatasetSpec:
    name: str
    annotation: str
    encoding: str
    lut: np.ndarray
    #: The manifest's ignore value (Manifest.ignore_index(); the lut's value for "no label").
    ignore: int = IGNORE_INDEX


def load_sample(manifest: Manifest, ds: DatasetSpec, image_id: int, slot: int, augment: AugmentConfig, seed: int, min_box_visible: float = 0.0) -> LoadedImage:
    """One training image as load-sample.ts makes it. Image resizing is Pillow's Lanczos (sharp's is
    Lanczos-3 too; pixels may differ by a grey level), blur Pillow's Gaussian."""
    sample = manifest.sample(image_id)
    if not os.path.exists(sample.image):
        raise FileNotFoundError(f"image missing: {sample.image}")
    with Image.open(sample.image) as im:
        im = im.convert("RGB")
        width, height = im.size
        plan = plan_augment(width, height, augment, seed)
        crop = augment.crop
        cw = min(crop, plan.resized_width - plan.left)
        ch = min(crop, plan.resized_height - plan.top)
        resized = im.resize((plan.resized_width, plan.resized_height), Image.LANCZOS).crop((plan.left, plan.top, plan.left + cw, plan.top + ch))
        if plan.blur_sigma >= 0.3:
            resized = resized.filter(ImageFilter.GaussianBlur(plan.blur_sigma))
        raw = np.asarray(resized, dtype=np.uint8)
    rgb = np.zeros((crop, crop, 3), dtype=np.uint8)
    valid = np.zeros((crop, crop), dtype=bool)
    cols = np.arange(cw)
    dst = crop - 1 - cols if plan.flip else cols
    rgb[:ch, dst] = raw[:, :cw]
    valid[:ch, dst] = True
    pixels = colour_and_normalise(rgb, valid, plan, augment.noise_std)

    target = np.full((crop, crop), ds.ignore, dtype=np.int32)
    if ds.annotation == "dense" and sample.mask is not None:
        values = read_mask_values(sample.mask, ds.encoding)
        if values.shape != (height, width):
            raise ValueError(f"mask {values.shape[1]}×{values.shape[0]} does not match image {width}×{height}: {sample.mask}")
        labels = dense_labels(values, ds.encoding, manifest.segments(image_id) if ds.encoding == "panoptic-rgb" else {}, ds.lut, ds.ignore)
        target = crop_labels(labels, width, height, plan, crop, ds.ignore)
    if ds.annotation == "instance-masks":
        for source_id, mask_file in manifest.instance_masks(image_id, ds.name):
            values = read_mask_values(mask_file, "gray")
            label = int(_lookup(ds.lut, np.array([source_id]), ds.ignore)[0])
            painted = np.where(values > 0, label, -1).astype(np.int32)
            cropped = crop_labels(painted, values.shape[1], values.shape[0], plan, crop, -1)
            target = np.where(cropped >= 0, cropped, target)
    boxes: List[Tuple[int, int, float, float, float, float]] = []
    cut = 0
    if ds.annotation == "boxes":
        for box in manifest.boxes(image_id):
            label_id = int(_lookup(ds.lut, np.array([box.source_id]), ds.ignore)[0])
            if label_id == ds.ignore:
                continue
            moved = transform_box(box, width, height, plan, crop)
            if moved is None:
                continue
            if moved[4] < min_box_visible:  # losses.wdMinVisible
                cut += 1
                continue
            boxes.append((box.box_id, label_id, moved[0], moved[1], moved[2], moved[3]))
    return LoadedImage(ds.name, image_id, slot, pixels, target, boxes, cut)


def downsample_target(target: np.ndarray, stride: int = OUTPUT_STRIDE) -> np.ndarray:
    """Each output-stride cell's centre label (train.ts downsampleTarget)."""
    off = stride // 2
    return target[off::stride, off::stride].copy()


@dataclass
class BatchItem:
    dataset: str
    image_id: int
    slot: int


class BalancedSampler:
    """data/sampler.ts: ⌊B/K⌋ images of each of K datasets per batch, the B mod K extras rotating;
    each dataset read in a fresh seeded permutation per epoch; batch(t) depends on (seed, t) only."""

    def __init__(self, datasets: Sequence[Tuple[str, List[int]]], batch_size: int, seed: int) -> None:
        if not datasets:
            raise ValueError("no datasets to sample from")
        empty = [n for n, ids in datasets if not ids]
        if empty:
            raise ValueError(f"no training images in dataset {', '.join(empty)}")
        self.datasets = list(datasets)
        self.batch_size = batch_size
        self.seed = seed
        self._perm: Dict[str, Tuple[int, List[int]]] = {}

    def share(self, d: int, step: int) -> int:
        k = len(self.datasets)
        extra = self.batch_size % k
        return self.batch_size // k + (1 if (d - (step % k) + k) % k < extra else 0)

    def consumed_before(self, d: int, step: int) -> int:
        k = len(self.datasets)
        extra = self.batch_size % k
        count = (self.batch_size // k) * step + (step // k) * extra
        for s in range((step // k) * k, step):
            if (d - (s % k) + k) % k < extra:
                count += 1
        return count

    def _order(self, d: int, epoch: int) -> List[int]:
        name, ids = self.datasets[d]
        cached = self._perm.get(name)
        if cached and cached[0] == epoch:
            return cached[1]
        order = list(ids)
        random = seeded_random(mix_seed(self.seed, d, epoch))
        for i in range(len(order) - 1, 0, -1):
            j = int(math.floor(random() * (i + 1)))
            order[i], order[j] = order[j], order[i]
        self._perm[name] = (epoch, order)
        return order

    def batch(self, step: int) -> List[BatchItem]:
        items: List[BatchItem] = []
        for d, (name, ids) in enumerate(self.datasets):
            start = self.consumed_before(d, step)
            for i in range(self.share(d, step)):
                index = start + i
                order = self._order(d, index // len(ids))
                items.append(BatchItem(name, order[index % len(ids)], len(items)))
        return items


def shard(items: Sequence[BatchItem], rank: int, world: int) -> List[BatchItem]:
    """This rank's part of a step's global batch: every world-th item from `rank` (slots, and so
    augmentations, stay those of the global batch)."""
    return list(items[rank::world])


def image_seed(run_seed: int, step: int, slot: int) -> int:
    """The per-image augmentation seed (loader.ts: mixSeed(seed, step, slot, 0x5eed))."""
    return mix_seed(run_seed, step, slot, 0x5EED)
