import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { LabelBank, labelText } from '@sentseg/label-bank';
import path from 'node:path';
import { PNG } from 'pngjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { ManifestReader } from '@sentseg/dataset-tools';
import { mergeDatasets, parseDatasetSpecs } from '@sentseg/dataset-tools';
import { datasetClasses, evaluate, unseenLabels, type EvalReport } from '../src/eval/evaluate.js';
import { markdownTable, writeEvalOutputs } from '../src/eval/report.js';
import { meanIoU } from '../src/metrics/iou.js';
import { windowStarts } from '../src/eval/infer.js';
import { train } from '../src/train.js';
import { tempDir } from '../../../tests/utils.js';
import { TEST_ENCODER, writeWorld, type World } from '../../../tests/training-world.js';
import { smallConfig } from './fixtures.js';

const dir = tempDir();
let world: World;
const run = () => path.join(dir, 'run');

beforeAll(async () => {
  world = await writeWorld(dir);
  await train({ config: smallConfig(world, { steps: 4 }), run: run(), log: () => {} });
}, 120_000);

/** Pixels per label over a split, as dataset-tools counted them from the masks when merging. */
function labelPixels(dataset: string, split: string): Map<number, number> {
  const reader = ManifestReader.open(world.manifest);
  const totals = new Map<number, number>();
  for (const s of reader.samples(dataset, split)) for (const { labelId, pixels } of reader.imageLabels(s.id)) totals.set(labelId, (totals.get(labelId) ?? 0) + pixels);
  reader.close();
  return totals;
}

function rowSums(report: EvalReport): number[] {
  const k = report.classes.length;
  return report.classes.map((_, t) => report.confusion.slice(t * k, (t + 1) * k).reduce((a, b) => a + b, 0));
}

