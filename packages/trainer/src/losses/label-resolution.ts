/**
 * The pixel losses at the label's resolution (losses.resolution = label): the cosine logits of
 * the 1/4-resolution map are upsampled bilinearly to the label's size (align_corners = false, as
 * mmseg's SegFormer resizes its logits before the loss) and every label pixel counts, instead of
 * the label sampled at the centre of each output cell.
 *
 * Memory: at a 640 crop with K = 238 labels the upsampled logits of one image are 97.5 M values
 * (390 MB), and autodiff would keep several such tensors per image for the backward pass. So the
 * upsampling, the softmax and its gradient are one custom-gradient op that works on bands of output
 * rows (at most CHUNK_VALUES values each) and keeps nothing but its inputs: the forward pass sums the
 * bands' losses, the backward pass recomputes each band and adds its gradient into the
 * 1/4-resolution map. Upsampling is linear, so up(z)/τ = up(z/τ), and the gradient of a band is the
 * adjoint (transposed interpolation matrices) of (softmax − one-hot) · weight.
 */
import { tf, type Tensor } from '../tf.js';
import { bilinearMatrix } from '../model/ops.js';
import { cosineSimilarities } from './cosine.js';
import { lowLossMask } from './ld.js';

/** Largest upsampled-logit band (values): 2^21 float32 = 8 MiB; a band holds about 20 such tensors at once. */
export const CHUNK_VALUES = 2 ** 21;

/** Output rows [y0, y1) of a band and the map rows [lo, hi) their interpolation reads. */
interface Band {
  y0: number;
  y1: number;
  lo: number;
  hi: number;
  /** [hi − lo, y1 − y0]: the band's slice of the row interpolation matrix, transposed. */
  rowsT: Float32Array;
  /** [y1 − y0, hi − lo]: the same slice (for the adjoint). */
  rows: Float32Array;
}

function bands(h: number, outH: number, rowsPerBand: number): Band[] {
  const m = bilinearMatrix(h, outH);
  const result: Band[] = [];
  for (let y0 = 0; y0 < outH; y0 += rowsPerBand) {
    const y1 = Math.min(outH, y0 + rowsPerBand);
    let lo = h;
    let hi = 0;
    for (let y = y0; y < y1; y++) {
      for (let i = 0; i < h; i++) {
        if ((m[y * h + i] as number) !== 0) {
          lo = Math.min(lo, i);
          hi = Math.max(hi, i + 1);
        }
      }
    }
    const r = hi - lo;
    const rows = new Float32Array((y1 - y0) * r);
    const rowsT = new Float32Array(r * (y1 - y0));
    for (let y = y0; y < y1; y++) {
      for (let i = lo; i < hi; i++) {
        rows[(y - y0) * r + (i - lo)] = m[y * h + i] as number;
        rowsT[(i - lo) * (y1 - y0) + (y - y0)] = m[y * h + i] as number;
      }
    }
    result.push({ y0, y1, lo, hi, rows, rowsT });
  }
  return result;
}

function transposed(m: Float32Array, rows: number, cols: number): Float32Array {
  const t = new Float32Array(m.length);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) t[j * rows + i] = m[i * cols + j] as number;
  return t;
}

/** Upsamples the band's map rows z [n, r, w, K] to [n·R·W, K] (pixels in n, y, x order). */
function upsampleBand(z: Tensor, band: Band, colsT: Tensor, outW: number): Tensor {
  const [n, r, w, k] = z.shape as [number, number, number, number];
  const R = band.y1 - band.y0;
  const byCols = tf.reshape(tf.matMul(tf.reshape(tf.transpose(z, [0, 1, 3, 2]), [n * r * k, w]), colsT), [n, r, k, outW]);
  const byRows = tf.matMul(tf.reshape(tf.transpose(byCols, [0, 2, 3, 1]), [n * k * outW, r]), tf.tensor2d(band.rowsT, [r, R]));
  return tf.reshape(tf.transpose(tf.reshape(byRows, [n, k, outW, R]), [0, 3, 2, 1]), [n * R * outW, k]);
}

