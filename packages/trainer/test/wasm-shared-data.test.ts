import { describe, expect, it } from 'vitest';
import { installWasmSharedData } from '../src/model/wasm-shared-data.js';
import { tf } from '../src/tf.js';

/** Gradients of ops that save their inputs or outputs (each save a clone) and cast them to float32 (Div's, Square's). */
function savedGradients(): number[][] {
  const x = tf.tensor2d([0.5, -1.25, 2, 3.5, -0.75, 1.5], [2, 3]);
  const w = tf.tensor2d([1, -2, 0.5, 0.25, 3, -1], [3, 2]);
  const [gx, gw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => {
    const y = tf.matMul(a, b);
    return tf.sum(tf.div(tf.exp(tf.sigmoid(y)), tf.add(tf.square(y), 1)));
  })([x, w]);
  return [gx, gw].map((g) => Array.from((g as tf.Tensor).dataSync()));
}

describe('Identity and same-dtype Cast on the WebAssembly backend share memory (wasm-shared-data.ts)', () => {
  it('a clone and a float32 → float32 cast hold the same values without a copy, and outlive their original', async () => {
    await tf.setBackend('cpu');
    const expected = savedGradients();
    await tf.setBackend('wasm');
    const before = [tf.getKernel('Identity', 'wasm')?.kernelFunc, tf.getKernel('Cast', 'wasm')?.kernelFunc];
    installWasmSharedData();
    expect(tf.getKernel('Identity', 'wasm')?.kernelFunc).not.toBe(before[0]);
    expect(tf.getKernel('Cast', 'wasm')?.kernelFunc).not.toBe(before[1]);

    const x = tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3]);
    const start = tf.memory();
    const copy = tf.clone(x);
    const same = tf.cast(x, 'float32');
    // Two more tensors, no more data: each is another reference to x's memory.
    expect(tf.memory().numTensors).toBe(start.numTensors + 2);
    expect(tf.memory().numDataBuffers).toBe(start.numDataBuffers);
    x.dispose();
    expect(Array.from(copy.dataSync())).toEqual([1, 2, 3, 4, 5, 6]);
    copy.dispose();
    expect(Array.from(same.dataSync())).toEqual([1, 2, 3, 4, 5, 6]);
    expect(same.shape).toEqual([2, 3]);
    same.dispose();
    expect(tf.memory().numDataBuffers).toBe(start.numDataBuffers - 1);

    // A cast to another dtype still converts, into its own memory.
    const f = tf.tensor1d([1.75, -2.5, 3]);
    const i = tf.cast(f, 'int32');
    expect(i.dtype).toBe('int32');
    expect(Array.from(i.dataSync())).toEqual([1, -2, 3]);
    f.dispose();
    expect(Array.from(tf.cast(i, 'float32').dataSync())).toEqual([1, -2, 3]);

    // Gradients whose ops saved and cast tensors match the cpu backend's.
    const got = savedGradients();
    got.forEach((g, k) => g.forEach((v, j) => expect(v).toBeCloseTo((expected[k] as number[])[j] as number, 4)));
  });
});
