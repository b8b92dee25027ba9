import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { addKeepingNothing, affineFast, batchMatMulFast, bilinearMatrix, col2im, conv2d, conv2dIm2col, depthwiseConv3x3, gelu, layerNorm, resizeBilinear } from '../src/model/ops.js';
import { SegFormer, segformerConfig, SEGFORMER_VARIANTS } from '../src/model/segformer.js';
import { loadWeights, saveWeights } from '../src/model/weights-io.js';
import { tf, type Tensor } from '../src/tf.js';
import { tempDir } from '../../../tests/utils.js';
import { maxDiff, randomTensor } from './tensors.js';

await tf.setBackend('cpu');

describe('matrix-product layers equal TensorFlow.js\'s own kernels', () => {
  it.each([
    [7, 4, 3, [1, 19, 22, 3]],
    [3, 2, 1, [2, 9, 8, 5]],
    [8, 8, 0, [1, 16, 24, 4]],
    [3, 1, 1, [1, 5, 6, 2]],
  ] as const)('conv2d k%i stride %i pad %i on %j', (k, stride, pad, shape) => {
    const x = randomTensor([...shape], 1);
    const cin = shape[3];
    const filter = randomTensor([k, k, cin, 6], 2);
    const bias = randomTensor([6], 3);
    const ours = conv2d(x, tf.reshape(filter, [k * k * cin, 6]), bias, k, stride, pad);
    const theirs = tf.add(tf.conv2d(x as tf.Tensor4D, filter as tf.Tensor4D, stride, [[0, 0], [pad, pad], [pad, pad], [0, 0]]), bias);
    expect(ours.shape).toEqual(theirs.shape);
    expect(maxDiff(ours, theirs)).toBeLessThan(1e-4);
    expect(maxDiff(conv2dIm2col(x, tf.reshape(filter, [k * k * cin, 6]), bias, k, stride, pad), theirs)).toBeLessThan(1e-4);
    // Gradients (input, filter, bias) of the backend-kernel convolution equal those of the
    // pure im2col product, differentiated through slices by TensorFlow.js.
    const r = randomTensor([...theirs.shape], 4);
    const loss = (f: typeof conv2d) => (xx: Tensor, ww: Tensor, bb: Tensor) => tf.sum(tf.mul(f(xx, ww, bb, k, stride, pad), r));
    const w2 = tf.reshape(filter, [k * k * cin, 6]);
    const ga = tf.grads(loss(conv2d))([x, w2, bias]);
    const gb = tf.grads(loss(conv2dIm2col))([x, w2, bias]);
    ga.forEach((g, i) => expect(maxDiff(g, gb[i] as Tensor)).toBeLessThan(1e-3));
  });

  // k = stride without padding (the spatial reduction) takes its input gradient as a product; 9×7 leaves a row and a column past the last window.
  it.each([
    [7, 4, 3, [2, 21, 18, 3]],
    [2, 2, 0, [2, 9, 7, 3]],
    [4, 4, 0, [1, 8, 12, 6]],
  ] as const)('gives the same gradients on the WebAssembly backend (k%i stride %i pad %i on %j)', async (k, stride, pad, shape) => {
    const grads = async (backend: string) => {
      await tf.setBackend(backend);
      const x = randomTensor([...shape], 11);
      const w = randomTensor([k * k * shape[3], 5], 12);
      const b = randomTensor([5], 13);
      const out = (size: number) => Math.floor((size + 2 * pad - k) / stride) + 1;
      const r = randomTensor([shape[0], out(shape[1]), out(shape[2]), 5], 14);
      const g = tf.grads((xx: Tensor, ww: Tensor, bb: Tensor) => tf.sum(tf.mul(conv2d(xx, ww, bb, k, stride, pad), r)))([x, w, b]);
      return g.map((t) => Array.from(t.dataSync()));
    };
    const wasm = await grads('wasm');
    const cpu = await grads('cpu');
    wasm.forEach((g, i) => g.forEach((v, j) => expect(Math.abs(v - (cpu[i]?.[j] as number))).toBeLessThan(1e-3)));
  });

  it.each([[1], [3]])('batched product of %i matrices (the attention\'s): values and gradients equal tf.matMul\'s on cpu and on wasm', async (batch) => {
    const run = async (backend: string, product: (a: Tensor, b: Tensor) => Tensor) => {
      await tf.setBackend(backend);
      const a = randomTensor([batch, 7, 5], 31);
      const b = randomTensor([batch, 5, 4], 32);
      const r = randomTensor([batch, 7, 4], 33);
      const loss = (aa: Tensor, bb: Tensor) => tf.sum(tf.mul(product(aa, bb), r));
      return [product(a, b), ...tf.grads(loss)([a, b])].map((t) => ({ shape: t.shape, values: Array.from(t.dataSync()) }));
    };
    const theirs = await run('cpu', (a, b) => tf.matMul(a, b));
    for (const backend of ['cpu', 'wasm']) {
      const ours = await run(backend, batchMatMulFast);
      ours.forEach((t, i) => {
        expect(t.shape).toEqual(theirs[i]?.shape);
        t.values.forEach((v, j) => expect(Math.abs(v - (theirs[i]?.values[j] as number))).toBeLessThan(1e-5));
      });
    }
    await tf.setBackend('cpu');
  });

  it.each([[3, 8], [8, 3]])('affine layer [6, %i] → %i: values and gradients (input, weights, bias) equal tf.matMul\'s on wasm', async (k, n) => {
    const run = async (backend: string, layer: (x: Tensor, w: Tensor, b: Tensor) => Tensor) => {
      await tf.setBackend(backend);
      const inputs = [randomTensor([6, k], 51), randomTensor([k, n], 52), randomTensor([n], 53)];
      const r = randomTensor([6, n], 54);
      const loss = (x: Tensor, w: Tensor, b: Tensor) => tf.sum(tf.mul(layer(x, w, b), r));
      return [layer(...(inputs as [Tensor, Tensor, Tensor])), ...tf.grads(loss)(inputs)].map((t) => Array.from(t.dataSync()));
    };
    const ours = await run('wasm', affineFast);
    const theirs = await run('cpu', (x, w, b) => tf.add(tf.matMul(x, w), b));
    ours.forEach((values, i) => values.forEach((v, j) => expect(Math.abs(v - (theirs[i]?.[j] as number))).toBeLessThan(1e-5)));
    await tf.setBackend('cpu');
  });

  it('layer norm: values and gradients (input, γ, β) on wasm equal the op-by-op form\'s on cpu', async () => {
    const opByOp = (x: Tensor, g: Tensor, b: Tensor) => {
      const centred = tf.sub(x, tf.mean(x, -1, true));
      return tf.add(tf.mul(tf.div(centred, tf.sqrt(tf.add(tf.mean(tf.square(centred), -1, true), 1e-5))), g), b);
    };
    const run = async (backend: string, norm: (x: Tensor, g: Tensor, b: Tensor) => Tensor) => {
      await tf.setBackend(backend);
      const inputs = [tf.add(tf.mul(randomTensor([2, 5, 3, 8], 61), 3), 1), randomTensor([8], 62), randomTensor([8], 63)];
      const r = randomTensor([2, 5, 3, 8], 64);
      const loss = (x: Tensor, g: Tensor, b: Tensor) => tf.sum(tf.mul(norm(x, g, b), r));
      return [norm(...(inputs as [Tensor, Tensor, Tensor])), ...tf.grads(loss)(inputs)].map((t) => Array.from(t.dataSync()));
    };
    const ours = await run('wasm', (x, g, b) => layerNorm(x, g, b, 1e-5));
    const theirs = await run('cpu', opByOp);
    ours.forEach((values, i) => values.forEach((v, j) => expect(Math.abs(v - (theirs[i]?.[j] as number))).toBeLessThan(1e-5)));
    await tf.setBackend('cpu');
  });

  it('GELU on wasm (x·σ(2u)) gives the tanh form\'s values and gradients on cpu', async () => {
    const tanhForm = (t: Tensor) => tf.mul(tf.mul(0.5, t), tf.add(1, tf.tanh(tf.mul(Math.sqrt(2 / Math.PI), tf.add(t, tf.mul(0.044715, tf.pow(t, 3)))))));
    const run = async (backend: string, f: (t: Tensor) => Tensor) => {
      await tf.setBackend(backend);
      const y = tf.mul(randomTensor([200], 41), 6);
      const r = randomTensor([200], 42);
      return [f(y), tf.grad((t: Tensor) => tf.sum(tf.mul(f(t), r)))(y)].map((t) => Array.from(t.dataSync()));
    };
    const ours = await run('wasm', gelu);
    const theirs = await run('cpu', tanhForm);
    ours.forEach((values, i) => values.forEach((v, j) => expect(Math.abs(v - (theirs[i]?.[j] as number))).toBeLessThan(1e-5)));
    await tf.setBackend('cpu');
  });

  it('a sum that keeps neither operand: the values and gradients of tf.add, broadcasting included, with nothing saved', () => {
    const a = randomTensor([2, 3, 4, 5], 11);
    const cases: [Tensor, Tensor][] = [
      [a, randomTensor([2, 3, 4, 5], 12)],
      [randomTensor([1, 1, 1, 5], 13), a],
      [a, randomTensor([5], 14)],
    ];
    const r = randomTensor([2, 3, 4, 5], 15);
    for (const [x, y] of cases) {
      expect(maxDiff(addKeepingNothing(x, y), tf.add(x, y))).toBe(0);
      const ours = tf.grads((p: Tensor, q: Tensor) => tf.sum(tf.mul(addKeepingNothing(p, q), r)))([x, y]);
      const theirs = tf.grads((p: Tensor, q: Tensor) => tf.sum(tf.mul(tf.add(p, q), r)))([x, y]);
      ours.forEach((g, i) => {
        expect(g.shape).toEqual((i === 0 ? x : y).shape);
        expect(maxDiff(g, theirs[i] as Tensor)).toBeLessThan(1e-6);
      });
    }
    // What a gradient holds on to: tf.add saves both operands, this nothing.
    const saved = (f: (p: Tensor, q: Tensor) => Tensor) => {
      const engine = tf.engine() as unknown as { state: { activeTape: { saved?: Tensor[] }[] | null } };
      let count = 0;
      tf.grads((p: Tensor, q: Tensor) => {
        const y = f(p, q);
        count = (engine.state.activeTape ?? []).reduce((n, node) => n + (node.saved?.length ?? 0), 0);
        return tf.sum(y);
      })([a, a]);
      return count;
    };
    expect(saved((p, q) => tf.add(p, q))).toBe(2);
    expect(saved((p, q) => addKeepingNothing(p, q))).toBe(0);
  });

  it('col2im puts each window\'s taps back on the pixels they read (3×3 kernel, stride 2, padding 1, by hand)', () => {
    // A 3×3 image has four windows, centred on (0,0), (0,2), (2,0) and (2,2).
    const ones = col2im(new Float32Array(4 * 9).fill(1), 1, 2, 2, 3, 1, 2, 1, 3, 3);
    // How many windows read each pixel: the centre is in all four, a corner in one.
    expect(Array.from(ones)).toEqual([1, 2, 1, 2, 4, 2, 1, 2, 1]);
    // Each tap holds its index (ky·3 + kx): the centre pixel is tap 8 of the first window, 6 of
    // the second, 2 of the third and 0 of the fourth (16); a corner is the centre tap 4 of its window.
    const taps = Float32Array.from({ length: 4 * 9 }, (_, i) => i % 9);
    expect(Array.from(col2im(taps, 1, 2, 2, 3, 1, 2, 1, 3, 3))).toEqual([4, 8, 4, 8, 16, 8, 4, 8, 4]);
    // Channels stay apart, and a second image adds nothing to the first.
    const two = col2im(Float32Array.from({ length: 2 * 4 * 9 * 2 }, (_, i) => (i % 2 === 0 ? 1 : 10) * (i < 72 ? 1 : 100)), 2, 2, 2, 3, 2, 2, 1, 3, 3);
    expect(Array.from(two.subarray(0, 18))).toEqual([1, 10, 2, 20, 1, 10, 2, 20, 4, 40, 2, 20, 1, 10, 2, 20, 1, 10]);
    expect(two[18 + 8]).toBe(400);
  });

  it('depthwise 3×3', () => {
    const x = randomTensor([2, 5, 7, 4], 4);
    const w = randomTensor([9, 4], 5);
    const b = randomTensor([4], 6);
    const theirs = tf.add(tf.depthwiseConv2d(x as tf.Tensor4D, tf.reshape(w, [3, 3, 4, 1]) as tf.Tensor4D, 1, 'same'), b);
    expect(maxDiff(depthwiseConv3x3(x, w, b), theirs)).toBeLessThan(1e-5);
  });

  it('bilinear resize (half-pixel centres)', () => {
    const x = randomTensor([2, 3, 5, 3], 7);
    const theirs = tf.image.resizeBilinear(x as tf.Tensor4D, [12, 20], false, true);
    expect(maxDiff(resizeBilinear(x, 12, 20), theirs)).toBeLessThan(1e-5);
    const m = bilinearMatrix(4, 9);
    for (let r = 0; r < 9; r++) expect(m.slice(r * 4, r * 4 + 4).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
  });
});

// Removed after the file's tests (a hook registered inside a test would never run).
const dir = tempDir();

describe('SegFormer', () => {
  it('has the published MiT widths and depths', () => {
    expect(SEGFORMER_VARIANTS.b0).toMatchObject({ channels: [32, 64, 160, 256], depths: [2, 2, 2, 2], decoderDim: 256 });
    expect(SEGFORMER_VARIANTS.b2).toMatchObject({ channels: [64, 128, 320, 512], depths: [3, 4, 6, 3], decoderDim: 768 });
    expect(SEGFORMER_VARIANTS.b5).toMatchObject({ depths: [3, 6, 40, 3] });
    expect(() => segformerConfig('b9', 8)).toThrow(/unknown model variant "b9"/);
  });

  it('maps any image size to embeddings at 1/4 of the size padded to a multiple of 32', () => {
    const model = new SegFormer(segformerConfig('tiny', 12), 1);
    const out = model.forward(randomTensor([2, 70, 40, 3], 8));
    expect(out.shape).toEqual([2, 24, 16, 12]);
    expect(Math.exp((model.logTau.dataSync() as Float32Array)[0] as number)).toBeCloseTo(0.07, 5);
    model.params.dispose();
  });

  it('is initialised from its seed, and its weights save and load in the TensorFlow.js format', async () => {
    const x = randomTensor([1, 64, 64, 3], 9);
    const a = new SegFormer(segformerConfig('tiny', 8), 21);
    const same = new SegFormer(segformerConfig('tiny', 8), 21);
    const other = new SegFormer(segformerConfig('tiny', 8), 22);
    expect(maxDiff(a.forward(x), same.forward(x))).toBe(0);
    expect(maxDiff(a.forward(x), other.forward(x))).toBeGreaterThan(1e-3);

    await saveWeights(dir, 'model', new Map(a.params.entries()), { config: a.config });
    const loaded = loadWeights(dir, 'model');
    const manifest = loaded.file.weightsManifest[0];
    expect(manifest?.paths).toEqual(['model.bin']);
    expect(manifest?.weights.find((w) => w.name === 'head/w')).toEqual({ name: 'head/w', shape: [64, 8], dtype: 'float32' });
    other.params.assign(loaded.tensors, dir);
    expect(maxDiff(a.forward(x), other.forward(x))).toBe(0);

    const wrong = new SegFormer(segformerConfig('tiny', 16), 1);
    expect(() => wrong.params.assign(loadWeights(dir, 'model').tensors, path.join(dir, 'model.json'))).toThrow(/head\/w .* has shape 64×8, this model has 64×16/);
  });
});
