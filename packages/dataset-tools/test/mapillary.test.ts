import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PNG } from 'pngjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { detectFormat } from '../src/formats/index.js';
import { ManifestReader } from '../src/manifest/reader.js';
import { readMaskValues, encodePalettePng } from '../src/mask-png.js';
import { mergeDatasets, parseDatasetSpecs } from '../src/merge.js';
import { writeMapillaryVistas, type GeneratedSet } from '../src/synthetic/write-layouts.js';
import { readTaxonomy } from '../src/taxonomy.js';
import { expectedLabels, taxonomyTable, tempDir } from './helpers.js';

const dir = tempDir();
let mv: GeneratedSet;
const names = () => readTaxonomy('mapillary-vistas').classes.map((c) => c.name);

beforeAll(async () => {
  mv = await writeMapillaryVistas(path.join(dir, 'vistas'), { training: 5, validation: 2 }, [30, 22], names());
});

describe('palette PNG masks', () => {
  it('reads the palette index (the class id), not the colour, through every row filter', () => {
    const indices = Uint8Array.from({ length: 7 * 5 }, (_, i) => (i * 11) % 66);
    const palette = Array.from({ length: 66 }, (_, i): [number, number, number] => [255 - i, i, 7]);
    const file = path.join(dir, 'p.png');
    writeFileSync(file, encodePalettePng(7, 5, indices, palette));
    expect(Array.from(readMaskValues(file, 'gray').values)).toEqual(Array.from(indices));
    // A generic decoder sees colours: the reason for reading indices ourselves.
    const rgba = PNG.sync.read(readFileSync(file)).data;
    expect(rgba[4 * 1]).toBe(255 - 11);
  });

  it('says why a truncated palette PNG cannot be read', () => {
    const file = path.join(dir, 'cut.png');
    const whole = encodePalettePng(8, 8, new Uint8Array(64), [[0, 0, 0]]);
    writeFileSync(file, whole.subarray(0, whole.length - 20));
    expect(() => readMaskValues(file, 'gray')).toThrow(/truncated IDAT chunk|unexpected end of file/);
  });
});

describe('Mapillary Vistas v1.2', () => {
  it('is detected and merged with per-label pixel counts of the palette indices; 65 (unlabeled) is ignored', async () => {
    const root = path.join(dir, 'vistas');
    expect(detectFormat(root).name).toBe('mapillary-vistas');
    const out = path.join(dir, 'mv.sqlite');
    const run = await mergeDatasets(out, parseDatasetSpecs([`mapillary=${root}`]), { workers: 1 });
    expect(run.summaries.map((s) => [s.dataset, s.format, s.images, s.problems])).toEqual([['mapillary', 'mapillary-vistas', 7, 0]]);
    const reader = ManifestReader.open(out);
    expect(reader.dataset('mapillary').splits).toEqual(['training', 'validation']);
    const table = taxonomyTable('mapillary-vistas');
    expect(table.get(65)).toBeNull();
    for (const s of reader.samples('mapillary')) {
      const rel = path.relative(root, s.image).split(path.sep).join('/');
      expect(reader.imageLabels(s.id).map((r) => [r.labelId, r.pixels])).toEqual(expectedLabels(mv.counts.get(rel)!, table));
    }
    expect(reader.lut('mapillary')[65]).toBe(255);
    reader.close();
  });

  it('refuses a config whose class list is not v1.2\'s, saying so', async () => {
    const root = path.join(dir, 'vistas2');
    await writeMapillaryVistas(root, { training: 1 }, [8, 8], [...names(), ...Array.from({ length: 58 }, (_, i) => `extra ${i}`)]);
    await expect(mergeDatasets(path.join(dir, 'mv2.sqlite'), parseDatasetSpecs([`mapillary=${root}`]), { workers: 0 })).rejects.toThrow(
      /lists 124 classes; the mapillary-vistas taxonomy covers v1\.2's 66 \(v2\.0's 124-class labels are not supported yet\)/,
    );
  });
});
