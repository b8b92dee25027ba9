import { tf, type Tensor } from '../tf.js';
import { l2Normalize, linear } from '../model/ops.js';

/** A box on the embedding map, in that map's pixel units (x0 ≤ x1, y0 ≤ y1), of image `image`. */
export interface MapBox {
  image: number;
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

/**
 * RoI average pooling weights: row r holds, for every pixel of the n·h·w map, the area of that
 * pixel inside box r divided by the box's area, so (weights · map) is the mean over the box with
 * partial pixels weighted by their overlap. Boxes outside the map get an all-zero row.
 */
export function roiPoolWeights(boxes: MapBox[], n: number, h: number, w: number): Float32Array {
  const weights = new Float32Array(boxes.length * n * h * w);
  boxes.forEach((box, r) => {
    const x0 = Math.max(0, box.x0);
    const y0 = Math.max(0, box.y0);
    const x1 = Math.min(w, box.x1);
    const y1 = Math.min(h, box.y1);
    if (x1 <= x0 || y1 <= y0) return;
    const area = (x1 - x0) * (y1 - y0);
    const base = r * n * h * w + box.image * h * w;
    for (let y = Math.floor(y0); y < Math.ceil(y1); y++) {
      const dy = Math.min(y + 1, y1) - Math.max(y, y0);
      for (let x = Math.floor(x0); x < Math.ceil(x1); x++) {
        const dx = Math.min(x + 1, x1) - Math.max(x, x0);
        weights[base + y * w + x] = (dx * dy) / area;
      }
    }
  });
  return weights;
}

/**
 * L_WD = (1/P) Σ_r ‖v*_r − v_r‖₁: v_r is the RoI-average-pooled box of the embedding map after a
 * 1×1 convolution (conv.w [D, Dclip], conv.b [Dclip]), v*_r the CLIP image embedding of the box
 * crop (clipBoxEmb [P, Dclip]); both L2-normalised. pixelEmb [n, h, w, D]. 0 when there are no boxes.
 */
export function lossWD(pixelEmb: Tensor, boxes: MapBox[], clipBoxEmb: Tensor, conv: { w: Tensor; b: Tensor }): Tensor {
  if (boxes.length === 0) return tf.scalar(0);
  if (clipBoxEmb.shape[0] !== boxes.length) throw new Error(`${boxes.length} boxes but ${clipBoxEmb.shape[0]} CLIP box embeddings`);
  const [n, h, w] = pixelEmb.shape as [number, number, number, number];
  const projected = linear(pixelEmb, conv.w, conv.b);
  const dim = projected.shape[3] as number;
  const pool = tf.tensor2d(roiPoolWeights(boxes, n, h, w), [boxes.length, n * h * w]);
  const pooled = tf.matMul(pool, tf.reshape(projected, [n * h * w, dim]));
  const distance = tf.sum(tf.abs(tf.sub(l2Normalize(clipBoxEmb), l2Normalize(pooled))), 1);
  return tf.mean(distance);
}
