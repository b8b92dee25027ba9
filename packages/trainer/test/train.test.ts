import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ManifestReader } from '@sentseg/dataset-tools';
import { mergeDatasets, parseDatasetSpecs } from '@sentseg/dataset-tools';
import { writeMapillaryVistas } from '@sentseg/dataset-tools/testing';
import { loadCheckpoint } from '../src/checkpoint.js';
import { TrainerError } from '../src/errors.js';
import { loadWeights } from '../src/model/weights-io.js';
import { train, type TrainSummary } from '../src/train.js';
import { parseOverride } from '../src/config.js';
import { tf } from '../src/tf.js';
import { tempDir } from '../../../tests/utils.js';
import { addBoxDataset, addInstanceMaskDataset, addOpenImagesDataset, writeBank, writeWorld, type World } from '../../../tests/training-world.js';
import { smallConfig } from './fixtures.js';
import { copyFileSync } from 'node:fs';
import { loadSample } from '../src/data/load-sample.js';
import { writeTinyClipVisionModel } from '@sentseg/label-bank';
import Database from 'better-sqlite3';

const dir = tempDir();
let world: World;
let straight: TrainSummary;
const logs: string[] = [];

beforeAll(async () => {
  world = await writeWorld(dir);
  straight = await train({ config: smallConfig(world, { steps: 12, checkpointEvery: 4, keepCheckpoints: 2 }), run: path.join(dir, 'straight'), log: (l) => logs.push(l) });
}, 120_000);

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

