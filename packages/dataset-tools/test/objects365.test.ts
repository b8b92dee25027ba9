import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { detectFormat } from '../src/formats/index.js';
import { streamJsonArrays } from '../src/json-stream.js';
import { ManifestReader } from '../src/manifest/reader.js';
import { validateManifest } from '../src/manifest/validate.js';
import { mergeDatasets, parseDatasetSpecs } from '../src/merge.js';
import { writeImage, writeObjects365, type WrittenBox } from '../src/testing/index.js';
import { tempDir } from '../../../tests/utils.js';
import { taxonomyTable } from '../../../tests/manifest-helpers.js';

const dir = tempDir();
const SIZE: [number, number] = [48, 32];
// Person, Sneakers (unmapped), Car, SUV (a kind of car), Dog.
const CATEGORIES = [
  { id: 1, name: 'Person' },
  { id: 2, name: 'Sneakers' },
  { id: 6, name: 'Car' },
  { id: 35, name: 'SUV' },
  { id: 93, name: 'Dog' },
];
let v2: Awaited<ReturnType<typeof writeObjects365>>;
let v1: Awaited<ReturnType<typeof writeObjects365>>;

beforeAll(async () => {
  v2 = await writeObjects365(path.join(dir, 'o365v2'), { train: 5, val: 3 }, SIZE, { version: 'v2', categories: CATEGORIES });
  v1 = await writeObjects365(path.join(dir, 'o365v1'), { train: 3, val: 2 }, SIZE, { version: 'v1', categories: CATEGORIES.map((c) => ({ ...c, name: c.name.toLowerCase() })), seed: 9 });
});

/** A written box clipped to the image, as [x, y, w, h]; null when nothing is left. */
function clip(b: WrittenBox): [number, number, number, number] | null {
  const [x, y, w, h] = b.bbox;
  const x0 = Math.max(0, x);
  const y0 = Math.max(0, y);
  const x1 = Math.min(SIZE[0], x + w);
  const y1 = Math.min(SIZE[1], y + h);
  return x1 > x0 && y1 > y0 ? [x0, y0, x1 - x0, y1 - y0] : null;
}

describe('streamed JSON arrays', () => {
  it('yields each element of the named arrays in order, and names a truncated file as malformed', async () => {
    const file = path.join(dir, 'a.json');
    writeFileSync(file, JSON.stringify({ info: { x: [9] }, images: [{ id: 1 }, { id: 2 }], annotations: [{ a: [1, 2] }], other: [5] }));
    const seen: [string, unknown][] = [];
    await streamJsonArrays(file, ['images', 'annotations'], (array, value) => seen.push([array, value]));
    expect(seen).toEqual([
      ['images', { id: 1 }],
      ['images', { id: 2 }],
      ['annotations', { a: [1, 2] }],
    ]);
    writeFileSync(file, '{"images": [{"id": 1}, {"id": ');
    await expect(streamJsonArrays(file, ['images'], () => undefined)).rejects.toThrow(/malformed JSON/);
  });
});

