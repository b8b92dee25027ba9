import { tf, type Tensor } from '../tf.js';
import { pixelLosses } from './cosine.js';

/**
 * L_HD: the mean over valid pixels (target ≠ 255) of −log softmax_i(cos(e_j, V_i)/τ) at the true
 * label. pixelEmb [n, h, w, D], labelEmb [K, D], target int32 [n, h, w], logTau scalar.
 * Returns a scalar; 0 when no pixel is valid.
 */
export function lossHD(pixelEmb: Tensor, labelEmb: Tensor, target: Tensor, logTau: Tensor): Tensor {
  const { losses, valid } = pixelLosses(pixelEmb, labelEmb, target, logTau);
  return tf.div(tf.sum(losses), tf.maximum(tf.sum(valid), 1));
}
