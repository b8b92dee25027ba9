import { tf, type Tensor } from '../tf.js';
import { l2Normalize, matMulConst } from '../model/ops.js';

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

/**
 * −log l_j for every pixel (l_j = softmax_i(z_ij/τ) at the pixel's true label) and the 0/1 mask
 * of valid pixels (0 ≤ target < K: the ignore value, 255 or 65,535 (ignoreIndexFor), is outside). Both [P]; invalid pixels have loss 0.
 */
export function pixelLosses(pixelEmb: Tensor, labelEmb: Tensor, target: Tensor, logTau: Tensor): { losses: Tensor; valid: Tensor } {
  const numLabels = labelEmb.shape[0] as number;
  const flatTarget = tf.reshape(target, [-1]);
  const valid = tf.cast(tf.logicalAnd(tf.less(flatTarget, numLabels), tf.greaterEqual(flatTarget, 0)), 'float32');
  const safeTarget = tf.cast(tf.mul(tf.cast(flatTarget, 'float32'), valid), 'int32');
  const logProbs = tf.logSoftmax(cosineLogits(pixelEmb, labelEmb, logTau));
  const picked = tf.sum(tf.mul(logProbs, tf.oneHot(safeTarget, numLabels)), 1);
  return { losses: tf.mul(tf.neg(picked), valid), valid };
}
