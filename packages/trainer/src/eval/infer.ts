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
  /** Sliding window: predict tiles of this size (stride 2/3 of it) when the resized image is larger. */
  window?: number;
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
 * Class values [h, w, K] for a normalised image x [1, h, w, 3] at its own size: the 1/4-resolution
 * output upsampled (bilinear) to the padded size and cropped to h × w.
 */
function valuesAt(model: SegFormer, x: Tensor, classEmb: Tensor, output: 'probabilities' | 'cosine', flipped: boolean): Tensor {
  return tf.tidy(() => {
    const [, h, w] = x.shape as [number, number, number, number];
    const k = classEmb.shape[0] as number;
    const emb = model.forward(flipped ? tf.reverse(x, 2) : x);
    const [, rows, cols] = emb.shape as [number, number, number, number];
    const logits = cosineLogits(emb, classEmb, model.logTau);
    const values = output === 'cosine' ? tf.mul(logits, tf.exp(model.logTau)) : tf.softmax(logits);
    const up = resizeBilinear(tf.reshape(values, [1, rows, cols, k]), rows * OUTPUT_STRIDE, cols * OUTPUT_STRIDE);
    const cropped = tf.reshape(tf.slice(up, [0, 0, 0, 0], [1, h, w, k]), [h, w, k]);
    return flipped ? tf.reverse(cropped, 1) : cropped;
  });
}

/** Window starts along one axis: 0, stride, …, and the last flush with the end. */
export function windowStarts(size: number, window: number, stride: number): number[] {
  if (size <= window) return [0];
  const starts: number[] = [];
  for (let s = 0; s + window < size; s += stride) starts.push(s);
  starts.push(size - window);
  return starts;
}

/**
 * Class values [h, w, K] of a resized image, predicted whole or, when `window` is set and the
 * image is larger, in window × window tiles with a stride of 2/3 window whose values are averaged
 * where they overlap.
 */
function valuesResized(model: SegFormer, input: { width: number; height: number; pixels: Float32Array }, classEmb: Tensor, output: 'probabilities' | 'cosine', flipped: boolean, window?: number): Tensor {
  const { width: w, height: h } = input;
  if (!window || (w <= window && h <= window)) {
    return tf.tidy(() => valuesAt(model, tf.tensor4d(input.pixels, [1, h, w, 3]), classEmb, output, flipped));
  }
  const k = classEmb.shape[0] as number;
  const stride = Math.max(1, Math.round((2 * window) / 3));
  const sum = new Float32Array(h * w * k);
  const count = new Float32Array(h * w);
  for (const top of windowStarts(h, window, stride)) {
    for (const left of windowStarts(w, window, stride)) {
      const wh = Math.min(window, h);
      const ww = Math.min(window, w);
      const tile = new Float32Array(wh * ww * 3);
      for (let y = 0; y < wh; y++) tile.set(input.pixels.subarray(((top + y) * w + left) * 3, ((top + y) * w + left + ww) * 3), y * ww * 3);
      const values = tf.tidy(() => valuesAt(model, tf.tensor4d(tile, [1, wh, ww, 3]), classEmb, output, flipped).dataSync() as Float32Array);
      for (let y = 0; y < wh; y++) {
        for (let x = 0; x < ww; x++) {
          const o = (top + y) * w + left + x;
          count[o] = (count[o] as number) + 1;
          for (let c = 0; c < k; c++) sum[o * k + c] = (sum[o * k + c] as number) + (values[(y * ww + x) * k + c] as number);
        }
      }
    }
  }
  for (let o = 0; o < h * w; o++) for (let c = 0; c < k; c++) sum[o * k + c] = (sum[o * k + c] as number) / (count[o] as number);
  return tf.tensor3d(sum, [h, w, k]);
}

/**
 * Probabilities [height, width, K] (a tensor the caller disposes) over the K classes whose
 * embeddings are `classEmb` [K, D], at the image's own resolution.
 */
export async function classProbabilities(model: SegFormer, image: DecodedImage, classEmb: Tensor, options: InferOptions): Promise<Tensor> {
  const k = classEmb.shape[0] as number;
  const output = options.output ?? 'probabilities';
  let sum: Tensor = tf.zeros([image.height, image.width, k]);
  let passes = 0;
  for (const scale of options.scales) {
    const input = await resized(image, scale);
    for (const flipped of options.flip ? [false, true] : [false]) {
      const atScale = valuesResized(model, input, classEmb, output, flipped, options.window);
      const next = tf.tidy(() => tf.add(sum, tf.reshape(resizeBilinear(tf.reshape(atScale, [1, input.height, input.width, k]), image.height, image.width), [image.height, image.width, k])));
      atScale.dispose();
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