describe('train on three dense datasets in their real layouts', () => {
  it('says which backend and datasets it uses, and the loss falls', () => {
    expect(logs[0]).toMatch(/^backend: wasm \(asked for\)/);
    // A step this small keeps its activations (model.recompute=auto), and the log says so.
    expect(logs.filter((l) => l.startsWith('memory: '))).toEqual([expect.stringMatching(/^memory: a step of 3 × \d+×\d+ needs about \d+ MiB of WebAssembly memory, every activation kept \(full speed\) \(model\.recompute=auto\)$/)]);
    expect(logs.filter((l) => l.startsWith('dataset '))).toEqual([
      'dataset ade20k: dense → L_HD, split training, 4 images',
      'dataset cityscapes: dense → L_HD, split train, 4 images',
      'dataset coco: dense → L_HD, split train, 4 images',
    ]);
    const losses = straight.metrics.map((m) => m.loss);
    expect(losses).toHaveLength(12);
    expect(mean(losses.slice(-3))).toBeLessThan(0.75 * mean(losses.slice(0, 3)));
    expect(straight.metrics.every((m) => m.hd === m.loss && m.ld === null && m.images === 3)).toBe(true);
  });

  it('writes the resolved config, one metrics line per step and the newest checkpoints', () => {
    const run = path.join(dir, 'straight');
    const config = JSON.parse(readFileSync(path.join(run, 'config.json'), 'utf8'));
    expect(config).toMatchObject({ steps: 12, seed: 1, data: { crop: 64, batchSize: 3 }, optimizer: { kind: 'adamw', lr: 1e-3 } });
    const lines = readFileSync(path.join(run, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => l.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    for (const key of ['loss', 'hd', 'tau', 'lr', 'imagesPerSec', 'stepSeconds']) expect(lines[0]).toHaveProperty(key);
    expect(lines[0].lr).toBeCloseTo(1e-3, 10);
    expect(lines[11].lr).toBeCloseTo(1e-3 / 12, 10);
    expect(readdirSync(path.join(run, 'checkpoints')).sort()).toEqual(['latest.json', 'step-000008', 'step-000012']);
    const ckpt = loadCheckpoint(run);
    expect(ckpt.state).toMatchObject({ step: 12, seed: 1, embedDim: 32, labelText: 'sentence', encoderId: 'test:seeded-random' });
    expect(ckpt.state.labels).toHaveLength(238);
    expect(ckpt.optimizerStep).toBe(12);
    expect([...ckpt.optimizerSlots.keys()]).toContain('head/w/m');
    const model = JSON.parse(readFileSync(path.join(ckpt.dir, 'model.json'), 'utf8'));
    expect(model.weightsManifest[0].paths).toEqual(['model.bin']);
    expect(model.modelTopology.config).toMatchObject({ variant: 'tiny', embedDim: 32 });
  });

  it('leaks no tensors: the count is the same after every step', () => {
    const counts = straight.metrics.map((m) => m.numTensors);
    expect(new Set(counts.slice(1)).size).toBe(1);
    expect(tf.memory().numTensors).toBeLessThanOrEqual((counts[0] as number) + 5);
  });
});

describe('training with recomputed activations', () => {
  it('with model.recompute=on (per-pixel losses band by band from the features) trains the same steps: the first two losses equal the kept step\'s', async () => {
    const base = smallConfig(world, { steps: 2 });
    const recomputedLogs: string[] = [];
    const recomputed = await train({ config: { ...base, model: { ...base.model, recompute: 'on' } }, run: path.join(dir, 'recomputed'), log: (l) => recomputedLogs.push(l) });
    expect(recomputedLogs.filter((l) => l.startsWith('memory: '))).toEqual([expect.stringMatching(/activations recomputed .*\(model\.recompute=on\)$/)]);
    // Step 2 follows step 1's update at the same learning rate (1e-3) in both runs.
    // No step leaves a tensor behind.
    expect(new Set(recomputed.metrics.map((m) => m.numTensors)).size).toBe(1);
    recomputed.metrics.forEach((m, i) => expect(Math.abs(m.loss - (straight.metrics[i]?.loss as number))).toBeLessThan(1e-4 * Math.max(1, Math.abs(m.loss))));
  }, 120_000);

  it('with model.recompute=encoder (the encoder recomputed, the decoder kept) trains the same steps, and the log says which', async () => {
    const base = smallConfig(world, { steps: 2 });
    const encoderLogs: string[] = [];
    const run = await train({ config: { ...base, model: { ...base.model, recompute: 'encoder' } }, run: path.join(dir, 'encoder'), log: (l) => encoderLogs.push(l) });
    expect(encoderLogs.filter((l) => l.startsWith('memory: '))).toEqual([expect.stringMatching(/the encoder's activations recomputed in the backward pass, the decoder's kept \(model\.recompute=encoder\)$/)]);
    expect(new Set(run.metrics.map((m) => m.numTensors)).size).toBe(1);
    run.metrics.forEach((m, i) => expect(Math.abs(m.loss - (straight.metrics[i]?.loss as number))).toBeLessThan(1e-4 * Math.max(1, Math.abs(m.loss))));
  }, 120_000);
});

describe('instance-mask datasets (L_LD)', () => {
  it('paints each instance mask, scaled from its own size, with its label; the rest is ignored', async () => {
    const manifest = path.join(dir, 'with-oi.sqlite');
    copyFileSync(world.manifest, manifest);
    await addInstanceMaskDataset(manifest, path.join(dir, 'oi'), [{ sourceId: 3, label: 'dog' }]);
    const reader = ManifestReader.open(manifest);
    const [id] = reader.imageIds('oi-fixture', 'train');
    const sample = reader.sample(id as number);
    const lut = reader.lut('oi-fixture');
    const instances = reader.instanceMasks(id as number, 'oi-fixture').map((m) => ({ mask: m.mask, sourceId: m.sourceId }));
    const dog = reader.labels().find((l) => l.name === 'dog')?.id;
    const numLabels = reader.labels().length;
    reader.close();
    // 48×40 image, short edge 40 → no resize; 32×32 crop at a random left offset; mask 24×20 covers x < 24.
    for (const seed of [1, 2, 3, 4]) {
      const r = await loadSample({
        dataset: 'oi-fixture', imageId: id as number, image: sample!.image, mask: null, encoding: 'gray', segments: [], lut, instances, boxes: [],
        augment: { shortEdge: 40, crop: 32, flip: false, colorJitter: 0, blurProbability: 0, noiseStd: 0 }, minBoxVisible: 0.5, numLabels, seed,
      });
      if (!r.ok) throw new Error(r.reason);
      const { planAugment } = await import('../src/data/augment.js');
      const plan = planAugment(48, 40, { shortEdge: 40, crop: 32, flip: false, colorJitter: 0, blurProbability: 0, noiseStd: 0 }, seed);
      for (let y = 0; y < 32; y++) {
        for (let x = 0; x < 32; x++) {
          const inImage = plan.top + y < 40 && plan.left + x < 48;
          expect(r.target[y * 32 + x]).toBe(inImage && plan.left + x < 24 ? dog : 255);
        }
      }
    }
    // An instance whose class is no class of the dataset (NOT_A_CLASS), or maps past the labels: refused, named.
    for (const [value, why] of [[-1, ''], [numLabels + 5, '']] as const) {
      const r = await loadSample({
        dataset: 'oi-fixture', imageId: id as number, image: sample!.image, mask: null, encoding: 'gray', segments: [], lut: Int32Array.from(lut, (v, i) => (i === 3 ? value : v)), instances, boxes: [],
        augment: { shortEdge: 40, crop: 32, flip: false, colorJitter: 0, blurProbability: 0, noiseStd: 0 }, minBoxVisible: 0.5, numLabels, seed: 1,
      });
      expect(r).toMatchObject({ ok: false, kind: 'labels', file: instances[0]?.mask, reason: expect.stringContaining(`instance class 3 is neither a label nor ignored (no class of dataset oi-fixture in the manifest, or a label id past its ${numLabels} labels)${why}`) });
    }
  });

  it('trains a dense and an instance-mask dataset together: L_HD + L_LD every step', async () => {
    const manifest = path.join(dir, 'with-oi.sqlite');
    const lines: string[] = [];
    const summary = await train({ config: smallConfig(world, { manifest, steps: 4, data: { datasets: ['cityscapes', 'oi-fixture'] } }), run: path.join(dir, 'hd-ld'), log: (l) => lines.push(l) });
    expect(lines).toContain('dataset oi-fixture: instance-masks → L_LD, split train, 4 images');
    for (const m of summary.metrics) {
      expect(m.hd).not.toBeNull();
      expect(m.ld).not.toBeNull();
      expect(m.loss).toBeCloseTo((m.hd as number) + (m.ld as number), 4);
    }
  }, 60_000);
});

describe('the loss per dataset: the manifest\'s loss column, or losses.byDataset', () => {
  const cityscapesOnly = { steps: 2, data: { datasets: ['cityscapes'] } };

  it('trains a dense dataset overridden to ld under L_LD: its part is ld, there is no hd part', async () => {
    const asHD = await train({ config: smallConfig(world, cityscapesOnly), run: path.join(dir, 'as-hd'), log: () => {} });
    const lines: string[] = [];
    const run = path.join(dir, 'as-ld');
    const asLD = await train({ config: smallConfig(world, { ...cityscapesOnly, losses: { byDataset: { cityscapes: 'ld' } } }), run, log: (l) => lines.push(l) });
    expect(lines).toContain('dataset cityscapes: dense → L_LD (losses.byDataset; the manifest says L_HD), split train, 4 images');
    const logged = readFileSync(path.join(run, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    for (const m of [...asLD.metrics, ...logged]) {
      expect(m.hd).toBeNull();
      expect(m.wd).toBeNull();
      expect(m.ld).toBe(m.loss);
    }
    // Step 1 sees the same weights and batch: L_LD drops the hardest 30% and divides by the same M.
    expect(asLD.metrics[0]!.ld as number).toBeLessThan(asHD.metrics[0]!.hd as number);
    // With nothing dropped L_LD is L_HD, so the two runs are the same run.
    const ldNoDrop = await train({ config: smallConfig(world, { ...cityscapesOnly, losses: { byDataset: { cityscapes: 'ld' }, ldDropFraction: 0 } }), run: path.join(dir, 'as-ld-0'), log: () => {} });
    ldNoDrop.metrics.forEach((m, i) => expect(m.ld as number).toBeCloseTo(asHD.metrics[i]!.hd as number, 5));
  }, 60_000);

  it('partitions each batch by loss (--set losses.byDataset.cityscapes=ld): cityscapes under ld, ade20k under hd', async () => {
    const config = smallConfig(world, { steps: 3, data: { datasets: ['cityscapes', 'ade20k'] }, ...parseOverride('losses.byDataset.cityscapes=ld') });
    const lines: string[] = [];
    const summary = await train({ config, run: path.join(dir, 'split-hd-ld'), log: (l) => lines.push(l) });
    expect(lines.filter((l) => l.startsWith('dataset '))).toEqual([
      'dataset cityscapes: dense → L_LD (losses.byDataset; the manifest says L_HD), split train, 4 images',
      'dataset ade20k: dense → L_HD, split training, 4 images',
    ]);
    for (const m of summary.metrics) {
      expect(m.hd).not.toBeNull();
      expect(m.ld).not.toBeNull();
      expect(m.loss).toBeCloseTo((m.hd as number) + (m.ld as number), 4);
    }
  }, 60_000);

  it('refuses, before any work, a dataset or a loss it does not know and a loss the dataset\'s annotations cannot feed', async () => {
    const refused = (overrides: Record<string, unknown>, name: string) => train({ config: smallConfig(world, overrides), run: path.join(dir, name), log: () => {} });
    await expect(refused({ losses: { byDataset: { mapillary: 'ld' } } }, 'r1')).rejects.toThrow(new TrainerError(`losses.byDataset names dataset "mapillary", which is not in ${world.manifest} (has: ade20k, cityscapes, coco)`));
    await expect(refused({ losses: { byDataset: { coco: 'ld' } }, data: { datasets: ['cityscapes'] } }, 'r2')).rejects.toThrow(/losses.byDataset names dataset "coco", which this run does not train \(data.datasets: cityscapes\)/);
    await expect(refused({ losses: { byDataset: { cityscapes: 'wd' } } }, 'r3')).rejects.toThrow(new TrainerError('losses.byDataset.cityscapes=wd: L_WD needs boxes, and cityscapes has dense label masks; choose hd or ld'));
    expect(() => smallConfig(world, { losses: { byDataset: { cityscapes: 'ce' } } })).toThrow(/losses.byDataset.cityscapes must be one of hd, ld, wd, got "ce"/);
    for (const name of ['r1', 'r2', 'r3']) expect(existsSync(path.join(dir, name))).toBe(false);
  });
});

describe('three kinds of dataset: dense (L_HD), instance masks (L_LD), boxes (L_WD)', () => {
  const manifest = path.join(dir, 'three-kinds.sqlite');
  let boxes = 0;
  beforeAll(async () => {
    copyFileSync(world.manifest, manifest);
    await addOpenImagesDataset(manifest, path.join(dir, 'oi3'), ['/m/0bt9lr', '/m/0k4j']);
    ({ boxes } = await addBoxDataset(manifest, path.join(dir, 'o365'), [{ id: 6, name: 'Car' }, { id: 1, name: 'Person' }]));
    expect(boxes).toBeGreaterThanOrEqual(4);
  });

  it('trains on all three; the CLIP box-crop embeddings are computed once and then read from the cache', async () => {
    const vision = path.join(dir, 'tiny-clip-vision');
    writeTinyClipVisionModel(vision, { seed: 3, projectionDim: 24 });
    const config = smallConfig(world, { manifest, clipVision: vision, steps: 12, data: { datasets: ['cityscapes', 'openimages-fixture', 'o365-fixture'] } });
    const lines: string[] = [];
    const summary = await train({ config, run: path.join(dir, 'three'), log: (l) => lines.push(l) });
    expect(lines).toContain('dataset o365-fixture: boxes → L_WD, split train, 4 images');
    expect(lines.find((l) => l.startsWith('box embeddings'))).toMatch(/^box embeddings \(local:tiny-clip-vision@[0-9a-f]{16}, 24-d\): (\d+) computed, 0 from the cache$/);
    expect(lines.find((l) => l.startsWith('box embeddings'))).toContain(`: ${boxes} computed,`);
    for (const m of summary.metrics) {
      expect(m.hd).not.toBeNull();
      expect(m.ld).not.toBeNull();
      expect(m.wd).not.toBeNull();
      expect(m.wd as number).toBeGreaterThan(0);
      expect(m.wd as number).toBeLessThanOrEqual(2 * Math.sqrt(24));
      expect(m.loss).toBeCloseTo((m.hd as number) + (m.ld as number) + (m.wd as number), 4);
    }
    const losses = summary.metrics.map((m) => m.loss);
    expect(mean(losses.slice(-3))).toBeLessThan(0.8 * mean(losses.slice(0, 3)));
    expect(readdirSync(path.join(dir, 'three', 'checkpoints'))).toContain('latest.json');
    // Closed on the way out: no -wal/-shm beside it (checked before this test's own read-only look leaves them).
    for (const suffix of ['-wal', '-shm']) expect(existsSync(`${manifest}.box-embeddings.sqlite${suffix}`)).toBe(false);
    const cache = new Database(`${manifest}.box-embeddings.sqlite`, { readonly: true });
    expect((cache.prepare('SELECT COUNT(*) AS n FROM box_embeddings').get() as { n: number }).n).toBe(boxes);
    cache.close();
    const again: string[] = [];
    await train({ config: { ...config, steps: 1 }, run: path.join(dir, 'three-again'), log: (l) => again.push(l) });
    expect(again.find((l) => l.startsWith('box embeddings'))).toContain(`: 0 computed, ${boxes} from the cache`);
    // Every step's boxes are counted: used, or left out because the crop cut them (losses.wdMinVisible).
    expect(summary.wdBoxes).toBeGreaterThan(0);
    expect(summary.wdBoxes).toBe(summary.metrics.reduce((n, m) => n + m.wdBoxes, 0));
    expect(summary.wdBoxesCut).toBe(summary.metrics.reduce((n, m) => n + m.wdBoxesCut, 0));
  }, 120_000);

  it('trains all three with --set losses.resolution=label: L_HD and L_LD over the crop\'s 64×64 label, L_WD as before', async () => {
    const vision = path.join(dir, 'tiny-clip-vision');
    const config = smallConfig(world, { manifest, clipVision: vision, steps: 3, data: { datasets: ['cityscapes', 'openimages-fixture', 'o365-fixture'] }, ...parseOverride('losses.resolution=label') });
    const lines: string[] = [];
    const summary = await train({ config, run: path.join(dir, 'three-label'), log: (l) => lines.push(l) });
    expect(lines).toContain("losses at the label's resolution (64×64, logits upsampled bilinearly) (losses.resolution)");
    for (const m of summary.metrics) {
      for (const part of [m.hd, m.ld, m.wd]) expect(Number.isFinite(part)).toBe(true);
      expect(m.loss).toBeCloseTo((m.hd as number) + (m.ld as number) + (m.wd as number), 4);
    }
    expect(JSON.parse(readFileSync(path.join(dir, 'three-label', 'config.json'), 'utf8')).losses.resolution).toBe('label');
    // No tensor left behind by the banded op: the count is the same after every step.
    expect(new Set(summary.metrics.map((m) => m.numTensors)).size).toBe(1);
  }, 120_000);

  it('refuses hd or ld for a box-only dataset and wd for an instance-mask one (losses.byDataset), naming the dataset', async () => {
    for (const loss of ['hd', 'ld']) {
      await expect(train({ config: smallConfig(world, { manifest, losses: { byDataset: { 'o365-fixture': loss } } }), run: path.join(dir, `x-${loss}`), log: () => {} })).rejects.toThrow(
        new TrainerError(`losses.byDataset.o365-fixture=${loss}: L_${loss.toUpperCase()} needs label masks, and o365-fixture has boxes only; choose wd`),
      );
    }
    await expect(train({ config: smallConfig(world, { manifest, losses: { byDataset: { 'openimages-fixture': 'wd' } } }), run: path.join(dir, 'x-wd'), log: () => {} })).rejects.toThrow(
      new TrainerError('losses.byDataset.openimages-fixture=wd: L_WD needs boxes, and openimages-fixture has instance masks; choose hd or ld'),
    );
  });

  it('refuses a box-only dataset without a CLIP vision tower, naming the setting', async () => {
    await expect(train({ config: smallConfig(world, { manifest }), run: path.join(dir, 'x4'), log: () => {} })).rejects.toThrow(
      /box-only dataset\(s\) o365-fixture need a CLIP vision tower for L_WD's box-crop embeddings: set clipVision/,
    );
  });
});

describe('palette masks (Mapillary Vistas)', () => {
  it('reach the loss as label ids of their palette indices, not as colours', async () => {
    const root = path.join(dir, 'vistas');
    const { readTaxonomy } = await import('@sentseg/dataset-tools');
    await writeMapillaryVistas(root, { training: 2 }, [40, 32], readTaxonomy('mapillary-vistas').classes.map((c) => c.name));
    const manifest = path.join(dir, 'vistas.sqlite');
    await mergeDatasets(manifest, parseDatasetSpecs([`mapillary=${root}`]), { workers: 0 });
    const reader = ManifestReader.open(manifest);
    const [id] = reader.imageIds('mapillary', 'training');
    const sample = reader.sample(id as number);
    const lut = reader.lut('mapillary');
    const numLabels = reader.labels().length;
    reader.close();
    const r = await loadSample({
      dataset: 'mapillary', imageId: id as number, image: sample!.image, mask: sample!.mask, encoding: 'gray', segments: [], lut, instances: [], boxes: [],
      augment: { shortEdge: 32, crop: 32, flip: false, colorJitter: 0, blurProbability: 0, noiseStd: 0 }, minBoxVisible: 0.5, numLabels, seed: 1,
    });
    if (!r.ok) throw new Error(r.reason);
    // The generator draws class ids 2, 13, 15, 17, 27, 30, 45, 55 and 65 (unlabeled → 255).
    const allowed = new Set([2, 13, 15, 17, 27, 30, 45, 55].map((v) => lut[v]).concat([255]));
    const seen = new Set(r.target);
    expect([...seen].every((v) => allowed.has(v))).toBe(true);
    expect([...seen].some((v) => v !== 255)).toBe(true);
  });
});

describe('resume', () => {
  it('continues exactly: 3 steps + resume 3 gives the weights of 6 steps straight', async () => {
    const a = path.join(dir, 'six');
    const b = path.join(dir, 'three-three');
    await train({ config: smallConfig(world, { steps: 6 }), run: a, log: () => {} });
    // Interrupted after its third step (as Ctrl-C does), then resumed.
    let stepsDone = 0;
    const first = await train({ config: smallConfig(world, { steps: 6 }), run: b, log: () => {}, stopRequested: () => ++stepsDone === 3 });
    expect(first).toMatchObject({ interrupted: true, endStep: 3 });
    const resumed = await train({ config: smallConfig(world, { steps: 6 }), run: b, resume: true, log: () => {} });
    expect(resumed.startStep).toBe(3);
    const wa = loadWeights(loadCheckpoint(a).dir, 'model').tensors;
    const wb = loadWeights(loadCheckpoint(b).dir, 'model').tensors;
    expect([...wb.keys()]).toEqual([...wa.keys()]);
    let worst = 0;
    for (const [name, t] of wa) worst = Math.max(worst, (tf.max(tf.abs(tf.sub(t, wb.get(name) as tf.Tensor))).dataSync() as Float32Array)[0] as number);
    expect(worst).toBe(0);
    const la = readFileSync(path.join(a, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).loss);
    const lb = readFileSync(path.join(b, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).loss);
    expect(lb).toEqual(la);
  }, 120_000);
});

describe('the run folder', () => {
  it('refuses a folder that holds a run unless resumed or overwritten, before any work', async () => {
    const run = path.join(dir, 'straight');
    const before = readFileSync(path.join(run, 'metrics.jsonl'), 'utf8');
    const lines: string[] = [];
    await expect(train({ config: smallConfig(world), run, log: (l) => lines.push(l) })).rejects.toThrow(
      new TrainerError(`${run} already holds a run (config.json, metrics.jsonl, checkpoints/): continue it with --resume ${run}, or start it over with --overwrite`),
    );
    expect(lines).toEqual([]);
    expect(readFileSync(path.join(run, 'metrics.jsonl'), 'utf8')).toBe(before);
    // overwrite removes the old run only once the inputs have passed their checks.
    await expect(train({ config: smallConfig(world, { labelBank: world.manifest }), run, overwrite: true, log: () => {} })).rejects.toThrow(
      new TrainerError(`label bank: ${world.manifest} is a sentseg manifest (merge-datasets), not a sentseg label bank (label-bank)`),
    );
    expect(readFileSync(path.join(run, 'metrics.jsonl'), 'utf8')).toBe(before);
    expect(readdirSync(path.join(run, 'checkpoints')).sort()).toEqual(['latest.json', 'step-000008', 'step-000012']);
  });

  it('writes config.json with absolute paths, whatever the working directory it was given relative ones in', async () => {
    const run = path.join(dir, 'relative');
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      await train({ config: smallConfig(world, { manifest: path.basename(world.manifest), labelBank: path.basename(world.bank), steps: 1 }), run, log: () => {} });
    } finally {
      process.chdir(cwd);
    }
    const saved = JSON.parse(readFileSync(path.join(run, 'config.json'), 'utf8'));
    expect(saved).toMatchObject({ manifest: world.manifest, labelBank: world.bank, clipVision: null, boxCache: null });
  }, 60_000);
});

describe('bad input', () => {
  it('refuses a label bank without the manifest\'s labels, naming them', async () => {
    // --keep-unmapped turns ADE20K's unmapped classes into labels the bank has never heard of.
    const kept = path.join(dir, 'kept.sqlite');
    await mergeDatasets(kept, parseDatasetSpecs([`ade20k=${path.join(dir, 'ADEChallengeData2016')}`]), { workers: 0, keepUnmapped: true });
    const reader = ManifestReader.open(kept);
    const extra = reader.labels().filter((l) => l.id >= 238).map((l) => l.name);
    reader.close();
    expect(extra.length).toBeGreaterThan(0);
    await expect(train({ config: smallConfig(world, { manifest: kept }), run: path.join(dir, 'x1'), log: () => {} })).rejects.toThrow(
      `manifest and label bank were built with different label sets: ${extra.length} label(s) of ${kept} are not in ${world.bank}: ${extra.slice(0, 8).join(', ')}`,
    );
  });

  it('refuses to resume a run with label embeddings of another dimension', async () => {
    const bank16 = path.join(dir, 'bank16.sqlite');
    writeBank(bank16, 16);
    // steps above the run's 12, so the dimension check is what refuses it.
    await expect(train({ config: smallConfig(world, { labelBank: bank16, steps: 20 }), run: path.join(dir, 'straight'), resume: true, log: () => {} })).rejects.toThrow(
      /was trained on 32-d label embeddings, the label bank gives 16-d ones/,
    );
  });

  it('names a dataset without a training split and an unknown dataset', async () => {
    await expect(train({ config: smallConfig(world, { data: { splits: ['trainval'] } }), run: path.join(dir, 'x2'), log: () => {} })).rejects.toThrow(
      new TrainerError('dataset ade20k has no training split named trainval (it has: training, validation); set data.splits'),
    );
    await expect(train({ config: smallConfig(world, { data: { datasets: ['mapillary'] } }), run: path.join(dir, 'x3'), log: () => {} })).rejects.toThrow(/dataset "mapillary" is not in/);
  });

  it('skips and counts an image that disappears mid-training', async () => {
    const reader = ManifestReader.open(world.manifest);
    const victim = reader.sample(reader.imageIds('cityscapes', 'train')[0] as number);
    reader.close();
    const saved = readFileSync(victim!.image);
    rmSync(victim!.image);
    try {
      const lines: string[] = [];
      const summary = await train({ config: smallConfig(world, { steps: 8 }), run: path.join(dir, 'missing'), log: (l) => lines.push(l) });
      expect(summary.endStep).toBe(8);
      expect(summary.skippedImages).toBeGreaterThan(0);
      expect(summary.skippedImages).toBe(summary.metrics.reduce((s, m) => s + m.skipped, 0));
      expect(lines.filter((l) => l.startsWith('skipped '))[0]).toBe(`skipped cityscapes ${victim!.image}: image missing`);
      expect(summary.metrics.some((m) => m.images === 2)).toBe(true);
    } finally {
      writeFileSync(victim!.image, saved);
    }
    expect(existsSync(victim!.image)).toBe(true);
  }, 60_000);
});
