import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { LabelBank, embedLabels, loadClipTextEncoder, writeTinyClipTextModel } from '@sentseg/label-bank';
import { PNG } from 'pngjs';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { HAS_TOKENIZER, tempDir, TOKENIZER_JSON } from '../../../tests/utils.js';
import { ManifestReader, readMaskValues } from '@sentseg/dataset-tools';
import { labelRequests } from '../src/commands.js';
import { TrainerError } from '../src/errors.js';
import { confusablePairs, LEGEND_ROW, listInputs, predict } from '../src/predict/predict.js';
import { darkPixels, pixel } from './picture.js';
import { train } from '../src/train.js';
import { writeWorld, type World } from '../../../tests/training-world.js';
import { smallConfig } from './fixtures.js';

const dir = tempDir();
let world: World;
const photos = path.join(dir, 'photos');

beforeAll(async () => {
  world = await writeWorld(dir);
  await train({ config: smallConfig(world, { steps: 3 }), run: path.join(dir, 'run'), log: () => {} });
  mkdirSync(photos, { recursive: true });
  const reader = ManifestReader.open(world.manifest);
  for (const s of [...reader.samples('cityscapes', 'val')]) copyFileSync(s.image, path.join(photos, path.basename(s.image)));
  reader.close();
  writeFileSync(path.join(photos, 'broken.png'), Buffer.from('not a png at all'));
}, 120_000);

