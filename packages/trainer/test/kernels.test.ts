import { seededRandom } from '@sentseg/common';
import { afterEach, describe, expect, it } from 'vitest';
import { kernels, kernelsFor, NATIVE_KERNELS, PORTABLE_KERNELS, useKernels, type KernelTable } from '../src/model/kernels.js';
import { selectBackend } from '../src/backend/select.js';
import { lossHD } from '../src/losses/hd.js';
import { SegFormer, segformerConfig } from '../src/model/segformer.js';
import { tf, type Tensor } from '../src/tf.js';
import { maxDiff, randomTensor } from './tensors.js';

await tf.setBackend('cpu');

/** Value and gradients of Σ op(inputs) · r for both tables, on the cpu backend (which has every kernel). */
function both(op: (t: KernelTable, ...xs: Tensor[]) => Tensor, inputs: Tensor[], seed: number): { value: [Tensor, Tensor]; grads: [Tensor[], Tensor[]] } {
  const probe = op(PORTABLE_KERNELS, ...inputs);
  const r = randomTensor([...probe.shape], seed);
  const run = (t: KernelTable) => tf.grads((...xs: Tensor[]) => tf.sum(tf.mul(op(t, ...xs), r)))(inputs);
  return { value: [op(NATIVE_KERNELS, ...inputs), probe], grads: [run(NATIVE_KERNELS), run(PORTABLE_KERNELS)] };
}

