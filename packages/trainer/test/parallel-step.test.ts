import path from 'node:path';
import { seededRandom } from '@sentseg/common';
import type { LossKind } from '@sentseg/dataset-tools';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { BoxEmbeddings } from '../src/boxes/clip-boxes.js';
import { selectBackend } from '../src/backend/select.js';
import type { LoadedImage } from '../src/data/loader.js';
import { resolveConfig } from '../src/config.js';
import { applyRecompute } from '../src/model/memory.js';
import { SegFormer, segformerConfig } from '../src/model/segformer.js';
import { Optimizer } from '../src/optim/optimizers.js';
import { createParallelTrainStep, GradientWorker, halfGradients, splitStep, workerSetup } from '../src/parallel-step.js';
import { createTrainStep, stepInputs, type TrainStepContext } from '../src/train-step.js';
import { tf } from '../src/tf.js';
import { threadsFor, train } from '../src/train.js';
import { tempDir } from '../../../tests/utils.js';
import { writeWorld } from '../../../tests/training-world.js';
import { smallConfig } from './fixtures.js';

const CROP = 64;
const LABELS = 7;
const BOX_DIM = 8;
const random = seededRandom(5);
const lossOf = new Map<string, LossKind>([['dense', 'hd'], ['instances', 'ld'], ['boxes', 'wd']]);
const boxTargets: BoxEmbeddings = { modelId: 'test', dim: BOX_DIM, vectors: new Map([1, 2, 3, 4].map((id) => [id, Float32Array.from({ length: BOX_DIM }, () => random() - 0.5)])), computed: 0, cached: 0 };

function image(dataset: string, imageId: number, boxIds: number[] = []): LoadedImage {
  return {
    dataset,
    annotation: dataset === 'boxes' ? 'boxes' : 'dense',
    imageId,
    pixels: Float32Array.from({ length: CROP * CROP * 3 }, () => random() - 0.5),
    // Some pixels ignored (255), more in some images than in others: the halves' counts differ.
    target: Int32Array.from({ length: CROP * CROP }, (_, i) => (random() < 0.1 * (imageId % 3) || i % 17 === 0 ? 255 : Math.floor(random() * LABELS))),
    boxes: boxIds.map((boxId, k) => ({ boxId, labelId: 1, x0: 4 + 8 * k, y0: 8, x1: 40 + 8 * k, y1: 56 })),
    boxesCut: 0,
  };
}

/** A step context on a fresh tiny model and SGD (its update is the gradient itself, scaled). */
function context(labelEmb: tf.Tensor): TrainStepContext {
  const model = new SegFormer({ ...segformerConfig('tiny', 16), boxProjectionDim: BOX_DIM }, 3);
  const optimizer = new Optimizer({ kind: 'sgd', weightDecay: 0, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, momentum: 0 });
  return { model, optimizer, labelEmb, lossOf, boxTargets, crop: CROP, resolution: 'output', ldDropFraction: 0.3 };
}