describe('predict', () => {
  it('writes a label PNG, an overlay with a legend of the labels present, and the legend as JSON; skips unreadable images', async () => {
    const out = path.join(dir, 'pred');
    const labels = ['road', 'sky', 'car', 'person', 'vegetation'];
    const summary = await predict({ run: path.join(dir, 'run'), labelBank: world.bank, inputs: listInputs(photos), out, labels: labels.map((name) => ({ name })), shortEdge: 64, scores: 2 });
    expect(summary.skipped.map((s) => path.basename(s.file))).toEqual(['broken.png']);
    expect(summary.images).toHaveLength(2);
    for (const img of summary.images) {
      const meta = await sharp(img.input).metadata();
      // The label PNG is one channel: an 8-bit palette PNG whose values are the label indices.
      const bytes = readFileSync(img.labelsPng);
      expect({ bitDepth: bytes[24], colourType: bytes[25] }).toEqual({ bitDepth: 8, colourType: 3 });
      const values = readMaskValues(img.labelsPng, 'gray');
      expect([values.width, values.height]).toEqual([meta.width, meta.height]);
      // Pixels per label in the label PNG, counted here.
      const counts = new Map<number, number>();
      for (const v of values.values) counts.set(v, (counts.get(v) ?? 0) + 1);
      const legend = JSON.parse(readFileSync(img.legendJson, 'utf8')) as {
        labels: string[];
        labelsPng: { file: string; bitDepth: number; colourType: string };
        present: { index: number; name: string; pixels: number; colour: [number, number, number]; listed: boolean }[];
      };
      expect(legend.labels).toEqual(labels);
      expect(legend.labelsPng).toMatchObject({ file: path.basename(img.labelsPng), bitDepth: 8, colourType: 'palette' });
      expect(new Map(legend.present.map((e) => [e.index, e.pixels]))).toEqual(counts);
      expect(legend.present.every((e) => e.name === labels[e.index])).toBe(true);
      // The palette gives each listed label its overlay colour.
      const plte = bytes.indexOf('PLTE', 0, 'latin1') + 4;
      for (const e of legend.present.filter((p) => p.listed)) expect(Array.from(bytes.subarray(plte + 3 * e.index, plte + 3 * e.index + 3))).toEqual(e.colour);
      const listed = legend.present.filter((e) => e.listed);
      const rows = listed.length + (listed.length < legend.present.length ? 1 : 0);
      const overlay = PNG.sync.read(readFileSync(img.overlayPng));
      expect(overlay.height).toBe((meta.height as number) + LEGEND_ROW * rows + 8);
      // The legend below the image: one swatch per listed label in its colour, with its name drawn beside it.
      listed.forEach((e, i) => {
        const y = (meta.height as number) + 6 + i * LEGEND_ROW;
        expect(pixel(overlay, 14, y + 8)).toEqual(e.colour);
        expect(darkPixels(overlay, { x0: 28, y0: y, x1: overlay.width, y1: y + 16 })).toBeGreaterThan(20);
      });
      const header = JSON.parse(readFileSync(img.scores as string, 'utf8')) as { shape: number[]; labels: string[]; data: string };
      expect(header.shape).toEqual([Math.min(2, legend.present.length), meta.height, meta.width]);
      expect(header.labels).toEqual(legend.present.slice(0, 2).map((e) => e.name));
      const scores = new Float32Array(readFileSync(path.join(out, header.data)).buffer.slice(0));
      expect(scores.length).toBe(header.shape.reduce((a, b) => a * b, 1));
      expect(Math.max(...scores)).toBeLessThanOrEqual(1.0001);
      expect(Math.min(...scores)).toBeGreaterThanOrEqual(-1.0001);
      // The label PNG is the arg-max of the same cosine maps: where it names one of the top labels,
      // that label's plane is the highest of the planes written.
      const [k, h, w] = header.shape as [number, number, number];
      const topIndex = header.labels.map((name) => labels.indexOf(name));
      let checked = 0;
      for (let i = 0; i < h * w; i++) {
        const plane = topIndex.indexOf(values.values[i] as number);
        if (plane < 0) continue;
        for (let j = 0; j < k; j++) expect(scores[plane * h * w + i] as number).toBeGreaterThanOrEqual(scores[j * h * w + i] as number);
        checked += 1;
      }
      expect(checked).toBeGreaterThan(0);
    }
  }, 60_000);

  it('refuses a label that is neither in the bank nor described', async () => {
    await expect(predict({ run: path.join(dir, 'run'), labelBank: world.bank, inputs: listInputs(photos), out: path.join(dir, 'p2'), labels: [{ name: 'lawn gnome' }], shortEdge: 64, scores: 0 })).rejects.toThrow(
      new TrainerError(`label "lawn gnome" is not in ${world.bank}; describe it: --describe "lawn gnome=An image of lawn gnome. ..."`),
    );
  });

  it('reads labels from --labels, --labels-file and --describe', () => {
    const file = path.join(dir, 'labels.txt');
    writeFileSync(file, '# mine\nroad\n\nsky\n');
    expect(labelRequests('car, person', file, ['lawn=An image of lawn. A lawn is mown grass.', 'sky=An image of sky.'])).toEqual([
      { name: 'car' },
      { name: 'person' },
      { name: 'road' },
      { name: 'sky', description: 'An image of sky.' },
      { name: 'lawn', description: 'An image of lawn. A lawn is mown grass.' },
    ]);
    expect(labelRequests(undefined, undefined, undefined)).toBeNull();
    expect(() => labelRequests(undefined, undefined, ['lawn'])).toThrow(/--describe takes name=description, got "lawn"/);
  });

  it('flags pairs of labels whose embeddings are at least 0.95 cosine', () => {
    const labels = { names: ['a', 'b', 'c'], dim: 2, encoded: [], data: Float32Array.from([1, 0, 0.96, Math.sqrt(1 - 0.96 ** 2), 0, 1]) };
    const pairs = confusablePairs(labels);
    expect(pairs.map((p) => [p.a, p.b])).toEqual([['a', 'b']]);
    expect(pairs[0]?.cosine).toBeCloseTo(0.96, 5);
  });

  it.skipIf(!HAS_TOKENIZER)('segments with a new label described in a sentence, encoded once with the bank\'s text encoder', async () => {
    const encoderDir = path.join(dir, 'tiny-clip');
    writeTinyClipTextModel(encoderDir, { tokenizerJson: TOKENIZER_JSON, seed: 5 });
    const bankFile = path.join(dir, 'clip-bank.sqlite');
    const bank = LabelBank.open(bankFile);
    await embedLabels(bank, await loadClipTextEncoder(encoderDir));
    bank.close();
    const run = path.join(dir, 'clip-run');
    await train({ config: smallConfig(world, { steps: 2, labelBank: bankFile }), run, log: () => {} });
    const request = [{ name: 'car' }, { name: 'lawn', description: 'An image of lawn. A lawn is an area of short, mown grass.' }];
    const first = await predict({ run, labelBank: bankFile, inputs: listInputs(photos).slice(0, 1), out: path.join(dir, 'zs'), labels: request, shortEdge: 64, scores: 0 });
    expect(first.labels.encoded).toEqual(['lawn']);
    expect(first.images).toHaveLength(1);
    const again = await predict({ run, labelBank: bankFile, inputs: listInputs(photos).slice(0, 1), out: path.join(dir, 'zs'), labels: request, shortEdge: 64, scores: 0 });
    expect(again.labels.encoded).toEqual([]);
    expect(Array.from(again.labels.data)).toEqual(Array.from(first.labels.data));
  }, 120_000);
});
