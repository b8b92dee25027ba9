import { seededRandom } from '@sentseg/common';
import { describe, expect, it } from 'vitest';
import { lossHD } from '../src/losses/hd.js';
import { gradients, variableGrads } from '../src/model/backprop.js';
import { applyRecompute, type RecomputeMode } from '../src/model/memory.js';
import { recompute } from '../src/model/recompute.js';
import { SegFormer, segformerConfig } from '../src/model/segformer.js';
import { tf, type Tensor } from '../src/tf.js';
import { randomTensor } from './tensors.js';

/** A SegFormer L_HD step's loss, on 2 images of side × side against 5 labels. */
function segformerStep(variant: string, side: number, mode: RecomputeMode) {
  const model = new SegFormer(segformerConfig(variant, 8), 3);
  applyRecompute(model, mode);
  // Bands of one output row: the decoder runs as 16 recomputed parts, each its own gradients() call.
  model.decoderBandElements = 1;
  const images = randomTensor([2, side, side, 3], 4);
  const labels = randomTensor([5, 8], 5);
  const random = seededRandom(6);
  const target = tf.tensor3d(Int32Array.from({ length: 2 * (side / 4) ** 2 }, () => Math.floor(random() * 6)), [2, side / 4, side / 4], 'int32');
  const vars = model.params.entries().map(([, v]) => v);
  const loss = () => lossHD(model.forward(images), labels, target, model.logTau) as tf.Scalar;
  const dispose = () => {
    tf.dispose([images, labels, target]);
    model.params.dispose();
  };
  return { vars, loss, dispose };
}

/** `fn`'s result and the most bytes of tensors alive after any kernel it ran. */
function withPeak<T>(fn: () => T): { result: T; peakBytes: number } {
  const engine = tf.engine() as unknown as { runKernel: (...args: unknown[]) => unknown; state: { numBytes: number } };
  const runKernel = engine.runKernel;
  let peakBytes = engine.state.numBytes;
  engine.runKernel = (...args: unknown[]) => {
    const out = runKernel.apply(engine, args);
    peakBytes = Math.max(peakBytes, engine.state.numBytes);
    return out;
  };
  try {
    return { result: fn(), peakBytes };
  } finally {
    engine.runKernel = runKernel;
  }
}

/** A custom op a + b whose gradient hands its dy on as is to both inputs, and two variables x, w. */
function handingOn() {
  const passOn = tf.customGrad((...args: (Tensor | ((saved: Tensor[]) => void))[]) => {
    const [a, b] = args as [Tensor, Tensor];
    return { value: tf.add(a, b), gradFunc: (dy: Tensor) => [dy, dy] };
  }) as (a: Tensor, b: Tensor) => Tensor;
  return { passOn, x: tf.variable(tf.tensor1d([1, 2, 3])), w: tf.variable(tf.tensor1d([0.5, -1, 2])) };
}

const bitsOf = (t: Tensor) => Array.from(new Uint32Array((t.dataSync() as Float32Array).slice().buffer));

