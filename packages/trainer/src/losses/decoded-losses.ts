/**
 * Per-pixel losses straight from the encoder's four feature maps, for a step that recomputes its
 * activations: the decoder, the head and the cosine softmax run band by band of output rows as one
 * recomputed op (SegFormer.recomputeBands), each band giving the losses of its pixels. The step then
 * never holds the [pixels × embedDim] embeddings, their gradient or their copies for the loss's
 * chunks: at B0 512×512 batch 2 each is 64 MiB, and TensorFlow.js keeps every gradient until the
 * backward pass ends. The values are those of `pixelLosses(model.forward(x), ...)` (tested to 1e-5).
 */
import { decoderBandRows, decodeRows } from '../model/segformer-inference.js';
import type { SegFormer } from '../model/segformer.js';
import { tf, type Tensor } from '../tf.js';
import { targetLosses, validPixels } from './cosine.js';

export interface PixelLosses {
  /** [P]: −log softmax at the true label; 0 at invalid pixels. */
  losses: Tensor;
  /** [P]: 1 at valid pixels (0 ≤ target < labels), else 0. */
  valid: Tensor;
}

/**
 * The losses of pixelLosses (cosine.ts) for features [n, h_s, w_s, C_s] of `model`, target int32
 * [n, h1, w1] at the map's resolution, labelEmb [K, D]. `bandElements`: the decoder band's size
 * (SegFormer.decoderBandElements); each band also holds its [pixels × labels] logits.
 */
export function decodedPixelLosses(model: SegFormer, features: Tensor[], labelEmb: Tensor, target: Tensor, logTau: Tensor, bandElements = model.decoderBandElements): PixelLosses {
  const [n, h1, w1] = (features[0] as Tensor).shape as [number, number, number, number];
  const numLabels = labelEmb.shape[0] as number;
  const { valid, safeTarget } = validPixels(target, numLabels);
  const rows = decoderBandRows(model, w1 * n, numLabels, bandElements);
  const dim = model.config.embedDim;
  const perPixel = model.recomputeBands(features, [labelEmb, logTau, tf.reshape(safeTarget, [n, h1, w1]), tf.reshape(valid, [n, h1, w1])], rows, (get, maps, r0, r1, [lab, lt, t, v]) => {
    const emb = decodeRows(model, maps, r0, r1, get);
    const band = (x: Tensor) => tf.reshape(tf.slice(x, [0, r0, 0], [n, r1 - r0, w1]), [-1]);
    const losses = tf.mul(targetLosses(tf.reshape(emb, [-1, dim]), lab as Tensor, lt as Tensor, band(t as Tensor)), band(v as Tensor));
    return tf.reshape(losses, [n, r1 - r0, w1]);
  });
  return { losses: tf.reshape(perPixel, [-1]), valid };
}
