/**
 * Per-image augmentation, decided up front from a seed (so it is the same on any worker and in a
 * resumed run), then applied to decoded pixels.
 */
import { seededNormal, seededRandom } from '@sentseg/common';

export interface AugmentConfig {
  /** Resize so the short edge is this many pixels. */
  shortEdge: number;
  /** Square random crop (a multiple of 32); padded with ignore labels where the image is smaller. */
  crop: number;
  /** Mirror half of the images. */
  flip: boolean;
  /** Brightness, contrast and saturation each scaled by a factor in [1 − j, 1 + j]. */
  colorJitter: number;
  /** Probability of a Gaussian blur (σ 0.5..1.5 px). */
  blurProbability: number;
  /** Standard deviation of additive Gaussian noise, in 0..255 pixel units (0 = none). */
  noiseStd: number;
}

export interface AugmentPlan {
  /** Size after resizing so the short edge is `shortEdge`. */
  resizedWidth: number;
  resizedHeight: number;
  /** Top-left of the crop in the resized image (the crop may extend past it: padded). */
  left: number;
  top: number;
  flip: boolean;
  brightness: number;
  contrast: number;
  saturation: number;
  /** Gaussian blur sigma in pixels, or 0. */
  blurSigma: number;
  noiseSeed: number;
}

export function planAugment(width: number, height: number, config: AugmentConfig, seed: number): AugmentPlan {
  const random = seededRandom(seed);
  const scale = config.shortEdge / Math.min(width, height);
  const resizedWidth = Math.max(1, Math.round(width * scale));
  const resizedHeight = Math.max(1, Math.round(height * scale));
  const left = Math.floor(random() * (Math.max(0, resizedWidth - config.crop) + 1));
  const top = Math.floor(random() * (Math.max(0, resizedHeight - config.crop) + 1));
  const flip = config.flip && random() < 0.5;
  const jitter = () => 1 + (random() * 2 - 1) * config.colorJitter;
  const brightness = jitter();
  const contrast = jitter();
  const saturation = jitter();
  const blurSigma = random() < config.blurProbability ? 0.5 + random() : 0;
  const noiseSeed = Math.floor(random() * 2 ** 32);
  return { resizedWidth, resizedHeight, left, top, flip, brightness, contrast, saturation, blurSigma, noiseSeed };
}

/** ImageNet mean and standard deviation, as SegFormer normalises its input. */
export const PIXEL_MEAN = [123.675, 116.28, 103.53] as const;
export const PIXEL_STD = [58.395, 57.12, 57.375] as const;

/**
 * RGB bytes of the crop (crop×crop×3, already resized and cropped, padding = 0) → normalised
 * float32 with jitter and noise; `valid` marks pixels that came from the image (padding stays 0
 * after normalisation, i.e. the mean colour).
 */
export function colourAndNormalise(rgb: Uint8Array, valid: Uint8Array, plan: AugmentPlan, noiseStd: number): Float32Array {
  const n = valid.length;
  const out = new Float32Array(n * 3);
  const gaussian = seededNormal(plan.noiseSeed);
  let graySum = 0;
  let count = 0;
  for (let i = 0; i < n; i++) {
    if (!valid[i]) continue;
    graySum += 0.299 * (rgb[3 * i] as number) + 0.587 * (rgb[3 * i + 1] as number) + 0.114 * (rgb[3 * i + 2] as number);
    count += 1;
  }
  const meanGray = count > 0 ? (graySum / count) * plan.brightness : 0;
  for (let i = 0; i < n; i++) {
    if (!valid[i]) continue;
    let r = (rgb[3 * i] as number) * plan.brightness;
    let g = (rgb[3 * i + 1] as number) * plan.brightness;
    let b = (rgb[3 * i + 2] as number) * plan.brightness;
    const gray = 0.299 * r + 0.587 * g + 0.114 * b;
    r = gray + (r - gray) * plan.saturation;
    g = gray + (g - gray) * plan.saturation;
    b = gray + (b - gray) * plan.saturation;
    r = meanGray + (r - meanGray) * plan.contrast;
    g = meanGray + (g - meanGray) * plan.contrast;
    b = meanGray + (b - meanGray) * plan.contrast;
    if (noiseStd > 0) {
      r += gaussian() * noiseStd;
      g += gaussian() * noiseStd;
      b += gaussian() * noiseStd;
    }
    const clamp = (v: number) => Math.min(255, Math.max(0, v));
    out[3 * i] = (clamp(r) - PIXEL_MEAN[0]) / PIXEL_STD[0];
    out[3 * i + 1] = (clamp(g) - PIXEL_MEAN[1]) / PIXEL_STD[1];
    out[3 * i + 2] = (clamp(b) - PIXEL_MEAN[2]) / PIXEL_STD[2];
  }
  return out;
}

/**
 * Nearest-neighbour resize + crop + flip of a label map given at its own size (which may differ
 * from the image's: OpenImages masks are smaller): output crop×crop, outside = `fill`.
 */
export function cropLabels(labels: Int32Array, width: number, height: number, plan: AugmentPlan, crop: number, fill: number): Int32Array {
  const out = new Int32Array(crop * crop).fill(fill);
  const sx = width / plan.resizedWidth;
  const sy = height / plan.resizedHeight;
  for (let y = 0; y < crop; y++) {
    const ry = plan.top + y;
    if (ry >= plan.resizedHeight) break;
    const srcY = Math.min(height - 1, Math.floor((ry + 0.5) * sy));
    for (let x = 0; x < crop; x++) {
      const rx = plan.left + x;
      if (rx >= plan.resizedWidth) break;
      const srcX = Math.min(width - 1, Math.floor((rx + 0.5) * sx));
      out[y * crop + (plan.flip ? crop - 1 - x : x)] = labels[srcY * width + srcX] as number;
    }
  }
  return out;
}

/**
 * A box in original image pixels → crop pixels (resize, crop, flip, clip); null when it leaves the
 * crop. `visible` is the share of the box's area inside the crop (1 when the crop holds it whole).
 */
export function transformBox(
  box: { x: number; y: number; w: number; h: number },
  width: number,
  height: number,
  plan: AugmentPlan,
  crop: number,
  minSide = 2,
): { x0: number; y0: number; x1: number; y1: number; visible: number } | null {
  const sx = plan.resizedWidth / width;
  const sy = plan.resizedHeight / height;
  const fullX0 = box.x * sx - plan.left;
  const fullX1 = (box.x + box.w) * sx - plan.left;
  const fullY0 = box.y * sy - plan.top;
  const fullY1 = (box.y + box.h) * sy - plan.top;
  const x0 = Math.max(0, fullX0);
  const x1 = Math.min(crop, fullX1);
  const y0 = Math.max(0, fullY0);
  const y1 = Math.min(crop, fullY1);
  if (x1 - x0 < minSide || y1 - y0 < minSide) return null;
  const visible = ((x1 - x0) * (y1 - y0)) / ((fullX1 - fullX0) * (fullY1 - fullY0));
  return plan.flip ? { x0: crop - x1, y0, x1: crop - x0, y1, visible } : { x0, y0, x1, y1, visible };
}
