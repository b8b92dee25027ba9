import { tf, type Tensor } from '../tf.js';
import { atLabelResolution, pixelLosses } from './cosine.js';
import { labelResolutionLoss } from './label-resolution.js';

/** The paper drops the 30% hardest pixels of each image. */
export const LD_DROP_FRACTION = 0.3;

/**
 * Which valid pixels of each image L_LD keeps: the ⌊fraction · valid⌋ pixels with the largest
 * loss in that image are dropped (µ is the loss at that rank, so it adapts per image). Ties are
 * broken by pixel order, so exactly that many are dropped. losses/valid are [n · perImage].
 */
export function lowLossMask(losses: Float32Array, valid: Float32Array, images: number, fraction = LD_DROP_FRACTION): Float32Array {
  const keep = new Float32Array(losses.length);
  const perImage = losses.length / images;
  for (let i = 0; i < images; i++) {
    const idx: number[] = [];
    for (let j = i * perImage; j < (i + 1) * perImage; j++) if ((valid[j] as number) > 0) idx.push(j);
    idx.sort((a, b) => (losses[b] as number) - (losses[a] as number) || a - b);
    const drop = Math.floor(fraction * idx.length);
    for (let r = drop; r < idx.length; r++) keep[idx[r] as number] = 1;
  }
  return keep;
}

/**
 * L_LD, equation (5) of the paper: −(1/M) Σ_j w_j log l_j with w_j = 0 for each image's hardest
 * valid pixels (lowLossMask) and 1 for the rest, M the number of VALID pixels (target ≠ 255), the
 * same 1/M as L_HD (eq. 3) — not the number of kept pixels, which would weigh L_LD (and its
 * gradients, τ's included) 1/(1 − dropFraction) = 1.43× against L_HD and L_WD. As lossHD, M counts
 * the valid pixels of the whole batch, so with dropFraction 0 it is lossHD. For noisy instance
 * masks such as OpenImages'. Same arguments as lossHD; the threshold is chosen on the current
 * losses and takes no gradient. Returns 0 when no pixel is valid. A target larger than the map
 * takes the loss at its own size (as lossHD), the hardest pixels ranked among the label's pixels.
 */
export function lossLD(pixelEmb: Tensor, labelEmb: Tensor, target: Tensor, logTau: Tensor, dropFraction = LD_DROP_FRACTION): Tensor {
  if (atLabelResolution(pixelEmb, target)) return labelResolutionLoss(pixelEmb, labelEmb, target, logTau, dropFraction);
  const { losses, valid } = pixelLosses(pixelEmb, labelEmb, target, logTau);
  const images = target.shape[0] as number;
  const keep = tf.tensor1d(lowLossMask(losses.dataSync() as Float32Array, valid.dataSync() as Float32Array, images, dropFraction));
  return tf.div(tf.sum(tf.mul(losses, keep)), tf.maximum(tf.sum(valid), 1));
}