describe('back-propagation that frees as it goes (model/backprop.ts)', () => {
  for (const backend of ['cpu', 'wasm']) {
    // encoder and on take the recomputed segments' gradients with gradients() inside the outer backward pass.
    for (const mode of ['off', 'encoder', 'on'] as const) {
      it(`${backend}, model.recompute=${mode}: a SegFormer step's loss and every weight gradient equal tf.variableGrads's bit for bit, leaving no tensor behind`, async () => {
        await tf.setBackend(backend);
        const { vars, loss, dispose } = segformerStep('tiny', 64, mode);
        const before = tf.memory().numTensors;
        const engine = tf.variableGrads(loss, vars);
        const ours = variableGrads(loss, vars);
        expect(Object.keys(ours.grads)).toEqual(Object.keys(engine.grads));
        expect(bitsOf(ours.value)).toEqual(bitsOf(engine.value));
        for (const v of vars) expect(bitsOf(ours.grads[v.name] as Tensor), v.name).toEqual(bitsOf(engine.grads[v.name] as Tensor));
        tf.dispose([engine.value, ...Object.values(engine.grads), ours.value, ...Object.values(ours.grads)]);
        expect(tf.memory().numTensors).toBe(before);
        dispose();
      });
    }
  }

  it('a SegFormer-B0 step that keeps its activations peaks at under 2/3 of the memory tf.variableGrads takes (wasm, 2 × 128×128)', async () => {
    await tf.setBackend('wasm');
    const { vars, loss, dispose } = segformerStep('b0', 128, 'off');
    const engine = withPeak(() => tf.variableGrads(loss, vars));
    const ours = withPeak(() => variableGrads(loss, vars));
    for (const r of [engine.result, ours.result]) tf.dispose([r.value, ...Object.values(r.grads)]);
    dispose();
    expect(ours.peakBytes).toBeLessThan((2 / 3) * engine.peakBytes);
  });

  it('a custom gradient that hands its dy on as is, to one input or to two, still gets the right gradients (a gradient held twice is freed once)', async () => {
    await tf.setBackend('cpu');
    const { passOn, x, w } = handingOn();
    const f = () => tf.sum(tf.mul(passOn(tf.square(x), tf.mul(w, x)), tf.tensor1d([1, 10, 100]))) as tf.Scalar;
    const expected = tf.variableGrads(f, [x, w]);
    const before = tf.memory().numTensors;
    const got = variableGrads(f, [x, w]);
    // d/dx of c·(x² + w·x) is c·(2x + w); d/dw is c·x.
    expect(Array.from(got.grads[x.name]?.dataSync() ?? [])).toEqual([2.5, 30, 800]);
    expect(Array.from(got.grads[w.name]?.dataSync() ?? [])).toEqual([1, 20, 300]);
    expect(Array.from(got.grads[x.name]?.dataSync() ?? [])).toEqual(Array.from(expected.grads[x.name]?.dataSync() ?? []));
    tf.dispose([got.value, ...Object.values(got.grads)]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([expected.value, ...Object.values(expected.grads), x, w]);
  });

  it('a recomputed segment whose output gradient is also held for another tensor (handed on as is) leaves that gradient alone', async () => {
    await tf.setBackend('cpu');
    const { passOn, x, w } = handingOn();
    const segment = (a: Tensor, b: Tensor) => tf.mul(b, a);
    // x² is made before the recomputed w·x: the backward pass reaches the segment first.
    const f = (redo: boolean) => () => {
      const squared = tf.square(x);
      return tf.sum(tf.mul(passOn(redo ? recompute(segment, [x, w]) : segment(x, w), squared), tf.tensor1d([1, 10, 100]))) as tf.Scalar;
    };
    const plain = variableGrads(f(false), [x, w]);
    const redone = variableGrads(f(true), [x, w]);
    // d/dx of c·(w·x + x²) is c·(w + 2x); d/dw is c·x.
    expect(Array.from(redone.grads[x.name]?.dataSync() ?? [])).toEqual([2.5, 30, 800]);
    expect(Array.from(redone.grads[w.name]?.dataSync() ?? [])).toEqual([1, 20, 300]);
    expect(Array.from(plain.grads[x.name]?.dataSync() ?? [])).toEqual([2.5, 30, 800]);
    tf.dispose([plain.value, redone.value, ...Object.values(plain.grads), ...Object.values(redone.grads), x, w]);
  });

  it('frees what a custom gradient makes besides its result as each op is done, not when the whole backward pass ends', async () => {
    await tf.setBackend('cpu');
    // Each op's gradient makes a temporary a hundred times its input's size: 400 kB.
    const n = 1000;
    const doubled = tf.customGrad((...args: (Tensor | ((saved: Tensor[]) => void))[]) => {
      const a = args[0] as Tensor;
      return { value: tf.mul(a, 2), gradFunc: (dy: Tensor) => [tf.mul(tf.mean(tf.tile(tf.reshape(dy, [1, n]), [100, 1]), 0), 2)] };
    });
    const x = tf.variable(tf.ones([n]));
    const f = () => {
      let y: Tensor = x;
      for (let i = 0; i < 10; i++) y = doubled(y);
      return tf.sum(y) as tf.Scalar;
    };
    const before = tf.memory().numBytes;
    const { result, peakBytes } = withPeak(() => variableGrads(f, [x]));
    // d/dx of Σ 2¹⁰·x is 1024 everywhere (every value a power of two: exact).
    expect(new Set(result.grads[x.name]?.dataSync())).toEqual(new Set([1024]));
    // One temporary at a time (ten, 4 MB, if they were held to the end).
    expect(peakBytes - before).toBeLessThan(1_000_000);
    tf.dispose([result.value, ...Object.values(result.grads), x]);
  });

  it('keeps a dy the caller passes, and refuses a y that no x reaches unless told to allow it', async () => {
    await tf.setBackend('cpu');
    const x = tf.tensor1d([1, 2]);
    const dy = tf.tensor1d([3, 4]);
    const { value, grads } = gradients(() => tf.mul(x, x), [x], dy);
    expect(Array.from(grads[0]?.dataSync() ?? [])).toEqual([6, 16]);
    expect(dy.isDisposed).toBe(false);
    const other = tf.tensor1d([5, 6]);
    expect(() => gradients(() => tf.mul(other, 2), [x])).toThrow(/no operation leads from x to y/);
    const allowed = gradients(() => tf.mul(other, 2), [x], null, true);
    expect(allowed.grads).toEqual([null]);
    tf.dispose([value, ...grads.filter((g): g is Tensor => g !== null), allowed.value, x, dy, other]);
  });
});
