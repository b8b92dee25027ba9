/**
 * Every PNG kind a mask may come in is read as stored or refused by name, never wrapped or rescaled
 * (issue 12): a 16-bit gray mask of a generic dataset with ids up to 1000 gives those ids and their
 * pixel counts; 1/2/4-bit gray and palette, and Adam7-interlaced masks, give the values pngjs reads
 * at their stored depth (skipRescale, an independent decoder); multi-channel masks whose channels do
 * not agree are a problems row naming their kind.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { crc32, deflateSync } from 'node:zlib';
import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { readMaskValues } from '../src/mask-decoders.js';
import { ManifestReader } from '../src/manifest/reader.js';
import { validateManifest } from '../src/manifest/validate.js';
import { mergeDatasets } from '../src/merge.js';
import { writeImage } from '../src/testing/index.js';
import { tempDir } from '../../../tests/utils.js';

const dir = tempDir('sentseg-mask-kinds-');

/** A PNG built byte by byte (filter 0 rows), so kinds pngjs cannot write (1/2/4-bit, interlaced) can be made. */
function rawPng(width: number, height: number, bitDepth: number, colorType: number, samples: number[], options: { interlaced?: boolean; palette?: number } = {}): Buffer {
  const channels = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 }[colorType] as number;
  const rowBytes = (w: number) => Math.ceil((w * channels * bitDepth) / 8);
  const packRow = (pixels: number[]): Buffer => {
    const row = Buffer.alloc(1 + rowBytes(pixels.length / channels));
    pixels.forEach((v, k) => {
      if (bitDepth === 16) row.writeUInt16BE(v, 1 + 2 * k);
      else {
        const bit = k * bitDepth;
        row[1 + (bit >> 3)] = (row[1 + (bit >> 3)] as number) | (v << (8 - bitDepth - (bit & 7)));
      }
    });
    return row;
  };
  const pixel = (x: number, y: number) => samples.slice((y * width + x) * channels, (y * width + x + 1) * channels);
  const rows: Buffer[] = [];
  const passes: [number, number, number, number][] = options.interlaced
    ? [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2]]
    : [[0, 0, 1, 1]];
  for (const [x0, y0, dx, dy] of passes) {
    for (let y = y0; y < height; y += dy) {
      const line: number[] = [];
      for (let x = x0; x < width; x += dx) line.push(...pixel(x, y));
      if (line.length > 0) rows.push(packRow(line));
    }
  }
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const out = Buffer.alloc(12 + data.length);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(crc32(body) >>> 0, 8 + data.length);
    return out;
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = bitDepth;
  ihdr[9] = colorType;
  ihdr[12] = options.interlaced ? 1 : 0;
  const plte = options.palette ? [chunk('PLTE', Buffer.alloc(3 * options.palette, 7))] : [];
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), ...plte, chunk('IDAT', deflateSync(Buffer.concat(rows))), chunk('IEND', Buffer.alloc(0))]);
}

/** A 16-bit PNG written by pngjs, which takes its 16-bit input as native-endian Uint16 samples. */
function pngjs16(width: number, height: number, colorType: 0 | 2, samples: number[]): Buffer {
  const png = new PNG({ width, height, bitDepth: 16, colorType, inputColorType: colorType, inputHasAlpha: false });
  png.data = Buffer.from(Uint16Array.from(samples).buffer);
  return PNG.sync.write(png, { bitDepth: 16, colorType, inputColorType: colorType, inputHasAlpha: false });
}

/** What pngjs reads from a one-channel PNG at its stored depth (no rescale, palette not expanded for gray). */
function pngjsGray(buf: Buffer): number[] {
  const png = PNG.sync.read(buf, { skipRescale: true });
  return Array.from({ length: png.width * png.height }, (_, i) => png.data[4 * i] as number);
}

const write = (file: string, buf: Buffer) => {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, buf);
  return file;
};

/** An 8×4 mask with ids 3, 300, 7 and 1000 in bands of 10, 6, 12 and 4 pixels. */
const IDS_16 = [...Array<number>(10).fill(3), ...Array<number>(6).fill(300), ...Array<number>(12).fill(7), ...Array<number>(4).fill(1000)];

describe('16-bit gray masks', () => {
  it('are read with their ids (3, 300, 7, 1000), as pngjs reads them unscaled', () => {
    const file = write(path.join(dir, 'one', 'm16.png'), pngjs16(8, 4, 0, IDS_16));
    expect(pngjsGray(readFileSync(file))).toEqual(IDS_16);
    const mask = readMaskValues(file, 'gray');
    expect([mask.width, mask.height]).toEqual([8, 4]);
    expect(Array.from(mask.values)).toEqual(IDS_16);
  });

  it('merge into a generic dataset with per-label pixel counts of ids up to 1000, and validate clean', async () => {
    const root = path.join(dir, 'wide');
    // 1001 classes: ids 3, 300, 7, 1000 mapped to labels, every other id a class of its own (unmapped).
    const mapped: Record<number, string> = { 3: 'car', 300: 'bus', 7: 'person', 1000: 'sky' };
    const classes = Array.from({ length: 1001 }, (_, id) => ({ id, name: mapped[id] ?? `class ${id}`, ...(mapped[id] ? {} : { label: 'unmapped' }) }));
    write(path.join(root, 'classes.json'), Buffer.from(JSON.stringify({ classes })));
    await writeImage(path.join(root, 'images', 'a.jpg'), 8, 4, 1);
    write(path.join(root, 'masks', 'a.png'), pngjs16(8, 4, 0, IDS_16));
    const out = path.join(dir, 'wide.sqlite');
    const run = await mergeDatasets(out, [{ name: 'wide', root, format: 'generic' }]);
    expect(run.summaries[0]).toMatchObject({ images: 1, problems: 0 });
    const reader = ManifestReader.open(out);
    try {
      const rows = reader
        .labelPixelsByDataset()
        .map(({ name, pixels }) => ({ name, pixels }))
        .sort((a, b) => a.name.localeCompare(b.name));
      expect(rows).toEqual([
        { name: 'bus', pixels: 6 },
        { name: 'car', pixels: 10 },
        { name: 'person', pixels: 12 },
        { name: 'sky', pixels: 4 },
      ]);
      expect(reader.dataset('wide').ignoreValues).toEqual([255, 65535]);
      // The trainer's table reaches source id 1000.
      const lut = reader.lut('wide');
      expect(lut[1000]).toBe(reader.labels().find((l) => l.name === 'sky')?.id);
      const report = await validateManifest(reader);
      expect(report.problems).toEqual([]);
    } finally {
      reader.close();
    }
  });
});

