/** Tensor helpers shared by the trainer's numeric tests. */
import { seededRandom } from '@sentseg/common';
import { tf, type Tensor } from '../src/tf.js';

/** A tensor of `shape` with seeded values uniform in [−1, 1). */
export function randomTensor(shape: number[], seed: number): Tensor {
  const random = seededRandom(seed);
  const size = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(Float32Array.from({ length: size }, () => random() * 2 - 1), shape);
}

/** The largest absolute difference between two tensors of one shape. */
export const maxDiff = (a: Tensor, b: Tensor): number => (tf.max(tf.abs(tf.sub(a, b))).dataSync() as Float32Array)[0] as number;