/** The adjoint of upsampleBand: g [n·R·W, K] → [n, r, w, K]. */
function downsampleBandGrad(g: Tensor, band: Band, cols: Tensor, n: number, w: number, outW: number): Tensor {
  const k = g.shape[1] as number;
  const R = band.y1 - band.y0;
  const r = band.hi - band.lo;
  const byRows = tf.matMul(tf.reshape(tf.transpose(tf.reshape(g, [n, R, outW, k]), [0, 3, 2, 1]), [n * k * outW, R]), tf.tensor2d(band.rows, [R, r]));
  const byCols = tf.matMul(tf.reshape(tf.transpose(tf.reshape(byRows, [n, k, outW, r]), [0, 3, 1, 2]), [n * r * k, outW]), cols);
  return tf.transpose(tf.reshape(byCols, [n, r, k, w]), [0, 1, 3, 2]);
}

/** The band's labels (n, y, x order) and its valid pixels (0 ≤ id < K). */
function bandTargets(target: Int32Array, n: number, outH: number, outW: number, band: Band, numLabels: number): { ids: Int32Array; valid: Float32Array } {
  const R = band.y1 - band.y0;
  const ids = new Int32Array(n * R * outW);
  const valid = new Float32Array(n * R * outW);
  for (let b = 0; b < n; b++) {
    for (let y = 0; y < R; y++) {
      for (let x = 0; x < outW; x++) {
        const t = target[(b * outH + band.y0 + y) * outW + x] as number;
        const j = (b * R + y) * outW + x;
        if (t >= 0 && t < numLabels) {
          ids[j] = t;
          valid[j] = 1;
        }
      }
    }
  }
  return { ids, valid };
}

/** Copies a band's values (n, y, x order) into the whole label map's array. */
function scatterBand(all: Float32Array, part: Float32Array, n: number, outH: number, outW: number, band: Band): void {
  const R = band.y1 - band.y0;
  for (let b = 0; b < n; b++) all.set(part.subarray(b * R * outW, (b + 1) * R * outW), (b * outH + band.y0) * outW);
}

function gatherBand(all: Float32Array, n: number, outH: number, outW: number, band: Band): Float32Array {
  const R = band.y1 - band.y0;
  const part = new Float32Array(n * R * outW);
  for (let b = 0; b < n; b++) part.set(all.subarray((b * outH + band.y0) * outW, (b * outH + band.y1) * outW), b * R * outW);
  return part;
}

/**
 * L_HD (dropFraction 0) or L_LD at the label's resolution: cosine similarities of pixelEmb
 * [n, h, w, D] with labelEmb [K, D], upsampled to target [n, H, W] (int32; 255 and any id outside
 * [0, K) take no part), divided by τ; −(1/M) Σ_i w_i log l_i with M the valid label pixels of the
 * batch and w_i = 0 for each image's ⌊dropFraction · valid⌋ hardest pixels (ranked at the label's
 * resolution), 1 otherwise. Returns a scalar; 0 when no pixel is valid.
 */