describe('other PNG kinds', () => {
  it('1, 2 and 4-bit gray and palette masks give their stored values, as pngjs reads them unscaled', () => {
    for (const bitDepth of [1, 2, 4]) {
      const width = 11; // rows end mid-byte
      const values = Array.from({ length: width * 3 }, (_, i) => (i * 7 + 3) % (1 << bitDepth));
      const gray = rawPng(width, 3, bitDepth, 0, values);
      const file = write(path.join(dir, 'kinds', `g${bitDepth}.png`), gray);
      expect(pngjsGray(gray)).toEqual(values);
      expect(Array.from(readMaskValues(file, 'gray').values)).toEqual(values);
      const palette = write(path.join(dir, 'kinds', `p${bitDepth}.png`), rawPng(width, 3, bitDepth, 3, values, { palette: 1 << bitDepth }));
      expect(Array.from(readMaskValues(palette, 'gray').values)).toEqual(values);
    }
  });

  it('Adam7-interlaced masks (8- and 16-bit gray) are put back in place, as pngjs reads them', () => {
    const width = 13;
    const height = 10;
    for (const [bitDepth, mod] of [[8, 256], [16, 65536]] as const) {
      const values = Array.from({ length: width * height }, (_, i) => (i * 977 + 5) % mod);
      const buf = rawPng(width, height, bitDepth, 0, values, { interlaced: true });
      expect(pngjsGray(buf)).toEqual(values);
      expect(Array.from(readMaskValues(write(path.join(dir, 'kinds', `i${bitDepth}.png`), buf), 'gray').values)).toEqual(values);
    }
  });

  it('a gray mask saved as gray+alpha or RGB is read when its channels agree and refused by kind when not', () => {
    const la = rawPng(2, 1, 8, 4, [9, 255, 300 % 256, 255]);
    expect(Array.from(readMaskValues(write(path.join(dir, 'kinds', 'la.png'), la), 'gray').values)).toEqual([9, 44]);
    const seeThrough = write(path.join(dir, 'kinds', 'la-alpha.png'), rawPng(2, 1, 8, 4, [9, 255, 44, 0]));
    expect(() => readMaskValues(seeThrough, 'gray')).toThrow(/^8-bit gray\+alpha PNG whose pixel \(1, 0\) is not opaque/);
    const rgb16 = write(path.join(dir, 'kinds', 'rgb16.png'), pngjs16(2, 1, 2, [300, 300, 300, 1000, 1000, 1000]));
    expect(Array.from(readMaskValues(rgb16, 'gray').values)).toEqual([300, 1000]);
    const coloured = write(path.join(dir, 'kinds', 'rgb16-coloured.png'), pngjs16(2, 1, 2, [300, 300, 300, 1000, 7, 1000]));
    expect(() => readMaskValues(coloured, 'gray')).toThrow(/^16-bit RGB PNG whose channels differ at \(1, 0\)/);
    // A panoptic mask is 8-bit RGB: 16 bits per channel would give other segment ids.
    expect(() => readMaskValues(rgb16, 'panoptic-rgb')).toThrow(/^16-bit RGB PNG: a COCO panoptic mask is 8-bit RGB/);
  });

  it('a mask of a kind that cannot hold class ids is a problems row naming the kind, the others merged', async () => {
    const root = path.join(dir, 'mixed');
    write(path.join(root, 'classes.txt'), Buffer.from('road\ncar\nsky\n'));
    await writeImage(path.join(root, 'images', 'good.jpg'), 2, 1, 1);
    await writeImage(path.join(root, 'images', 'rgb.jpg'), 2, 1, 2);
    write(path.join(root, 'masks', 'good.png'), pngjs16(2, 1, 0, [1, 2]));
    // A colour-coded 16-bit RGB mask: its red channel alone (what the old decoder kept) would read as ids 1 and 0.
    write(path.join(root, 'masks', 'rgb.png'), pngjs16(2, 1, 2, [1 * 257, 40000, 3, 0, 65535, 12]));
    const out = path.join(dir, 'mixed.sqlite');
    const run = await mergeDatasets(out, [{ name: 'mixed', root, format: 'generic' }]);
    expect(run.summaries[0]).toMatchObject({ images: 1, problems: 1 });
    const reader = ManifestReader.open(out);
    try {
      expect(reader.problems()).toEqual([
        { dataset: 'mixed', file: 'masks/rgb.png', reason: 'unsupported mask: 16-bit RGB PNG whose channels differ at (0, 0) (a colour-coded mask, not class ids): a class-id mask must be one value per pixel (gray or palette PNG)' },
      ]);
    } finally {
      reader.close();
    }
  });
});