describe('the op tables (native kernels and the portable work-arounds) agree on the cpu backend', () => {
  afterEach(() => {
    useKernels(PORTABLE_KERNELS);
  });

  it.each([
    [7, 4, 3, [2, 19, 22, 3]],
    [3, 2, 1, [2, 9, 8, 5]],
    [8, 8, 0, [1, 16, 24, 4]],
    [2, 2, 0, [2, 8, 6, 3]],
    [2, 2, 0, [2, 9, 7, 3]],
  ] as const)('conv2d k%i stride %i pad %i on %j: values and gradients (input, weights, bias) to 1e-5', (k, stride, pad, shape) => {
    const cin = shape[3];
    const { value, grads } = both((t, x, w, b) => t.conv2d(x as Tensor, w as Tensor, b, k, stride, pad), [randomTensor([...shape], 1), randomTensor([k * k * cin, 6], 2), randomTensor([6], 3)], 4);
    expect(value[0].shape).toEqual(value[1].shape);
    expect(maxDiff(value[0], value[1])).toBeLessThan(1e-5);
    grads[0].forEach((g, i) => expect(maxDiff(g, grads[1][i] as Tensor)).toBeLessThan(1e-5));
  });

  it('conv2d without the input gradient (the images): the same weight and bias gradients, and none computed for the input', () => {
    const inputs = [randomTensor([2, 19, 22, 3], 41), randomTensor([7 * 7 * 3, 6], 42), randomTensor([6], 43)];
    const full = both((t, x, w, b) => t.conv2d(x as Tensor, w as Tensor, b, 7, 4, 3), inputs, 44);
    const lean = both((t, x, w, b) => t.conv2d(x as Tensor, w as Tensor, b, 7, 4, 3, false), inputs, 44);
    expect(maxDiff(lean.value[1], full.value[0])).toBeLessThan(1e-5);
    for (const i of [1, 2]) expect(maxDiff(lean.grads[1][i] as Tensor, full.grads[0][i] as Tensor)).toBeLessThan(1e-5);
    expect(maxDiff(full.grads[1][0] as Tensor, full.grads[0][0] as Tensor)).toBeLessThan(1e-5);
    expect(tf.max(tf.abs(lean.grads[1][0] as Tensor)).dataSync()[0]).toBe(0);
  });

  // Batch 1 takes its own branch of the filter gradient (no sum over the images).
  it.each([
    [[2, 5, 7, 4]],
    [[1, 6, 5, 3]],
  ] as const)('depthwise 3×3 on %j: values and gradients (input, weights, bias) to 1e-5', (shape) => {
    const c = shape[3];
    const { value, grads } = both((t, x, w, b) => t.depthwiseConv3x3(x as Tensor, w as Tensor, b as Tensor), [randomTensor([...shape], 5), randomTensor([9, c], 6), randomTensor([c], 7)], 8);
    expect(grads[0]).toHaveLength(3);
    expect(maxDiff(value[0], value[1])).toBeLessThan(1e-5);
    grads[0].forEach((g, i) => expect(maxDiff(g, grads[1][i] as Tensor)).toBeLessThan(1e-5));
  });

  it('bilinear resize: values equal the half-pixel kernel, and the gradient is the interpolation\'s adjoint (not the kernel\'s, which ignores half-pixel centres)', () => {
    const x = randomTensor([2, 3, 5, 3], 9);
    const { value, grads } = both((t, xx) => t.resizeBilinear(xx as Tensor, 12, 20), [x], 10);
    expect(maxDiff(value[0], tf.image.resizeBilinear(x as tf.Tensor4D, [12, 20], false, true))).toBeLessThan(1e-5);
    expect(maxDiff(grads[0][0] as Tensor, grads[1][0] as Tensor)).toBeLessThan(1e-5);
    // The adjoint: <resize(x), r> = <x, resizeᵀ(r)> for the r the gradient was taken against.
    const r = randomTensor([2, 12, 20, 3], 10);
    const lhs = tf.sum(tf.mul(kernels().resizeBilinear(x, 12, 20), r)).dataSync()[0] as number;
    const rhs = tf.sum(tf.mul(x, grads[0][0] as Tensor)).dataSync()[0] as number;
    expect(Math.abs(lhs - rhs)).toBeLessThan(1e-3);
    // The backend's ResizeBilinearGrad (here on a square map: on others the cpu backend's gets the shape wrong) differs.
    const sq = randomTensor([1, 4, 4, 2], 14);
    const r16 = randomTensor([1, 16, 16, 2], 15);
    const kernelGrad = tf.grad((xx: Tensor) => tf.sum(tf.mul(tf.image.resizeBilinear(xx as tf.Tensor4D, [16, 16], false, true), r16)))(sq);
    const adjoint = tf.grad((xx: Tensor) => tf.sum(tf.mul(kernels().resizeBilinear(xx, 16, 16), r16)))(sq);
    expect(maxDiff(kernelGrad, adjoint)).toBeGreaterThan(0.1);
  });

  it('one tiny-SegFormer forward and backward (L_HD): the same loss and the same gradient of every parameter to 1e-5', () => {
    const images = randomTensor([2, 64, 96, 3], 11);
    const labels = randomTensor([7, 16], 12);
    const random = seededRandom(13);
    const target = tf.tensor3d(Int32Array.from({ length: 2 * 16 * 24 }, (_, i) => (i % 11 === 0 ? 255 : Math.floor(random() * 7))), [2, 16, 24], 'int32');
    const model = new SegFormer(segformerConfig('tiny', 16), 3);
    const run = (t: KernelTable) => {
      useKernels(t);
      const { value, grads } = tf.variableGrads(() => lossHD(model.forward(images), labels, target, model.logTau) as tf.Scalar);
      return { value: value.dataSync()[0] as number, grads };
    };
    const native = run(NATIVE_KERNELS);
    const portable = run(PORTABLE_KERNELS);
    expect(Math.abs(native.value - portable.value)).toBeLessThan(1e-5);
    const names = Object.keys(portable.grads);
    expect(names.length).toBeGreaterThan(40);
    expect(Object.keys(native.grads).sort()).toEqual([...names].sort());
    const off = names.filter((name) => !(maxDiff(native.grads[name] as Tensor, portable.grads[name] as Tensor) < 1e-5));
    expect(off).toEqual([]);
    model.params.dispose();
  });

  it('the portable table on wasm gives the cpu\'s native values and gradients (conv 7/4/3 and depthwise 3×3)', async () => {
    const run = async (backend: string, table: KernelTable) => {
      await tf.setBackend(backend);
      const x = randomTensor([2, 21, 18, 3], 21);
      const w = randomTensor([7 * 7 * 3, 5], 22);
      const b = randomTensor([5], 23);
      const dw = randomTensor([9, 5], 24);
      const db = randomTensor([5], 25);
      const r = randomTensor([2, 6, 5, 5], 26);
      const loss = (xx: Tensor, ww: Tensor, bb: Tensor, dww: Tensor, dbb: Tensor) => tf.sum(tf.mul(table.depthwiseConv3x3(table.conv2d(xx, ww, bb, 7, 4, 3), dww, dbb), r));
      const out = [loss(x, w, b, dw, db), ...tf.grads(loss)([x, w, b, dw, db])];
      return out.map((t) => Array.from(t.dataSync()));
    };
    const wasm = await run('wasm', PORTABLE_KERNELS);
    const cpu = await run('cpu', NATIVE_KERNELS);
    wasm.forEach((g, i) => g.forEach((v, j) => expect(Math.abs(v - (cpu[i]?.[j] as number))).toBeLessThan(1e-3)));
  });

  it('is chosen per backend when the backend is selected: native on cpu (it has every gradient kernel), portable on wasm', async () => {
    expect(kernelsFor('cpu')).toBe(NATIVE_KERNELS);
    expect(kernelsFor('wasm')).toBe(PORTABLE_KERNELS);
    expect((await selectBackend('wasm')).kernels).toBe('portable');
    expect(kernels()).toBe(PORTABLE_KERNELS);
    expect((await selectBackend('cpu')).kernels).toBe('native');
    expect(kernels()).toBe(NATIVE_KERNELS);
  });
});
