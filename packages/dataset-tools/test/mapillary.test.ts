import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PNG } from 'pngjs';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { detectFormat } from '../src/formats/index.js';
import { ManifestReader } from '../src/manifest/reader.js';
import { readMaskValues } from '../src/mask-decoders.js';
import { encodePalettePng } from '../src/png.js';
import { mergeDatasets, parseDatasetSpecs } from '../src/merge.js';
import { writeMapillaryVistas, type GeneratedSet } from '../src/testing/index.js';
import { readTaxonomy } from '../src/taxonomy.js';
import { tempDir } from '../../../tests/utils.js';
import { expectedLabels, taxonomyTable } from '../../../tests/manifest-helpers.js';

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

  it('decodes 8-bit gray and RGB PNGs itself to the same values as pngjs, whatever filters the encoder chose', async () => {
    const w = 53;
    const h = 17;
    const gray = Uint8Array.from({ length: w * h }, (_, i) => (i * 37 + (i >> 3) * 11) % 256);
    const rgb = Uint8Array.from({ length: w * h * 3 }, (_, i) => (i * 29 + (i % 7) * 13) % 256);
    for (const [name, data] of [
      ['gray-pngjs', PNG.sync.write(Object.assign(new PNG({ width: w, height: h, colorType: 0, inputColorType: 0, inputHasAlpha: false }), { data: Buffer.from(gray) }), { colorType: 0, inputColorType: 0, inputHasAlpha: false })],
      ['gray-sharp', await sharp(Buffer.from(gray), { raw: { width: w, height: h, channels: 1 } }).png({ adaptiveFiltering: true }).toBuffer()],
    ] as const) {
      const file = path.join(dir, `${name}.png`);
      writeFileSync(file, data);
      expect(Array.from(readMaskValues(file, 'gray').values), name).toEqual(Array.from(gray));
    }
    const rgbFile = path.join(dir, 'rgb.png');
    writeFileSync(rgbFile, await sharp(Buffer.from(rgb), { raw: { width: w, height: h, channels: 3 } }).png({ adaptiveFiltering: true }).toBuffer());
    const ids = readMaskValues(rgbFile, 'panoptic-rgb').values;
    expect(Array.from(ids)).toEqual(Array.from({ length: w * h }, (_, p) => (rgb[3 * p] as number) + 256 * (rgb[3 * p + 1] as number) + 65536 * (rgb[3 * p + 2] as number)));
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
      /lists 124 classes; the v1\.2 taxonomy has 66 \(a v2\.0 list: use --variant mapillary=v2\.0\)/,
    );
  });
});

describe('Mapillary Vistas v2.0', () => {
  const v2names = () => readTaxonomy('mapillary-vistas-v2').classes.map((c) => c.name);

  it('reads config_v2.0.json and <split>/v2.0/labels: 124 classes, the void ones ignored, splits of v1.2 classes keep their label', async () => {
    const root = path.join(dir, 'vistas-v20');
    const written = await writeMapillaryVistas(root, { training: 4, validation: 2 }, [30, 22], v2names(), 5, 'v2.0');
    expect(detectFormat(root).name).toBe('mapillary-vistas');
    const out = path.join(dir, 'mv20.sqlite');
    const run = await mergeDatasets(out, parseDatasetSpecs([`mv=${root}`]), { workers: 0 });
    expect(run.summaries.map((s) => [s.images, s.problems])).toEqual([[6, 0]]);
    const reader = ManifestReader.open(out);
    try {
      expect(reader.dataset('mv').version).toBe('v2.0');
      const table = taxonomyTable('mapillary-vistas-v2');
      for (const s of reader.samples('mv')) {
        const rel = path.relative(root, s.image).split(path.sep).join('/');
        expect(reader.imageLabels(s.id).map((r) => [r.labelId, r.pixels])).toEqual(expectedLabels(written.counts.get(rel)!, table));
      }
      expect(reader.lut('mv')[123]).toBe(255);
    } finally {
      reader.close();
    }
    const find = (name: string) => readTaxonomy('mapillary-vistas-v2').classes.find((c) => c.name === name)?.target;
    expect(v2names()).toHaveLength(124);
    expect(find('human--person--person-group')).toEqual({ kind: 'label', label: 'person' });
    expect(find('object--traffic-light--pedestrians')).toEqual({ kind: 'label', label: 'traffic light' });
    expect(find('void--static')).toEqual({ kind: 'ignore' });
    expect(find('object--traffic-cone')).toEqual({ kind: 'unmapped' });
  });

  it('reads v1.2 from a v2.0 download by default and v2.0 with --variant, and refuses an unknown variant', async () => {
    const root = path.join(dir, 'vistas-both');
    await writeMapillaryVistas(root, { training: 2 }, [12, 10], v2names(), 6, 'v2.0');
    await writeMapillaryVistas(root, { training: 2 }, [12, 10], names(), 7, 'v1.2');
    const both = async (variant: string[]) => {
      const out = path.join(dir, `both-${variant.join('')}.sqlite`);
      await mergeDatasets(out, parseDatasetSpecs([`mv=${root}`], [], variant), { workers: 0 });
      const reader = ManifestReader.open(out);
      const version = reader.dataset('mv').version;
      reader.close();
      return version;
    };
    expect(await both([])).toBe('v1.2');
    expect(await both(['mv=v2.0'])).toBe('v2.0');
    await expect(both(['mv=v3'])).rejects.toThrow(/variant must be v1\.2 or v2\.0 \(--variant mv=v1\.2 or --variant mv=v2\.0\), not "v3"/);
  });
});
