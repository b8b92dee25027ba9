import { tf, type Tensor } from '../tf.js';
import { l2Normalize, matMulConst } from '../model/ops.js';
import { recompute } from '../model/recompute.js';
import { foldHead, headCosineSimilarities } from './head-cosine.js';

/**
 * z_ij / τ for every pixel j and label i: cosine similarity between the pixel embedding e_j and
 * the label embedding V_i, divided by τ = exp(logTau). pixelEmb [..., D], labelEmb [K, D] →
 * [P, K] with P the number of pixels.
 */
export function cosineLogits(pixelEmb: Tensor, labelEmb: Tensor, logTau: Tensor): Tensor {
  return tf.div(cosineSimilarities(pixelEmb, labelEmb), tf.exp(logTau));
}

/** z_ij = cos(e_j, V_i): pixelEmb [..., D], labelEmb [K, D] → [P, K]. */
export function cosineSimilarities(pixelEmb: Tensor, labelEmb: Tensor): Tensor {
  const dim = pixelEmb.shape[pixelEmb.shape.length - 1] as number;
  if (labelEmb.shape[1] !== dim) throw new Error(`pixel embeddings have ${dim} dimensions, label embeddings ${labelEmb.shape[1]}`);
  const pixels = l2Normalize(tf.reshape(pixelEmb, [-1, dim]));
  const labels = tf.transpose(l2Normalize(labelEmb));
  // The label embeddings are fixed: no gradient is computed for them.
  return matMulConst(pixels, labels);
}

/** Whether the target [n, H, W] is larger than the map [n, h, w, D]: the loss is then taken at the target's size. */
export function atLabelResolution(pixelEmb: Tensor, target: Tensor): boolean {
  return target.shape[1] !== pixelEmb.shape[1] || target.shape[2] !== pixelEmb.shape[2];
}

/** Elements of [pixels × labels] of one chunk of `pixelLosses` (its logits, probabilities and one-hot). */
export const LOSS_CHUNK_ELEMENTS = 1 << 20;

/** −log softmax at the target of pixels e [P, D] (target int32 [P], in range): [P]. */
export function targetLosses(e: Tensor, labelEmb: Tensor, logTau: Tensor, safeTarget: Tensor): Tensor {
  return lossesFromCosines(cosineSimilarities(e, labelEmb), logTau, safeTarget);
}

/** −log softmax_i(cos_ji / τ) at each pixel's target: cosines [P, K], target int32 [P] (in range) → [P]. */
export function lossesFromCosines(cos: Tensor, logTau: Tensor, safeTarget: Tensor): Tensor {
  const logProbs = tf.logSoftmax(tf.div(cos, tf.exp(logTau)));
  return tf.neg(tf.sum(tf.mul(logProbs, tf.oneHot(safeTarget, cos.shape[1] as number)), 1));
}

/** Sizes of the chunks of at most `chunkElements` logits that P pixels × K labels go in. */
function chunkSizes(pixels: number, numLabels: number, chunkElements: number): number[] {
  const rows = Math.max(1, Math.floor(chunkElements / numLabels));
  const sizes: number[] = [];
  for (let s = 0; s < pixels; s += rows) sizes.push(Math.min(rows, pixels - s));
  return sizes;
}

/**
 * pixelLosses from the head's input f [n, h, w, d] and weights W [d, D], b [D] instead of the
 * embeddings f·W + b: the cosines by headCosineSimilarities (about half the products). The same
 * chunks, kept when there is one and recomputed when there are several.
 */
export function headPixelLosses(f: Tensor, w: Tensor, b: Tensor, labelEmb: Tensor, target: Tensor, logTau: Tensor, chunkElements = LOSS_CHUNK_ELEMENTS): { losses: Tensor; valid: Tensor } {
  const { a, c, g, u, beta } = foldHead(w, b, labelEmb);
  return chunkedLosses(f, target, labelEmb.shape[0] as number, chunkElements, [a, c, g, u, beta, logTau], (rows, [aa, cc, gg, uu, bb, lt], t) =>
    lossesFromCosines(headCosineSimilarities(rows, { a: aa as Tensor, c: cc as Tensor, g: gg as Tensor, u: uu as Tensor, beta: bb as Tensor }), lt as Tensor, t),
  );
}

/** The 0/1 mask [P] of target's valid pixels (0 ≤ target < numLabels) and the target [P] with 0 at the others. */
export function validPixels(target: Tensor, numLabels: number): { valid: Tensor; safeTarget: Tensor } {
  const flatTarget = tf.reshape(target, [-1]);
  const valid = tf.cast(tf.logicalAnd(tf.less(flatTarget, numLabels), tf.greaterEqual(flatTarget, 0)), 'float32');
  const safeTarget = tf.cast(tf.mul(tf.cast(flatTarget, 'float32'), valid), 'int32');
  return { valid, safeTarget };
}

/**
 * −log l_j for every pixel (l_j = softmax_i(z_ij/τ) at the pixel's true label) and the 0/1 mask
 * of valid pixels (0 ≤ target < K: the ignore value, 255 or 65,535 (ignoreIndexFor), is outside).
 * Both [P]; invalid pixels have loss 0. Where [P × K] is over `chunkElements`, the pixels go in
 * chunks of at most that many logits, each recomputed in the backward pass instead of kept
 * (recompute.ts): a training step never holds [P × K] for a large batch.
 */
export function pixelLosses(pixelEmb: Tensor, labelEmb: Tensor, target: Tensor, logTau: Tensor, chunkElements = LOSS_CHUNK_ELEMENTS): { losses: Tensor; valid: Tensor } {
  return chunkedLosses(pixelEmb, target, labelEmb.shape[0] as number, chunkElements, [labelEmb, logTau], (e, [lab, lt], t) => targetLosses(e, lab as Tensor, lt as Tensor, t));
}

/**
 * Per-pixel losses [P] (0 at invalid pixels) and the valid mask of the rows of x [..., X] against
 * target, `loss(rows, extra, target)` taken over chunks of at most `chunkElements` logits of K
 * labels: one chunk is kept (back-propagation frees its intermediates as it goes: backprop.ts); of
 * several, each is recomputed in the backward pass with `extra` among its inputs, so only one
 * chunk's [rows × K] lives at a time.
 */
function chunkedLosses(x: Tensor, target: Tensor, numLabels: number, chunkElements: number, extra: Tensor[], loss: (rows: Tensor, extra: Tensor[], target: Tensor) => Tensor): { losses: Tensor; valid: Tensor } {
  const { valid, safeTarget } = validPixels(target, numLabels);
  const pixels = safeTarget.shape[0] as number;
  const flat = tf.reshape(x, [pixels, x.shape[x.shape.length - 1] as number]);
  const sizes = chunkSizes(pixels, numLabels, chunkElements);
  if (sizes.length === 1) return { losses: tf.mul(loss(flat, extra, safeTarget), valid), valid };
  const targetChunks = tf.split(safeTarget, sizes, 0);
  const parts = tf.split(flat, sizes, 0).map((rows, i) => recompute((r, ...rest) => loss(r as Tensor, rest.slice(0, -1), rest[rest.length - 1] as Tensor), [rows, ...extra, targetChunks[i] as Tensor]));
  return { losses: tf.mul(tf.concat(parts, 0), valid), valid };
}
