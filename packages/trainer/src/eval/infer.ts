/**
 * Inference: class probabilities of every pixel of an image at its own resolution, from one or
 * several scales (short edge resized to each), optionally with the horizontally flipped image
 * too; the softmax probabilities of all passes are averaged.
 */
import sharp from 'sharp';
import { PIXEL_MEAN, PIXEL_STD } from '../data/augment.js';
import { cosineLogits } from '../losses/cosine.js';
import { OUTPUT_STRIDE, type SegFormer } from '../model/segformer.js';
import { resizeBilinear } from '../model/ops.js';
import { tf, type Tensor } from '../tf.js';

export interface InferOptions {
  /** Short edges to resize to; one = single scale. */
  scales: number[];
  flip: boolean;
  /** What to average: softmax probabilities (default) or the raw cosine similarities. */
  output?: 'probabilities' | 'cosine';
}

export interface DecodedImage {
  width: number;
  height: number;
  /** RGB bytes, width × height × 3. */
  rgb: Uint8Array;
}

export async function decodeImage(file: string): Promise<DecodedImage> {
  const { data, info } = await sharp(file).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, rgb: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}

async function resized(image: DecodedImage, shortEdge: number): Promise<{ width: number; height: number; pixels: Float32Array }> {
  const scale = shortEdge / Math.min(image.width, image.height);
  const width = Math.max(1, Math.round(image.width * scale));
  const height = Math.max(1, Math.round(image.height * scale));
  const raw = width === image.width && height === image.height
    ? image.rgb
    : new Uint8Array(await sharp(image.rgb, { raw: { width: image.width, height: image.height, channels: 3 } }).resize(width, height, { fit: 'fill' }).raw().toBuffer());
  const pixels = new Float32Array(width * height * 3);
  for (let i = 0; i < width * height; i++) {
    for (let c = 0; c < 3; c++) pixels[3 * i + c] = ((raw[3 * i + c] as number) - (PIXEL_MEAN[c] as number)) / (PIXEL_STD[c] as number);
  }
  return { width, height, pixels };
}

/**
 * Probabilities [height, width, K] (a tensor the caller disposes) over the K classes whose
 * embeddings are `classEmb` [K, D].
 */
export async function classProbabilities(model: SegFormer, image: DecodedImage, classEmb: Tensor, options: InferOptions): Promise<Tensor> {
  const k = classEmb.shape[0] as number;
  let sum: Tensor = tf.zeros([image.height, image.width, k]);
  let passes = 0;
  for (const scale of options.scales) {
    const input = await resized(image, scale);
    for (const flipped of options.flip ? [false, true] : [false]) {
      const next = tf.tidy(() => {
        let x: Tensor = tf.tensor4d(input.pixels, [1, input.height, input.width, 3]);
        if (flipped) x = tf.reverse(x, 2);
        const emb = model.forward(x);
        // Cells that cover real pixels (the rest is padding up to a multiple of 32).
        const rows = Math.ceil(input.height / OUTPUT_STRIDE);
        const cols = Math.ceil(input.width / OUTPUT_STRIDE);
        const valid = tf.slice(emb, [0, 0, 0, 0], [1, rows, cols, emb.shape[3] as number]);
        const logits = cosineLogits(valid, classEmb, model.logTau);
        const values = options.output === 'cosine' ? tf.mul(logits, tf.exp(model.logTau)) : tf.softmax(logits);
        let probs: Tensor = tf.reshape(values, [1, rows, cols, k]);
        if (flipped) {
          // Undo the flip on the covered width: cell c of the flipped pass is cell cols−1−c.
          probs = tf.reverse(probs, 2);
        }
        // rows·4 resized pixels ↔ image.height·(rows·4 / input.height) original pixels.
        const outH = Math.round((image.height * rows * OUTPUT_STRIDE) / input.height);
        const outW = Math.round((image.width * cols * OUTPUT_STRIDE) / input.width);
        const full = resizeBilinear(probs, Math.max(outH, image.height), Math.max(outW, image.width));
        const cropped = tf.reshape(tf.slice(full, [0, 0, 0, 0], [1, image.height, image.width, k]), [image.height, image.width, k]);
        return tf.add(sum, cropped);
      });
      sum.dispose();
      sum = next;
      passes += 1;
    }
  }
  const mean = tf.div(sum, passes);
  sum.dispose();
  return mean;
}

/** Arg-max class per pixel of a probability map [h, w, K]. */
export function argmaxClasses(probs: Tensor): Int32Array {
  return tf.tidy(() => tf.argMax(probs, 2).dataSync() as Int32Array);
}
