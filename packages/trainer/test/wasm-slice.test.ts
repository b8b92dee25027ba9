import { describe, expect, it } from 'vitest';
import { installWasmSlice } from '../src/model/wasm-slice.js';
import { tf } from '../src/tf.js';

/** Slices and splits of every kind the training graph takes: rows, columns, inner boxes of rank 2 to 5, int32 and bool. */
function slices(): number[][] {
  const big = tf.reshape(tf.range(0, 64 * 24), [64, 24]);
  const x4 = tf.reshape(tf.range(0, 3 * 7 * 5 * 6), [3, 7, 5, 6]);
  const ints = tf.tensor2d([1, 2, 3, 4, 5, 6], [3, 2], 'int32');
  const bools = tf.tensor1d([true, false, true, true], 'bool');
  const x3 = tf.reshape(tf.range(0, 4 * 6 * 5), [4, 6, 5]);
  const x5 = tf.reshape(tf.range(0, 2 * 3 * 4 * 5 * 3), [2, 3, 4, 5, 3]);
  const parts = [
    ...tf.split(big, [20, 20, 24], 0),
    ...tf.split(big, [5, 19], 1),
    ...tf.split(x4, 3, 0),
    tf.slice(x4, [1, 2, 0, 1], [2, 4, 5, 3]),
    tf.slice(x4, [0, 1, 1, 0], [3, 5, 3, 6]),
    tf.slice(x4, [0, 0, 0, 2], [3, 7, 5, 1]),
    tf.slice(x4, [0, 0, 0, 0], [3, 7, 5, 6]),
    ...tf.split(ints, [1, 1], 1),
    tf.slice(x3, [1, 2, 1], [2, 3, 3]),
    tf.slice(x3, [0, 0, 4], [4, 6, 1]),
    ...tf.split(x3, [2, 4], 1),
    tf.slice(x5, [1, 1, 0, 2, 1], [1, 2, 3, 2, 2]),
    tf.slice(x5, [0, 0, 1, 0, 0], [2, 3, 2, 5, 3]),
    ...tf.split(x5, [1, 2], 4),
    tf.slice(bools, [1], [2]),
    tf.slice(big, [3, 0], [0, 24]),
  ];
  return parts.map((p) => [p.shape.length, ...p.shape, ...Array.from(p.dataSync())]);
}

describe('Slice and SplitV on the WebAssembly backend, read in place (wasm-slice.ts)', () => {
  it('give the cpu backend\'s values and shapes for every kind of slice', async () => {
    await tf.setBackend('cpu');
    const expected = slices();
    await tf.setBackend('wasm');
    const before = [tf.getKernel('Slice', 'wasm')?.kernelFunc, tf.getKernel('SplitV', 'wasm')?.kernelFunc];
    expect(before.every((f) => typeof f === 'function')).toBe(true);
    installWasmSlice();
    // The in-place kernels replace the registered ones (else this test would compare wasm's own slices).
    expect(tf.getKernel('Slice', 'wasm')?.kernelFunc).not.toBe(before[0]);
    expect(tf.getKernel('SplitV', 'wasm')?.kernelFunc).not.toBe(before[1]);
    expect(slices()).toEqual(expected);
    // The gradient of a split (a concat) and of a slice (a pad) are unchanged.
    const x = tf.reshape(tf.range(0, 12), [4, 3]);
    const [g] = tf.grads((t: tf.Tensor) => {
      const [a, b] = tf.split(t, [1, 3], 0) as [tf.Tensor, tf.Tensor];
      return tf.add(tf.sum(tf.mul(a, 2)), tf.sum(tf.slice(b, [1, 1], [2, 2])));
    })([x]);
    expect(Array.from((g as tf.Tensor).dataSync())).toEqual([2, 2, 2, 0, 0, 0, 0, 1, 1, 0, 1, 1]);
  });
});
