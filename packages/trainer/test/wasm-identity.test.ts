import { describe, expect, it } from 'vitest';
import { installWasmIdentity } from '../src/model/wasm-identity.js';
import { tf } from '../src/tf.js';

/** Gradients of ops that save their inputs or outputs for the backward pass (each save is a clone). */
function savedGradients(): number[][] {
  const x = tf.tensor2d([0.5, -1.25, 2, 3.5, -0.75, 1.5], [2, 3]);
  const w = tf.tensor2d([1, -2, 0.5, 0.25, 3, -1], [3, 2]);
  const [gx, gw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.exp(tf.mul(tf.sigmoid(tf.matMul(a, b)), tf.square(tf.matMul(a, b))))))([x, w]);
  return [gx, gw].map((g) => Array.from((g as tf.Tensor).dataSync()));
}

describe('Identity on the WebAssembly backend shares memory (wasm-identity.ts)', () => {
  it('a clone holds the same values without a copy, and outlives its original', async () => {
    await tf.setBackend('cpu');
    const expected = savedGradients();
    await tf.setBackend('wasm');
    const before = tf.getKernel('Identity', 'wasm')?.kernelFunc;
    installWasmIdentity();
    expect(tf.getKernel('Identity', 'wasm')?.kernelFunc).not.toBe(before);

    const x = tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3]);
    const start = tf.memory();
    const copy = tf.clone(x);
    // One more tensor, no more data: the clone is a second reference to x's memory.
    expect(tf.memory().numTensors).toBe(start.numTensors + 1);
    expect(tf.memory().numDataBuffers).toBe(start.numDataBuffers);
    x.dispose();
    expect(Array.from(copy.dataSync())).toEqual([1, 2, 3, 4, 5, 6]);
    expect(copy.shape).toEqual([2, 3]);
    copy.dispose();
    expect(tf.memory().numDataBuffers).toBe(start.numDataBuffers - 1);

    // Gradients whose ops saved tensors (through Identity) match the cpu backend's.
    const got = savedGradients();
    got.forEach((g, i) => g.forEach((v, j) => expect(v).toBeCloseTo((expected[i] as number[])[j] as number, 4)));
  });
});
