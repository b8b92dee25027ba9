import { seededRandom } from '@sentseg/common';
import { describe, expect, it } from 'vitest';
import { pixelLosses } from '../src/losses/cosine.js';
import { lossHD } from '../src/losses/hd.js';
import { batchLosses } from '../src/losses/table.js';
import { depthwiseConv3x3, gelu } from '../src/model/ops.js';
import { applyRecompute, estimateEncoderStepBytes, estimatePlainStepBytes, estimateStepBytes, recomputeFor, refuseOversizedStep, stepBytesFor, WASM_STEP_BUDGET } from '../src/model/memory.js';
import { recompute, recomputeParts } from '../src/model/recompute.js';
import { SegFormer, segformerConfig } from '../src/model/segformer.js';
import { tf, type Tensor } from '../src/tf.js';
import { maxDiff, randomTensor } from './tensors.js';

await tf.setBackend('cpu');

describe('recomputed activations (training at large crops)', () => {
  it('recompute(fn) gives the same value and gradients as fn, and keeps no intermediate', () => {
    const x = randomTensor([5, 7], 1);
    const w = tf.variable(randomTensor([7, 3], 2));
    const fn = (a: Tensor, b: Tensor) => tf.tanh(tf.matMul(tf.square(a), b));
    const plain = tf.variableGrads(() => tf.sum(tf.mul(fn(x, w), 0.5)) as tf.Scalar, [w]);
    const redone = tf.variableGrads(() => tf.sum(tf.mul(recompute(fn, [x, w]), 0.5)) as tf.Scalar, [w]);
    expect(Math.abs((plain.value.dataSync()[0] as number) - (redone.value.dataSync()[0] as number))).toBeLessThan(1e-6);
    expect(maxDiff(plain.grads[w.name] as Tensor, redone.grads[w.name] as Tensor)).toBeLessThan(1e-6);
    const dx = tf.grads((a: Tensor) => tf.sum(fn(a, w)))([x])[0] as Tensor;
    const dxRedone = tf.grads((a: Tensor) => tf.sum(recompute(fn, [a, w])))([x])[0] as Tensor;
    expect(maxDiff(dx, dxRedone)).toBeLessThan(1e-6);
    // A gradient after the recomputed one still works (the engine's tape was put back).
    const again = tf.variableGrads(() => tf.sum(recompute(fn, [x, w])) as tf.Scalar, [w]);
    expect(again.grads[w.name]?.shape).toEqual([7, 3]);
  });

  it('a SegFormer step with recomputed activations (decoder in bands) equals the plain step: loss and every weight gradient to 1e-5', () => {
    const model = new SegFormer(segformerConfig('tiny', 8), 3);
    const images = randomTensor([2, 64, 64, 3], 4);
    const labels = randomTensor([5, 8], 5);
    const random = seededRandom(6);
    const target = tf.tensor3d(Int32Array.from({ length: 2 * 16 * 16 }, () => Math.floor(random() * 6)), [2, 16, 16], 'int32');
    const vars = model.params.entries().map(([, v]) => v);
    const step = () => tf.variableGrads(() => lossHD(model.forward(images), labels, target, model.logTau) as tf.Scalar, vars);
    const plain = step();
    applyRecompute(model, 'on');
    // Bands of one output row: the decoder runs in 16 recomputed bands.
    model.decoderBandElements = 1;
    const redone = step();
    expect(Math.abs((plain.value.dataSync()[0] as number) - (redone.value.dataSync()[0] as number))).toBeLessThan(1e-5);
    for (const v of vars) {
      const a = plain.grads[v.name] as Tensor;
      const b = redone.grads[v.name] as Tensor;
      expect(b, v.name).toBeDefined();
      expect(maxDiff(a, b), v.name).toBeLessThan(1e-5);
    }
  });

  it('recomputeParts(fn) over parts gives the value and input gradients of the parts computed whole, and keeps no intermediate', () => {
    const x = randomTensor([2, 6, 3], 21);
    const w = tf.variable(randomTensor([3, 4], 22));
    const rows = [0, 2, 5, 6];
    const part = (p: number, a: Tensor, b: Tensor) => tf.tanh(tf.matMul(tf.reshape(tf.square(tf.slice(a, [0, rows[p] as number, 0], [2, (rows[p + 1] as number) - (rows[p] as number), 3])), [-1, 3]), b)).reshape([2, -1, 4]);
    const whole = (a: Tensor, b: Tensor) => tf.tanh(tf.matMul(tf.reshape(tf.square(a), [-1, 3]), b)).reshape([2, 6, 4]);
    const r = randomTensor([2, 6, 4], 23);
    const plain = tf.variableGrads(() => tf.sum(tf.mul(whole(x, w), r)) as tf.Scalar, [w]);
    const before = tf.memory().numTensors;
    const redone = tf.variableGrads(() => tf.sum(tf.mul(recomputeParts(3, 1, part, [x, w]), r)) as tf.Scalar, [w]);
    // What is left is the value and the one gradient asked for.
    expect(tf.memory().numTensors - before).toBe(2);
    expect(Math.abs((plain.value.dataSync()[0] as number) - (redone.value.dataSync()[0] as number))).toBeLessThan(1e-5);
    expect(maxDiff(plain.grads[w.name] as Tensor, redone.grads[w.name] as Tensor)).toBeLessThan(1e-5);
    const [dx] = tf.grads((a: Tensor) => tf.sum(tf.mul(whole(a, w), r)))([x]);
    const [dxRedone] = tf.grads((a: Tensor) => tf.sum(tf.mul(recomputeParts(3, 1, part, [a, w]), r)))([x]);
    expect(maxDiff(dx as Tensor, dxRedone as Tensor)).toBeLessThan(1e-5);
  });

  it('a recomputed step taking L_HD and L_LD band by band from the features (L_WD decoding its slice) equals the plain step on the embeddings: losses and every weight gradient to 1e-5 (relative where over 1)', () => {
    const model = new SegFormer({ ...segformerConfig('tiny', 8), boxProjectionDim: 4 }, 3);
    const images = randomTensor([3, 64, 64, 3], 24);
    const labels = randomTensor([5, 8], 25);
    const random = seededRandom(26);
    // Some pixels ignored (255).
    const target = tf.tensor3d(Int32Array.from({ length: 3 * 16 * 16 }, () => [0, 1, 2, 3, 4, 255][Math.floor(random() * 6)] as number), [3, 16, 16], 'int32');
    const vars = model.params.entries().map(([, v]) => v);
    const context = { labelEmb: labels, logTau: model.logTau, ldDropFraction: 0.3, wdConv: { w: model.params.get('wd/w'), b: model.params.get('wd/b') } };
    const wd = { start: 2, count: 1, boxes: [{ image: 0, x0: 1, y0: 2, x1: 9, y1: 12 }], clipBoxEmb: randomTensor([1, 4], 29) };
    const slices = { hd: { start: 0, count: 1, boxes: [], clipBoxEmb: null }, ld: { start: 1, count: 1, boxes: [], clipBoxEmb: null }, wd };
    const parts: Record<string, number> = {};
    const step = (banded: boolean) =>
      tf.variableGrads(() => {
        const computed = batchLosses(banded ? { model, features: model.encode(images) } : model.forward(images), target, slices, context);
        for (const [name, part] of Object.entries(computed)) parts[`${name}${banded}`] = (part as Tensor).dataSync()[0] as number;
        return tf.addN([computed.hd as Tensor, computed.ld as Tensor, computed.wd as Tensor]) as tf.Scalar;
      }, vars);
    const plain = step(false);
    // As the trainer's model.recompute=on: L_WD decodes its slice in recomputed bands too.
    applyRecompute(model, 'on');
    // Bands of one output row: 16 bands, each with its own logits.
    model.decoderBandElements = 1;
    const banded = step(true);
    expect(Math.abs((parts.hdfalse as number) - (parts.hdtrue as number))).toBeLessThan(1e-5);
    expect(Math.abs((parts.ldfalse as number) - (parts.ldtrue as number))).toBeLessThan(1e-5);
    expect(Math.abs((parts.wdfalse as number) - (parts.wdtrue as number))).toBeLessThan(1e-5);
    expect(Math.abs((plain.value.dataSync()[0] as number) - (banded.value.dataSync()[0] as number))).toBeLessThan(1e-5);
    for (const v of vars) {
      const a = plain.grads[v.name] as Tensor;
      const b = banded.grads[v.name] as Tensor;
      expect(b, v.name).toBeDefined();
      // Relative to the gradient's size where it is over 1 (L_WD's bias gradient is about 350 here: float32 rounding).
      const scale = Math.max(1, tf.max(tf.abs(a)).dataSync()[0] as number);
      expect(maxDiff(a, b) / scale, v.name).toBeLessThan(1e-5);
    }
  });

  it('per-pixel losses taken in recomputed chunks equal the whole [pixels × labels] computation: values and gradients to 1e-5', () => {
    const emb = randomTensor([2, 5, 7, 6], 7);
    const labels = randomTensor([4, 6], 8);
    const logTau = tf.scalar(Math.log(0.07));
    const random = seededRandom(9);
    // Some pixels ignored (255) or outside the label set.
    const target = tf.tensor3d(Int32Array.from({ length: 70 }, () => [0, 1, 2, 3, 255, 7][Math.floor(random() * 6)] as number), [2, 5, 7], 'int32');
    const weights = randomTensor([70], 10);
    const run = (chunk: number) => tf.grads((e: Tensor, l: Tensor, t: Tensor) => tf.sum(tf.mul(pixelLosses(e, l, target, t, chunk).losses, weights)))([emb, labels, logTau]);
    const whole = pixelLosses(emb, labels, target, logTau).losses;
    const chunked = pixelLosses(emb, labels, target, logTau, 4 * 9).losses;
    expect(maxDiff(whole, chunked)).toBeLessThan(1e-5);
    const a = run(1 << 21);
    const b = run(4 * 9);
    a.forEach((g, i) => expect(maxDiff(g, b[i] as Tensor)).toBeLessThan(1e-5));
  });

  it('the lean depthwise 3×3 and GELU give the values and gradients of the op-by-op forms', () => {
    const x = randomTensor([2, 6, 5, 4], 11);
    const w = randomTensor([9, 4], 12);
    const b = randomTensor([4], 13);
    const r = randomTensor([2, 6, 5, 4], 14);
    const theirs = (xx: Tensor, ww: Tensor, bb: Tensor) => tf.add(tf.depthwiseConv2d(xx as tf.Tensor4D, tf.reshape(ww, [3, 3, 4, 1]) as tf.Tensor4D, 1, 'same'), bb);
    const loss = (f: typeof depthwiseConv3x3) => (xx: Tensor, ww: Tensor, bb: Tensor) => tf.sum(tf.mul(f(xx, ww, bb), r));
    const ours = tf.grads(loss(depthwiseConv3x3))([x, w, b]);
    const ref = tf.grads(loss(theirs))([x, w, b]);
    expect(maxDiff(depthwiseConv3x3(x, w, b), theirs(x, w, b))).toBeLessThan(1e-5);
    ours.forEach((g, i) => expect(maxDiff(g, ref[i] as Tensor)).toBeLessThan(1e-5));
    const opByOp = (t: Tensor) => tf.mul(tf.mul(0.5, t), tf.add(1, tf.tanh(tf.mul(Math.sqrt(2 / Math.PI), tf.add(t, tf.mul(0.044715, tf.pow(t, 3)))))));
    const y = tf.mul(randomTensor([40], 15), 4);
    expect(maxDiff(gelu(y), opByOp(y))).toBeLessThan(1e-5);
    const [g1] = tf.grads((t: Tensor) => tf.sum(tf.mul(gelu(t), tf.range(0, 40))))([y]);
    const [g2] = tf.grads((t: Tensor) => tf.sum(tf.mul(opByOp(t), tf.range(0, 40))))([y]);
    expect(maxDiff(g1 as Tensor, g2 as Tensor)).toBeLessThan(1e-4);
  });

  it('GELU\'s gradient over more elements than one chunk (taken chunk by chunk) equals the op-by-op form\'s', () => {
    const size = (1 << 20) + 1000;
    const y = tf.mul(randomTensor([size], 27), 4);
    const r = randomTensor([size], 28);
    const opByOp = (t: Tensor) => tf.mul(tf.mul(0.5, t), tf.add(1, tf.tanh(tf.mul(Math.sqrt(2 / Math.PI), tf.add(t, tf.mul(0.044715, tf.pow(t, 3)))))));
    const [g1] = tf.grads((t: Tensor) => tf.sum(tf.mul(gelu(t), r)))([y]);
    const [g2] = tf.grads((t: Tensor) => tf.sum(tf.mul(opByOp(t), r)))([y]);
    expect(g1?.shape).toEqual([size]);
    expect(maxDiff(g1 as Tensor, g2 as Tensor)).toBeLessThan(1e-4);
  });

  it('the preflight estimate lets the paper\'s sizes through and refuses a step that cannot fit, naming sizes that do', () => {
    const b0 = segformerConfig('b0', 512);
    expect(refuseOversizedStep(b0, 512, 2, 32)).toBeNull();
    expect(refuseOversizedStep(b0, 640, 1, 32)).toBeNull();
    const refusal = refuseOversizedStep(b0, 1536, 4, 32);
    expect(refusal).toMatch(/^a training step of SegFormer-b0 at data\.crop 1536 with data\.batchSize 4 even with every activation recomputed needs about \d+ MiB of WebAssembly memory, over the 3584 MiB a step may take of its 4096 MiB heap; what fits: /);
    const batch = Number(/data\.batchSize (\d+) at this crop/.exec(refusal as string)?.[1] ?? 0);
    const crop = Number(/data\.crop (\d+) at batch 4/.exec(refusal as string)?.[1]);
    expect(crop % 32).toBe(0);
    expect(estimateStepBytes(b0, crop, 4)).toBeLessThanOrEqual(WASM_STEP_BUDGET);
    expect(estimateStepBytes(b0, crop + 32, 4)).toBeGreaterThan(WASM_STEP_BUDGET);
    if (batch > 0) expect(estimateStepBytes(b0, 1536, batch)).toBeLessThanOrEqual(WASM_STEP_BUDGET);
    // More pixels never need less memory.
    expect(estimateStepBytes(b0, 640, 2)).toBeGreaterThan(estimateStepBytes(b0, 512, 2));
  });

  it('auto keeps every activation in a small step, recomputes the encoder at the paper\'s sizes, everything only beyond; off, encoder and on force one', () => {
    const tiny = segformerConfig('tiny', 512);
    const b0 = segformerConfig('b0', 512);
    // Small steps keep their activations and run at full speed ...
    expect(recomputeFor(tiny, 256, 4)).toBe('off');
    expect(recomputeFor(b0, 256, 2)).toBe('off');
    // ... the paper's sizes recompute the encoder only (as fast as keeping everything at 512², half the memory) ...
    expect(recomputeFor(b0, 512, 2)).toBe('encoder');
    expect(recomputeFor(b0, 640, 1)).toBe('encoder');
    // ... and a step whose decoder cannot be kept recomputes it too, band by band.
    expect(recomputeFor(b0, 704, 2)).toBe('on');
    expect(estimateEncoderStepBytes(b0, 704, 2)).toBeGreaterThan(WASM_STEP_BUDGET);
    for (const mode of ['off', 'encoder', 'on'] as const) expect(recomputeFor(tiny, 256, 4, mode)).toBe(mode);
    // More kept means more memory, at the sizes where the choice is made.
    for (const [config, crop, batch] of [[b0, 384, 2], [b0, 512, 2], [b0, 640, 1]] as const) {
      expect(estimatePlainStepBytes(config, crop, batch)).toBeGreaterThan(estimateEncoderStepBytes(config, crop, batch));
      expect(estimateEncoderStepBytes(config, crop, batch)).toBeGreaterThan(estimateStepBytes(config, crop, batch));
    }
  });

  it('each mode\'s estimate covers the heap train-memory-bench measured (wasm, 3 steps), within 3× from B0 at 256² batch 2 up', () => {
    // [variant, crop, batch, MiB of heap measured with off, encoder, on] (model/memory.ts): after 3 steps, each size in a process of its own.
    const measured: [string, number, number, number, number, number][] = [
      ['tiny', 256, 4, 172, 122, 122],
      ['b0', 256, 2, 358, 298, 298],
      ['b0', 384, 2, 715, 429, 350],
      ['b0', 512, 2, 1241, 641, 549],
      ['b0', 640, 1, 1135, 607, 549],
      ['b1', 512, 1, 1242, 888, 884],
      ['b0', 640, 2, 2186, 1061, 917],
      ['b1', 512, 1, 1328, 1415, 1433],
    ];
    const MiB = 2 ** 20;
    for (const [variant, crop, batch, ...heaps] of measured) {
      const config = segformerConfig(variant, 512);
      (['off', 'encoder', 'on'] as const).forEach((mode, i) => {
        const ratio = stepBytesFor(config, crop, batch, mode) / ((heaps[i] as number) * MiB);
        expect(ratio, `${variant} ${crop} ${batch} ${mode}`).toBeGreaterThanOrEqual(1);
        // Tiny's heaps (120–170 MiB) are below the estimates' fixed terms (a decoder band, the weights' copies): covered, not closely.
        expect(ratio, `${variant} ${crop} ${batch} ${mode}`).toBeLessThan(variant === 'tiny' ? 7 : 3);
      });
    }
  });

  it('with two threads each heap is judged by its half of the batch, and a refusal says so, naming a whole batch that fits', () => {
    const b0 = segformerConfig('b0', 512);
    // 704×704 batch 2 keeping the decoder does not fit one heap, but each thread holds one image.
    expect(refuseOversizedStep(b0, 704, 2, 32, 'encoder')).toMatch(/needs about \d+ MiB of WebAssembly memory, over/);
    expect(refuseOversizedStep(b0, 704, 2, 32, 'encoder', 2)).toBeNull();
    const refusal = refuseOversizedStep(b0, 1536, 4, 32, 'auto', 2);
    expect(refusal).toMatch(/^a training step of SegFormer-b0 at data\.crop 1536 with data\.batchSize 4 even with every activation recomputed needs about \d+ MiB of WebAssembly memory in each of its 2 threads' heaps \(2 images each\), over the 3584 MiB/);
    const batch = Number(/data\.batchSize (\d+) at this crop/.exec(refusal as string)?.[1] ?? 0);
    if (batch > 0) {
      expect(batch % 2).toBe(0);
      expect(estimateStepBytes(b0, 1536, batch / 2)).toBeLessThanOrEqual(WASM_STEP_BUDGET);
    }
  });

  it('an odd batch over two threads says "up to", and a model that fits at no size says so instead of "lower data.crop"', () => {
    const b0 = segformerConfig('b0', 512);
    expect(refuseOversizedStep(b0, 1536, 3, 32, 'auto', 2)).toMatch(/in each of its 2 threads' heaps \(up to 2 images each\)/);
    const b5 = segformerConfig('b5', 512);
    const refusal = refuseOversizedStep(b5, 64, 1, 32, 'auto');
    expect(refusal).toMatch(/^a training step of SegFormer-b5 at data\.crop 64 with data\.batchSize 1 even with every activation recomputed needs about \d+ MiB .*; no size fits: even data\.crop 32 at batch 1 needs about \d+ MiB \(the weights, their gradients and the optimizer's state\) \(or --backend tensorflow\)$/);
    expect(estimateStepBytes(b5, 32, 1)).toBeGreaterThan(WASM_STEP_BUDGET);
  });

  it('model.recompute=off is refused before it starts where the plain step cannot fit, naming auto', () => {
    const b0 = segformerConfig('b0', 512);
    expect(refuseOversizedStep(b0, 512, 2, 32, 'auto')).toBeNull();
    expect(refuseOversizedStep(b0, 512, 2, 32, 'off')).toBeNull();
    const refusal = refuseOversizedStep(b0, 640, 2, 32, 'off');
    expect(refusal).toMatch(/^a training step of SegFormer-b0 at data\.crop 640 with data\.batchSize 2 keeping every activation \(model\.recompute=off\) needs about \d+ MiB of WebAssembly memory, over the 3584 MiB .* \(or model\.recompute=auto, or --backend tensorflow\)$/);
    const batch = Number(/data\.batchSize (\d+) at this crop/.exec(refusal as string)?.[1]);
    expect(batch).toBeGreaterThan(0);
    expect(estimatePlainStepBytes(b0, 640, batch)).toBeLessThanOrEqual(WASM_STEP_BUDGET);
    expect(refuseOversizedStep(b0, 640, 2, 32, 'encoder')).toBeNull();
  });
});