describe('eval', () => {
  it.each([
    ['cityscapes', 'val', [48], false],
    ['coco', 'val', [40, 64], true],
    ['ade20k', 'validation', [40], true],
  ] as const)('%s %s at %j, flip %s: every labelled pixel counted once, among the dataset\'s own classes', async (dataset, split, scales, flip) => {
    const report = await evaluate({ run: run(), manifest: world.manifest, labelBank: world.bank, dataset, split, infer: { scales: [...scales], flip } });
    expect(report.images).toBe(2);
    expect(report.skipped).toEqual([]);
    const reader = ManifestReader.open(world.manifest);
    expect(report.classes).toEqual(datasetClasses(reader, dataset).classes);
    reader.close();
    const expected = labelPixels(dataset, split);
    expect(rowSums(report)).toEqual(report.classes.map((c) => expected.get(c.labelId) ?? 0));
    expect(report).toMatchObject(meanIoU(Float64Array.from(report.confusion)));
    expect(report.miou).toBeGreaterThanOrEqual(0);
    expect(report.miou).toBeLessThanOrEqual(1);
  }, 60_000);

  it('slides a window with a 2/3 stride, the last window flush with the edge', async () => {
    expect(windowStarts(10, 4, 3)).toEqual([0, 3, 6]);
    expect(windowStarts(11, 4, 3)).toEqual([0, 3, 6, 7]);
    expect(windowStarts(4, 4, 3)).toEqual([0]);
    const whole = await evaluate({ run: run(), manifest: world.manifest, labelBank: world.bank, dataset: 'cityscapes', split: 'val', infer: { scales: [40], flip: false } });
    const tiled = await evaluate({ run: run(), manifest: world.manifest, labelBank: world.bank, dataset: 'cityscapes', split: 'val', infer: { scales: [40], flip: false, window: 32 } });
    expect(rowSums(tiled)).toEqual(rowSums(whole));
    expect(tiled.window).toBe(32);
    // A window as large as the image is the whole image.
    const same = await evaluate({ run: run(), manifest: world.manifest, labelBank: world.bank, dataset: 'cityscapes', split: 'val', infer: { scales: [40], flip: false, window: 64 } });
    expect(same.confusion).toEqual(whole.confusion);
  }, 60_000);

  it('writes JSON, Markdown, the confusion matrix and its heatmap', async () => {
    const report = await evaluate({ run: run(), manifest: world.manifest, labelBank: world.bank, dataset: 'cityscapes', split: 'val', infer: { scales: [48], flip: false } });
    const files = await writeEvalOutputs(dir, report);
    expect(files.map((f) => path.basename(f))).toEqual(['eval.json', 'eval.md', 'confusion.json', 'confusion.png', 'confusion.html']);
    const json = JSON.parse(readFileSync(path.join(dir, 'eval.json'), 'utf8'));
    expect(json).toMatchObject({ dataset: 'cityscapes', split: 'val', mode: 'ss 48', images: 2 });
    expect(json.perClass).toHaveLength(report.classes.length);
    // What the picture shows is checked in confusion-figure.test.ts; here, that it is a PNG wider than its cells.
    const png = PNG.sync.read(readFileSync(path.join(dir, 'confusion.png')));
    expect(png.width).toBeGreaterThan(12 * report.classes.length);
    expect(markdownTable(report)).toContain(`| ${report.classes[0]?.name} |`);
    expect(existsSync(path.join(dir, 'confusion.json'))).toBe(true);
  }, 60_000);

  it('lists the labels no training dataset had', async () => {
    const cityOnly = path.join(dir, 'city-only.sqlite');
    await mergeDatasets(cityOnly, parseDatasetSpecs([`cityscapes=${path.join(dir, 'cityscapes')}`]), { workers: 0 });
    const reader = ManifestReader.open(world.manifest);
    const unseen = unseenLabels(reader, 'coco', cityOnly, null);
    const city = new Set(datasetClasses(reader, 'cityscapes').classes.map((c) => c.name));
    const coco = datasetClasses(reader, 'coco').classes.map((c) => c.name);
    reader.close();
    expect(unseen).toEqual(coco.filter((n) => !city.has(n)));
    expect(unseen.length).toBeGreaterThan(0);
    expect(unseen.length).toBeLessThan(coco.length);
  });
  it('a class with no embedding of the checkpoint\'s encoder stops eval, or with never-predicted scores IoU 0 and is never chosen', async () => {
    const bank = path.join(dir, 'bank-without-car.sqlite');
    copyFileSync(world.bank, bank);
    const lb = LabelBank.open(bank, { readonly: true });
    const carText = labelText(lb.requireLabel('car'), 'sentence');
    lb.close();
    const db = new Database(bank);
    expect(db.prepare('DELETE FROM embeddings WHERE model_id = ? AND text = ?').run(TEST_ENCODER, carText).changes).toBe(1);
    db.close();
    const options = { run: run(), manifest: world.manifest, labelBank: bank, dataset: 'cityscapes', split: 'val', infer: { scales: [48], flip: false } };
    await expect(evaluate(options)).rejects.toThrow(/sentence embeddings missing for model test:seeded-random: car/);
    const report = await evaluate({ ...options, missingLabels: 'never-predicted' });
    expect(report.neverPredicted).toEqual(['car']);
    const k = report.classes.length;
    const car = report.classes.findIndex((c) => c.name === 'car');
    expect(car).toBeGreaterThanOrEqual(0);
    // Nothing is predicted as car, every labelled pixel is still counted once, and car's IoU is 0 where it occurs.
    expect(report.classes.map((_, t) => report.confusion[t * k + car])).toEqual(report.classes.map(() => 0));
    const expected = labelPixels('cityscapes', 'val');
    expect(rowSums(report)).toEqual(report.classes.map((c) => expected.get(c.labelId) ?? 0));
    expect(report.iou[car]).toBe((expected.get(report.classes[car]?.labelId as number) ?? 0) > 0 ? 0 : null);
  }, 60_000);
});