describe('Objects365', () => {
  it('reads v2 and v1 layouts: boxes clipped to the image, per-label box areas, images at their annotated size', async () => {
    expect(detectFormat(v2.root).name).toBe('objects365');
    expect(detectFormat(v1.root).name).toBe('objects365');
    const out = path.join(dir, 'o365.sqlite');
    const run = await mergeDatasets(out, parseDatasetSpecs([`o2=${v2.root}`, `o1=${v1.root}`], ['o2=objects365', 'o1=objects365']), { workers: 0 });
    expect(run.summaries.map((s) => [s.dataset, s.format, s.images])).toEqual([
      ['o2', 'objects365', 8],
      ['o1', 'objects365', 5],
    ]);
    const table = taxonomyTable('objects365');
    const reader = ManifestReader.open(out);
    try {
      expect(reader.dataset('o2')).toMatchObject({ annotation: 'boxes', loss: 'wd', splits: ['train', 'val'] });
      for (const [name, written] of [['o2', v2], ['o1', v1]] as const) {
        for (const sample of reader.samples(name)) {
          const rel = path.relative(written.root, sample.image).split(path.sep).join('/');
          const list = written.boxes.get(rel) ?? [];
          expect([sample.width, sample.height, sample.mask]).toEqual([SIZE[0], SIZE[1], null]);
          const expectedBoxes = list.flatMap((b) => {
            const c = clip(b);
            return c ? [{ sourceId: b.category, x: c[0], y: c[1], w: c[2], h: c[3] }] : [];
          });
          expect(reader.boxes(sample.id).map(({ boxId: _id, ...b }) => b)).toEqual(expectedBoxes.map((b) => ({ ...b, x: expect.closeTo(b.x, 9), y: expect.closeTo(b.y, 9), w: expect.closeTo(b.w, 9), h: expect.closeTo(b.h, 9) })));
          const areas = new Map<number, number>();
          for (const b of expectedBoxes) {
            const label = table.get(b.sourceId);
            if (label !== null && label !== undefined) areas.set(label, (areas.get(label) ?? 0) + Math.round(b.w * b.h));
          }
          expect(new Map(reader.imageLabels(sample.id).map((r) => [r.labelId, r.pixels])), rel).toEqual(areas);
        }
      }
      // SUV boxes count as car; Sneakers stay unmapped (no label) without --keep-unmapped.
      expect(table.get(35)).toBe(table.get(6));
      expect(table.get(2)).toBeNull();
      expect((await validateManifest(reader)).problems).toEqual([]);
    } finally {
      reader.close();
    }
  });

  it('turns bad entries into problems rows: a missing image, a path outside the root, an empty box, a truncated JSON', async () => {
    const root = path.join(dir, 'o365bad');
    await writeImage(path.join(root, 'val', 'ok.jpg'), 20, 10, 1);
    mkdirSync(path.join(root, 'annotations'), { recursive: true });
    writeFileSync(
      path.join(root, 'annotations', 'objects365_val.json'),
      JSON.stringify({
        images: [
          { id: 1, file_name: 'ok.jpg', width: 20, height: 10 },
          { id: 2, file_name: 'gone.jpg', width: 20, height: 10 },
          { id: 3, file_name: '../../etc/passwd', width: 20, height: 10 },
        ],
        annotations: [
          { image_id: 1, category_id: 1, bbox: [2, 2, 5, 5] },
          { image_id: 1, category_id: 6, bbox: [30, 2, 5, 5] },
          { image_id: 1, category_id: 6, bbox: [1, 1] },
          { image_id: 99, category_id: 1, bbox: [0, 0, 1, 1] },
        ],
        categories: [{ id: 1, name: 'person' }, { id: 6, name: 'car' }],
      }),
    );
    writeFileSync(path.join(root, 'annotations', 'objects365_train.json'), '{"images": [{"id": 1, "file_name": "x.jpg"}');
    const out = path.join(dir, 'bad.sqlite');
    const run = await mergeDatasets(out, parseDatasetSpecs([`bad=${root}`], ['bad=objects365']), { workers: 0 });
    expect(run.summaries[0]?.images).toBe(1);
    const reader = ManifestReader.open(out);
    try {
      const problems = reader.problems().map(({ file, reason }) => ({ file, reason }));
      expect(problems).toEqual([
        { file: 'annotations/objects365_train.json', reason: expect.stringMatching(/^malformed JSON/) },
        { file: 'annotations/objects365_val.json', reason: '1 annotations without image_id, category_id or a 4-number bbox, skipped' },
        { file: 'annotations/objects365_val.json', reason: '1 annotations name image ids not in "images", skipped' },
        { file: 'annotations/objects365_val.json', reason: 'image 3 names a file outside the dataset root: ../../etc/passwd' },
        { file: 'val/gone.jpg', reason: 'image missing' },
        { file: 'val/ok.jpg', reason: 'boxes empty after clipping to 20×10, skipped: #1 [30, 2, 5, 5]' },
      ]);
      const [sample] = [...reader.samples('bad')];
      expect(reader.boxes(sample?.id as number).map((b) => [b.sourceId, b.x, b.y, b.w, b.h])).toEqual([[1, 2, 2, 5, 5]]);
    } finally {
      reader.close();
    }
  });
});
