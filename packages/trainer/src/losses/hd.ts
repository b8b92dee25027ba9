import { tf, type Tensor } from '../tf.js';
import { atLabelResolution, pixelLosses } from './cosine.js';
import { labelResolutionLoss } from './label-resolution.js';

/**
 * L_HD: the mean over valid pixels (target ≠ 255) of −log softmax_i(cos(e_j, V_i)/τ) at the true
 * label. pixelEmb [n, h, w, D], labelEmb [K, D], target int32 [n, h, w], logTau scalar.
 * Returns a scalar; 0 when no pixel is valid. A target larger than the map ([n, H, W], the crop's
 * label: losses.resolution = label) takes the loss at its own size, over bilinearly upsampled
 * logits (label-resolution.ts).
 */
export function lossHD(pixelEmb: Tensor, labelEmb: Tensor, target: Tensor, logTau: Tensor): Tensor {
  if (atLabelResolution(pixelEmb, target)) return labelResolutionLoss(pixelEmb, labelEmb, target, logTau, 0);
  return meanOverValid(pixelLosses(pixelEmb, labelEmb, target, logTau));
}

/** L_HD from per-pixel losses (pixelLosses, or decodedPixelLosses in a recomputed step): their sum over the valid pixels' count. */
export function meanOverValid({ losses, valid }: { losses: Tensor; valid: Tensor }): Tensor {
  return tf.div(tf.sum(losses), tf.maximum(tf.sum(valid), 1));
}
