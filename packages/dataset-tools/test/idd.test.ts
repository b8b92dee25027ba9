import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { detectFormat } from '../src/formats/index.js';
import { readIddPolygons } from '../src/formats/idd.js';
import { ManifestReader } from '../src/manifest/reader.js';
import { mergeDatasets, parseDatasetSpecs } from '../src/merge.js';
import { rasterizePolygons } from '../src/polygons.js';
import { writeIdd, type IddRect } from '../src/testing/index.js';
import { tempDir } from '../../../tests/utils.js';
import { dumpManifest } from '../../../tests/manifest-helpers.js';

const dir = tempDir();
// The AutoNUE label table's level3Ids, restated here for the expected counts.
const LEVEL3: Record<string, number> = { road: 0, parking: 1, sidewalk: 2, person: 4, animal: 4, car: 9, autorickshaw: 8, pole: 20, vegetation: 24, sky: 25, unlabeled: 255, 'obs-str-bar-fallback': 21 };
const SIZE: [number, number] = [40, 24];
let withPngs: Awaited<ReturnType<typeof writeIdd>>;
let polygonsOnly: Awaited<ReturnType<typeof writeIdd>>;

beforeAll(async () => {
  withPngs = await writeIdd(path.join(dir, 'idd-png'), { train: 4, val: 2 }, SIZE, { level3Pngs: true, level3Of: LEVEL3 });
  polygonsOnly = await writeIdd(path.join(dir, 'idd-poly'), { train: 4, val: 2 }, SIZE, { level3Pngs: false });
});

/** level3Id → pixels of one image, painting its rectangles in order (corners inclusive). */
function expectedLevel3(rects: IddRect[]): Map<number, number> {
  const [w, h] = SIZE;
  const grid = new Int32Array(w * h).fill(255);
  for (const r of rects) {
    if (r.deleted) continue;
    const v = LEVEL3[r.label.endsWith('group') ? r.label.slice(0, -5) : r.label] as number;
    for (let y = Math.max(0, r.y0); y <= Math.min(h - 1, r.y1); y++) for (let x = Math.max(0, r.x0); x <= Math.min(w - 1, r.x1); x++) grid[y * w + x] = v;
  }
  const counts = new Map<number, number>();
  for (const v of grid) counts.set(v, (counts.get(v) ?? 0) + 1);
  return counts;
}

describe('polygon rasterisation', () => {
  it('covers the interior and the outline, like PIL ImageDraw.polygon', () => {
    // A 4×3 rectangle of corners (1,1)-(4,3): 4 × 3 = 12 pixels; a right triangle with legs of 4: 1+2+3+4+5 = 15.
    const rect = rasterizePolygons(8, 6, [{ value: 7, polygon: [[1, 1], [4, 1], [4, 3], [1, 3]] }], 0);
    expect(rect.filter((v) => v === 7).length).toBe(12);
    expect(rect[1 * 8 + 1]).toBe(7);
    expect(rect[3 * 8 + 4]).toBe(7);
    expect(rect[0]).toBe(0);
    const tri = rasterizePolygons(8, 6, [{ value: 1, polygon: [[0, 0], [4, 4], [0, 4]] }], 0);
    expect(tri.filter((v) => v === 1).length).toBe(15);
    // Later objects paint over earlier ones; parts outside the image are clipped.
    const two = rasterizePolygons(4, 4, [{ value: 1, polygon: [[0, 0], [3, 0], [3, 3], [0, 3]] }, { value: 2, polygon: [[2, 2], [9, 2], [9, 9], [2, 9]] }], 0);
    expect(Array.from(two)).toEqual([1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 1, 1, 2, 2]);
  });
});

describe('IDD', () => {
  it('is detected, and level3Ids PNGs and polygons give the same manifest counts, equal to the rectangles painted here', async () => {
    expect(detectFormat(withPngs.root).name).toBe('idd');
    expect(detectFormat(polygonsOnly.root).name).toBe('idd');
    const out = path.join(dir, 'idd.sqlite');
    const run = await mergeDatasets(out, parseDatasetSpecs([`png=${withPngs.root}`, `poly=${polygonsOnly.root}`], ['png=idd', 'poly=idd']), { workers: 1 });
    expect(run.summaries.map((s) => [s.dataset, s.images, s.problems])).toEqual([
      ['png', 6, 0],
      ['poly', 6, 0],
    ]);
    const reader = ManifestReader.open(out);
    try {
      expect(reader.dataset('png').encoding).toBe('gray');
      expect(reader.dataset('poly').encoding).toBe('idd-polygons');
      const lut = reader.lut('png');
      for (const [name, written] of [['png', withPngs], ['poly', polygonsOnly]] as const) {
        for (const sample of reader.samples(name)) {
          const rel = path.relative(written.root, sample.image).split(path.sep).join('/');
          const expected = new Map<number, number>();
          for (const [level3, pixels] of expectedLevel3(written.rects.get(rel) ?? [])) {
            const label = lut[level3] as number;
            if (label !== 255) expected.set(label, (expected.get(label) ?? 0) + pixels);
          }
          expect(new Map(reader.imageLabels(sample.id).map((r) => [r.labelId, r.pixels])), `${name} ${rel}`).toEqual(expected);
        }
      }
      expect(reader.dataset('png').splits).toEqual(['train', 'val']);
    } finally {
      reader.close();
    }
    const dump = dumpManifest(out);
    expect(dump.dataset_classes?.filter((c) => (c as { dataset: string }).dataset === 'png')).toHaveLength(26);
  });

  it('a polygon file with an unknown label or no size is a problems row naming the file', async () => {
    const bad = path.join(polygonsOnly.root, 'gtFine', 'val', '101', 'frame0001_gtFine_polygons.json');
    writeFileSync(bad, JSON.stringify({ imgWidth: SIZE[0], imgHeight: SIZE[1], objects: [{ label: 'spaceship', polygon: [[0, 0], [3, 0], [3, 3]] }] }));
    expect(() => readIddPolygons(bad)).toThrow(/object #0 has label "spaceship", which is not an IDD class/);
    const out = path.join(dir, 'idd-bad.sqlite');
    const run = await mergeDatasets(out, parseDatasetSpecs([`poly=${polygonsOnly.root}`], ['poly=idd']), { workers: 0 });
    expect(run.summaries[0]?.problems).toBe(1);
    const reader = ManifestReader.open(out);
    try {
      const problems = reader.problems().map(({ file, reason }) => ({ file, reason }));
      expect(problems).toEqual([{ file: 'gtFine/val/101/frame0001_gtFine_polygons.json', reason: expect.stringMatching(/unreadable polygons \(object #0 has label "spaceship"/) }]);
    } finally {
      reader.close();
    }
    writeFileSync(bad, '{"objects": []}');
    expect(() => readIddPolygons(bad)).toThrow(/no imgWidth\/imgHeight/);
  });
});