describe('a training step over two threads (model.threads = 2)', () => {
  let labelEmb: tf.Tensor;
  beforeAll(async () => {
    await selectBackend('wasm');
    labelEmb = tf.tensor2d(Float32Array.from({ length: LABELS * 16 }, () => random() - 0.5), [LABELS, 16]);
  });
  afterAll(() => labelEmb.dispose());

  it('is chosen with model.threads, which takes auto (the default), 1 or 2', () => {
    expect(resolveConfig([]).model.threads).toBe('auto');
    expect(resolveConfig([{ where: 'test', values: { model: { threads: 1 } } }]).model.threads).toBe(1);
    expect(() => resolveConfig([{ where: 'test', values: { model: { threads: 'many' } } }])).toThrow('model.threads must be auto, 1 or 2, got "many"');
    expect(resolveConfig([{ where: 'test', values: { model: { threads: 2 } } }]).model.threads).toBe(2);
    expect(() => resolveConfig([{ where: 'test', values: { model: { threads: 3 } } }])).toThrow('model.threads must be auto, 1 or 2, got 3');
  });

  it('splits a batch by images, each loss part rescaled from its half\'s count to the batch\'s', () => {
    const images = [image('instances', 1), image('dense', 2), image('boxes', 3, [1, 2]), image('instances', 4), image('boxes', 5, [3])];
    const inputs = stepInputs(images, lossOf, boxTargets, CROP, false);
    const [a, b] = splitStep(inputs, LABELS);
    // Sorted hd, ld, ld, wd, wd: the first three here, the two L_WD images in the worker.
    expect([a.inputs.n, b.inputs.n]).toEqual([3, 2]);
    expect(a.inputs.slices).toEqual({ hd: { start: 0, count: 1, boxes: [], clipBoxEmb: null }, ld: { start: 1, count: 2, boxes: [], clipBoxEmb: null } });
    expect(b.inputs.slices.wd?.boxes.map((box) => box.image)).toEqual([0, 0, 1]);
    expect(b.inputs.clipRows).toEqual(inputs.clipRows);
    expect([a.scales, b.scales]).toEqual([{ hd: 1, ld: 1 }, { wd: 1 }]);
    // L_LD across the halves: each half's valid pixels over the batch's; L_WD by boxes (2 of 3 in the first image).
    const [c, d] = splitStep(stepInputs([image('dense', 6), image('instances', 7), image('instances', 8)], lossOf, boxTargets, CROP, false), LABELS);
    expect((c.scales.ld as number) + (d.scales.ld as number)).toBeCloseTo(1, 12);
    expect(c.scales.ld).not.toBeCloseTo(0.5, 3);
    const [e, f] = splitStep(stepInputs([image('boxes', 9, [1, 2]), image('boxes', 10, [3])], lossOf, boxTargets, CROP, false), LABELS);
    expect([e.scales.wd, f.scales.wd]).toEqual([2 / 3, 1 / 3]);
  });

  it.each([
    ['L_LD across the halves', [image('dense', 11), image('instances', 12), image('instances', 13)]],
    ['L_WD across the halves', [image('dense', 14), image('boxes', 15, [1, 2]), image('boxes', 16, [4])]],
    // Sorted dense, boxes, boxes: the worker's half is the last image alone, with no box in its crop (no loss: not a failure).
    ['a half whose L_WD image kept no box', [image('dense', 21), image('boxes', 22, [1, 2]), image('boxes', 23, [])]],
  ] as const)('%s: the same loss, parts and updated weights as the one-thread step (to 1e-5)', async (_, images) => {
    const one = context(labelEmb);
    const two = context(labelEmb);
    const worker = new GradientWorker(workerSetup('wasm', two.model, 3, two));
    try {
      const batch = { step: 0, images: [...images], failures: [] };
      const a = await createTrainStep(one)(batch, { step: 0, lr: 1 });
      const b = await createParallelTrainStep(two, worker)(batch, { step: 0, lr: 1 });
      expect(b.images).toBe(3);
      expect(b.wdBoxes).toBe(a.wdBoxes);
      expect(Math.abs(b.loss - a.loss)).toBeLessThan(1e-5);
      for (const name of ['hd', 'ld', 'wd'] as const) expect(Math.abs((b.parts[name] ?? 0) - (a.parts[name] ?? 0))).toBeLessThan(1e-5);
      const moved = one.model.params.entries().map(([name, v]) => tf.tidy(() => tf.max(tf.abs(tf.sub(v, two.model.params.get(name)))).dataSync()[0] as number));
      expect(Math.max(...moved)).toBeLessThan(1e-5);
    } finally {
      await worker.close();
      one.model.params.dispose();
      two.model.params.dispose();
    }
  });

  it('a half of a recomputed step (model.recompute=on) takes L_HD and L_LD band by band, never decoding its whole embeddings (as the one-thread step), and the worker\'s replica is told so', () => {
    const ctx = context(labelEmb);
    try {
      applyRecompute(ctx.model, 'on');
      expect(workerSetup('wasm', ctx.model, 3, ctx)).toMatchObject({ recomputeActivations: true, decoderInBands: true });
      // Sorted dense, instances, instances: this half holds an L_HD and an L_LD image.
      const [mine] = splitStep(stepInputs([image('dense', 31), image('instances', 32), image('instances', 33)], lossOf, boxTargets, CROP, false), LABELS);
      const forward = vi.spyOn(ctx.model, 'forward');
      const result = halfGradients({ model: ctx.model, labelEmb, ldDropFraction: 0.3, resolution: 'output', boxDim: BOX_DIM }, mine);
      expect(forward).not.toHaveBeenCalled();
      expect(result.parts.hd).not.toBeNull();
      expect(result.parts.ld).not.toBeNull();
      expect(result.grads.size).toBeGreaterThan(0);
      tf.dispose([...result.grads.values()]);
    } finally {
      ctx.model.params.dispose();
    }
  });

  it('a worker that has exited fails the step in one line instead of leaving it waiting', async () => {
    const ctx = context(labelEmb);
    const worker = new GradientWorker(workerSetup('wasm', ctx.model, 3, ctx));
    try {
      await worker.started();
      await worker.close();
      const [, theirs] = splitStep(stepInputs([image('dense', 41), image('dense', 42)], lossOf, boxTargets, CROP, false), LABELS);
      const weights = ctx.model.params.entries().map(([, v]) => new Float32Array(v.dataSync() as Float32Array));
      await expect(worker.run(weights, theirs)).rejects.toThrow(/^model\.threads: the worker thread failed \(it exited with code \d+ before answering\)$/);
      // A step whose worker has gone fails the same way, leaving none of this thread's half's tensors behind.
      const before = tf.memory().numTensors;
      const batch = { step: 0, images: [image('dense', 43), image('dense', 44)], failures: [] };
      await expect(createParallelTrainStep(ctx, worker)(batch, { step: 0, lr: 1 })).rejects.toThrow('it exited with code');
      expect(tf.memory().numTensors).toBe(before);
    } finally {
      ctx.model.params.dispose();
    }
  });

  it('model.threads=auto takes two threads on two cores for a batch worth splitting, one otherwise, and says why', () => {
    expect(threadsFor('auto', 'wasm', 2, 256, 2)).toEqual({ threads: 2, why: 'model.threads=auto, 2 cores: a worker thread computes the gradients of the second half of each batch at the same time' });
    expect(threadsFor('auto', 'cpu', 2, 512, 16).threads).toBe(2);
    expect(threadsFor('auto', 'wasm', 2, 256, 1)).toEqual({ threads: 1, why: 'model.threads=auto: this machine has one core' });
    expect(threadsFor('auto', 'wasm', 1, 640, 2)).toEqual({ threads: 1, why: 'model.threads=auto: a batch of one image is not split' });
    expect(threadsFor('auto', 'wasm', 4, 128, 2)).toEqual({ threads: 1, why: 'model.threads=auto: a batch of 4 × 128×128 is too small to gain from a second thread' });
    expect(threadsFor('auto', 'tensorflow', 2, 512, 8).threads).toBe(1);
    expect(threadsFor(2, 'wasm', 1, 640, 2)).toEqual({ threads: 1, why: 'model.threads=2: a batch of one image is not split' });
    expect(threadsFor(2, 'tensorflow', 2, 512, 8)).toEqual({ threads: 1, why: 'model.threads=2: native TensorFlow uses every core already; 2 applies to the wasm and cpu backends' });
    // Asked for explicitly, 1 and 2 are kept whatever the sizes.
    expect(threadsFor(2, 'wasm', 2, 64, 1).threads).toBe(2);
    expect(threadsFor(1, 'wasm', 8, 512, 2).threads).toBe(1);
  });

  it('trains with model.threads=2: says so, and each step\'s loss is the one-thread run\'s (to float rounding)', async () => {
    const world = await writeWorld(dir);
    const run = async (threads: number) => {
      const logs: string[] = [];
      const summary = await train({ config: smallConfig(world, { steps: 3, model: { threads }, optimizer: { kind: 'sgd', lr: 0.005 } }), run: path.join(dir, `threads-${threads}`), log: (l) => logs.push(l) });
      return { losses: summary.metrics.map((m) => m.loss), logs };
    };
    const one = await run(1);
    const two = await run(2);
    expect(two.logs.filter((l) => l.startsWith('threads: '))).toEqual(['threads: 2 (model.threads=2: a worker thread computes the gradients of the second half of each batch at the same time)']);
    expect(one.logs.filter((l) => l.startsWith('threads: '))).toEqual(['threads: 1 (model.threads=1)']);
    // Each heap holds its half of the batch: the memory line says so.
    expect(two.logs.filter((l) => l.startsWith('memory: '))).toEqual([expect.stringMatching(/in each of 2 threads' heaps \(\d+ images? each\)/)]);
    expect(one.logs.filter((l) => l.startsWith('memory: ') && l.includes('threads'))).toEqual([]);
    expect(two.losses).toHaveLength(3);
    // The first step's loss is taken before any update; later ones after updates that agree to float rounding.
    expect(Math.abs((two.losses[0] as number) - (one.losses[0] as number))).toBeLessThan(1e-5);
    two.losses.forEach((loss, i) => expect(Math.abs(loss / (one.losses[i] as number) - 1)).toBeLessThan(2e-5));
  }, 120_000);
});

// Removed after the file's tests (a hook registered inside a test would never run).
const dir = tempDir();
