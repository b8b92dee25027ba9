/**
 * A manifest with more than 255 labels (merged with --keep-unmapped, or a generic dataset of a
 * large taxonomy) has a label 255: it is a label like any other in train and eval, and "no label"
 * is 65,535 there (ignoreIndexFor). Eval used to refuse such a manifest ("label id 255 collides
 * with the ignore index 255") and the loader read label 255 as ignored.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PNG } from 'pngjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { ignoreIndexFor, ManifestReader, mergeDatasets } from '@sentseg/dataset-tools';
import { writeImage } from '@sentseg/dataset-tools/testing';
import { LabelBank } from '@sentseg/label-bank';
import { loadSample } from '../src/data/load-sample.js';
import { NOT_A_CLASS } from '../src/data/load-sample.js';
import { evaluate } from '../src/eval/evaluate.js';
import { train } from '../src/train.js';
import { tempDir } from '../../../tests/utils.js';
import { writeBank, type World } from '../../../tests/training-world.js';
import { smallConfig } from './fixtures.js';

const dir = tempDir('sentseg-many-labels-');
const W = 48;
const H = 40;
const CLASSES = 300;
let world: World;
/** The source id (class of the generic dataset) whose label id is 255, and its name. */
let source255 = -1;
let name255 = '';

/** A 16-bit gray mask: the left third `a`, the middle third `b`, the right third 65,535 (the dataset's ignore value). */
function mask16(file: string, a: number, b: number): void {
  const png = new PNG({ width: W, height: H, bitDepth: 16, colorType: 0, inputColorType: 0, inputHasAlpha: false });
  const values = new Uint16Array(W * H);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) values[y * W + x] = x < W / 3 ? a : x < (2 * W) / 3 ? b : 65_535;
  png.data = Buffer.from(values.buffer);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, PNG.sync.write(png, { bitDepth: 16, colorType: 0, inputColorType: 0, inputHasAlpha: false }));
}

beforeAll(async () => {
  // A generic dataset of 300 classes, none of them a shipped label: with --keep-unmapped each
  // becomes a label (ids 238..537), so one of them is label 255.
  const root = path.join(dir, 'wide');
  const classes = Array.from({ length: CLASSES }, (_, id) => ({ id, name: `wide class ${id}`, label: 'unmapped' }));
  mkdirSync(root, { recursive: true });
  writeFileSync(path.join(root, 'classes.json'), JSON.stringify({ classes, ignoreValues: [65_535] }));
  // Which class becomes label 255 is found by a first merge; the masks are then written with it.
  const manifest = path.join(dir, 'manifest.sqlite');
  const splits = { train: 4, val: 2 };
  let n = 0;
  for (const [split, count] of Object.entries(splits)) {
    for (let i = 0; i < count; i++, n++) {
      await writeImage(path.join(root, 'images', split, `${split}${i}.jpg`), W, H, n + 1);
      mask16(path.join(root, 'masks', split, `${split}${i}.png`), 0, 1);
    }
  }
  const probe = path.join(dir, 'probe.sqlite');
  await mergeDatasets(probe, [{ name: 'wide', root, format: 'generic' }], { workers: 0, keepUnmapped: true });
  const reader = ManifestReader.open(probe);
  try {
    const label = reader.labels().find((l) => l.id === 255);
    if (!label) throw new Error('the merged manifest has no label 255');
    name255 = label.name;
    source255 = Number(/wide class (\d+)/.exec(name255)?.[1]);
  } finally {
    reader.close();
  }
  // Masks: label 255's class beside another class, in every image.
  n = 0;
  for (const [split, count] of Object.entries(splits)) {
    for (let i = 0; i < count; i++, n++) mask16(path.join(root, 'masks', split, `${split}${i}.png`), source255, source255 + 1);
  }
  // The manifest of these masks, then a bank with the 300 added labels.
  await mergeDatasets(manifest, [{ name: 'wide', root, format: 'generic' }], { workers: 0, keepUnmapped: true });
  const bankFile = path.join(dir, 'label-bank.sqlite');
  const bank = LabelBank.open(bankFile);
  for (const c of classes) bank.addLabel({ name: c.name, group: 'other', description: `a ${c.name}`, source: 'manual' });
  bank.close();
  writeBank(bankFile, 32);
  world = { dir, manifest, bank: bankFile };
}, 120_000);

describe('a manifest with more than 255 labels', () => {
  it('reads label 255 as a label: "no label" is 65,535 there', async () => {
    const reader = ManifestReader.open(world.manifest);
    try {
      const count = reader.labels().length;
      expect(count).toBe(238 + CLASSES);
      expect(reader.ignoreIndex()).toBe(65_535);
      expect(ignoreIndexFor(count)).toBe(65_535);
      const lut = reader.lut('wide');
      expect(lut[source255]).toBe(255);
      const sample = reader.sample(reader.imageIds('wide', 'train')[0] as number);
      if (!sample?.mask) throw new Error('no training sample');
      const loaded = await loadSample({
        dataset: 'wide',
        imageId: sample.id,
        image: sample.image,
        mask: sample.mask,
        encoding: 'gray',
        segments: [],
        lut: reader.lut('wide', 65_535, NOT_A_CLASS),
        numLabels: count,
        instances: [],
        boxes: [],
        augment: { shortEdge: H, crop: 32, flip: false, colorJitter: 0, blurProbability: 0, noiseStd: 0 },
        minBoxVisible: 0.5,
        seed: 1,
      });
      if (!loaded.ok) throw new Error(loaded.reason);
      const counts = new Map<number, number>();
      for (const v of loaded.target) counts.set(v, (counts.get(v) ?? 0) + 1);
      // Label 255 and its neighbour are both present, and the ignored third is 65,535.
      expect(counts.get(255)).toBeGreaterThan(0);
      expect(counts.get(256)).toBeGreaterThan(0);
      expect(counts.get(65_535)).toBeGreaterThan(0);
    } finally {
      reader.close();
    }
  });

  it('trains and evaluates: label 255 is a class of the per-class table, scored where it occurs', async () => {
    const run = path.join(dir, 'run');
    const summary = await train({ config: smallConfig(world, { steps: 2, checkpointEvery: 2, data: { datasets: ['wide'], batchSize: 2, shortEdge: 40, crop: 32 } }), run, log: () => {} });
    expect(summary.metrics.length).toBe(2);
    for (const m of summary.metrics) expect(Number.isFinite(m.loss)).toBe(true);
    const report = await evaluate({ run, manifest: world.manifest, labelBank: world.bank, dataset: 'wide', split: 'val', infer: { scales: [40], flip: false } });
    expect(report.images).toBe(2);
    expect(report.skipped).toEqual([]);
    const at = report.classes.findIndex((c) => c.labelId === 255);
    expect(report.classes[at]?.name).toBe(name255);
    // Each val mask holds 16 columns × 40 rows of label 255: its row of the confusion matrix counts them.
    const k = report.classes.length;
    const row = report.confusion.slice(at * k, (at + 1) * k).reduce((a, b) => a + b, 0);
    expect(row).toBe(2 * 16 * H);
  }, 240_000);
});
