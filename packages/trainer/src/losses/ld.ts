import { tf, type Tensor } from '../tf.js';
import { atLabelResolution, pixelLosses } from './cosine.js';
import { labelResolutionLoss } from './label-resolution.js';

/** The paper drops the 30% hardest pixels of each image. */
export const LD_DROP_FRACTION = 0.3;

/**
 * How many of `valid` pixels L_LD drops: ⌊fraction · valid⌋, with a 1e-4 margin so that the product
 * rounds the same in double (0.3 · 30 = 8.999999999999998) and in float32 on the device: 9.
 */
export function dropCount(valid: number, fraction: number): number {
  return Math.floor(fraction * valid + 1e-4);
}

/**
 * Which valid pixels of each image L_LD keeps: the ⌊fraction · valid⌋ pixels with the largest
 * loss in that image are dropped (µ is the loss at that rank, so it adapts per image). Ties are
 * broken by pixel order, so exactly that many are dropped. losses/valid are [n · perImage].
 * The host form of `dropHardest` (label-resolution.ts ranks band by band on the host).
 */
export function lowLossMask(losses: Float32Array, valid: Float32Array, images: number, fraction = LD_DROP_FRACTION): Float32Array {
  const keep = new Float32Array(losses.length);
  const perImage = losses.length / images;
  for (let i = 0; i < images; i++) {
    const idx: number[] = [];
    for (let j = i * perImage; j < (i + 1) * perImage; j++) if ((valid[j] as number) > 0) idx.push(j);
    idx.sort((a, b) => (losses[b] as number) - (losses[a] as number) || a - b);
    const drop = dropCount(idx.length, fraction);
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
  return dropHardest(losses, valid, target.shape[0] as number, dropFraction);
}

/**
 * Σ_j w_j losses_j / max(Σ valid, 1) with w_j = 0 for each image's ⌊fraction · valid⌋ largest valid
 * losses (ties by pixel order) and 1 for the rest — lowLossMask's weights, computed on the device
 * as mmseg's OHEM does (tf.topk over each image's losses, invalid pixels ranked last), so nothing
 * goes to the host. losses/valid are [n · perImage]; the weights take no gradient.
 */
export function dropHardest(losses: Tensor, valid: Tensor, images: number, fraction: number): Tensor {
  const perImage = (losses.shape[0] as number) / images;
  const most = Math.min(perImage, dropCount(perImage, fraction));
  const weighted = tf.customGrad((...args: (Tensor | ((saved: Tensor[]) => void))[]) => {
    const [l, v] = args as [Tensor, Tensor];
    const save = args[2] as (saved: Tensor[]) => void;
    const denom = tf.maximum(tf.sum(v), 1);
    let keep = v;
    if (most > 0) {
      // Invalid pixels (loss 0) rank below every valid one (loss ≥ 0).
      const ranked = tf.reshape(tf.sub(l, tf.mul(tf.sub(1, v), 1e9)), [images, perImage]);
      const { indices } = tf.topk(ranked, most, true); // [n, most], the largest first, ties by index
      const drops = tf.floor(tf.add(tf.mul(tf.sum(tf.reshape(v, [images, perImage]), 1, true), fraction), 1e-4)); // [n, 1]
      const dropped = tf.cast(tf.less(tf.range(0, most, 1, 'float32'), drops), 'float32'); // [n, most]: rank < ⌊f·valid⌋
      const rows = tf.tile(tf.reshape(tf.range(0, images, 1, 'int32'), [images, 1]), [1, most]);
      const where = tf.reshape(tf.stack([rows, indices], 2), [images * most, 2]);
      const dropMask = tf.scatterND(where, tf.reshape(dropped, [images * most]), [images, perImage]);
      keep = tf.mul(v, tf.sub(1, tf.reshape(dropMask, [images * perImage])));
    }
    save([keep, denom]);
    return {
      value: tf.div(tf.sum(tf.mul(l, keep)), denom),
      gradFunc: (dy: Tensor, saved: Tensor[]) => {
        const [k, d] = saved as [Tensor, Tensor];
        return [tf.mul(tf.div(dy, d), k), tf.zerosLike(v)];
      },
    };
  }) as (l: Tensor, v: Tensor) => Tensor;
  return weighted(losses, valid);
}