export function labelResolutionLoss(pixelEmb: Tensor, labelEmb: Tensor, target: Tensor, logTau: Tensor, dropFraction = 0, chunkValues = CHUNK_VALUES): Tensor {
  const [n, h, w] = pixelEmb.shape as [number, number, number, number];
  const [, outH, outW] = target.shape as [number, number, number];
  const k = labelEmb.shape[0] as number;
  const z = tf.reshape(cosineSimilarities(pixelEmb, labelEmb), [n, h, w, k]);
  const labels = target.dataSync() as Int32Array;
  const rowsPerBand = Math.max(1, Math.floor(chunkValues / (n * outW * k)));
  const plan = bands(h, outH, rowsPerBand);
  const colsMatrix = bilinearMatrix(w, outW);
  const targets = plan.map((band) => bandTargets(labels, n, outH, outW, band, k));
  const validCount = targets.reduce((s, t) => s + t.valid.reduce((a, v) => a + v, 0), 0);
  let weights: Float32Array[] = [];

  const op = tf.customGrad((...args: (Tensor | ((saved: Tensor[]) => void))[]) => {
    const [zIn, logTauIn] = args as [Tensor, Tensor];
    const save = args[2] as (saved: Tensor[]) => void;
    save([zIn, logTauIn]);
    const colsT = tf.tensor2d(transposed(colsMatrix, outW, w), [w, outW]);
    const invTau = tf.exp(tf.neg(logTauIn));
    // Per-pixel −log l_i of every band (kept on the host only when L_LD ranks them).
    const perPixel = dropFraction > 0 ? new Float32Array(n * outH * outW) : null;
    let sum: Tensor = tf.scalar(0);
    plan.forEach((band, i) => {
      const { ids, valid } = targets[i] as { ids: Int32Array; valid: Float32Array };
      const next = tf.tidy(() => {
        const logits = tf.mul(upsampleBand(tf.slice(zIn, [0, band.lo, 0, 0], [n, band.hi - band.lo, w, k]), band, colsT, outW), invTau);
        const picked = tf.sum(tf.mul(tf.logSoftmax(logits), tf.oneHot(tf.tensor1d(ids, 'int32'), k)), 1);
        const losses = tf.mul(tf.neg(picked), tf.tensor1d(valid));
        if (perPixel) scatterBand(perPixel, losses.dataSync() as Float32Array, n, outH, outW, band);
        return tf.add(sum, tf.sum(losses));
      });
      sum.dispose();
      sum = next;
    });
    if (perPixel) {
      const keep = lowLossMask(perPixel, Float32Array.from(labels, (t) => (t >= 0 && t < k ? 1 : 0)), n, dropFraction);
      weights = plan.map((band) => gatherBand(keep, n, outH, outW, band));
      const kept = perPixel.reduce((s, v, j) => s + v * (keep[j] as number), 0);
      sum.dispose();
      sum = tf.scalar(kept);
    } else {
      weights = targets.map((t) => t.valid);
    }
    const value = tf.div(sum, Math.max(validCount, 1));
    tf.dispose([colsT, invTau, sum]);
    return {
      value,
      gradFunc: (dy: Tensor, saved: Tensor[]) => {
        const [zSaved, logTauSaved] = saved as [Tensor, Tensor];
        const cols = tf.tensor2d(colsMatrix, [outW, w]);
        const colsTb = tf.tensor2d(transposed(colsMatrix, outW, w), [w, outW]);
        const invTauB = tf.exp(tf.neg(logTauSaved));
        let gz = tf.zerosLike(zSaved);
        let gTau: Tensor = tf.scalar(0);
        plan.forEach((band, i) => {
          const { ids } = targets[i] as { ids: Int32Array };
          const [nextZ, nextTau] = tf.tidy(() => {
            const logits = tf.mul(upsampleBand(tf.slice(zSaved, [0, band.lo, 0, 0], [n, band.hi - band.lo, w, k]), band, colsTb, outW), invTauB);
            // d(−log softmax(L)[t]) / dL = softmax(L) − onehot(t), weighted per pixel.
            const g = tf.mul(tf.sub(tf.exp(tf.logSoftmax(logits)), tf.oneHot(tf.tensor1d(ids, 'int32'), k)), tf.reshape(tf.tensor1d(weights[i] as Float32Array), [-1, 1]));
            // L = up(z)·e^(−logτ): dL/dlogτ = −L, dL/dz = up^T(g)·e^(−logτ).
            const tauPart = tf.neg(tf.sum(tf.mul(g, logits)));
            const zPart = tf.mul(downsampleBandGrad(g, band, cols, n, w, outW), invTauB);
            const padded = tf.pad(zPart, [[0, 0], [band.lo, h - band.hi], [0, 0], [0, 0]]);
            return [tf.add(gz, padded), tf.add(gTau, tauPart)];
          });
          tf.dispose([gz, gTau]);
          gz = nextZ as Tensor;
          gTau = nextTau as Tensor;
        });
        const scale = tf.div(dy, Math.max(validCount, 1));
        const result = [tf.mul(gz, scale), tf.reshape(tf.mul(gTau, scale), logTauSaved.shape)];
        tf.dispose([cols, colsTb, invTauB, gz, gTau, scale]);
        return result;
      },
    };
  }) as (z: Tensor, logTau: Tensor) => Tensor;
  return op(z, logTau);
}
