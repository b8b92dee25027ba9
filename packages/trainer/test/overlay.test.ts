import { readFileSync } from 'node:fs';
import path from 'node:path';
import { readMaskValues } from '@sentseg/dataset-tools';
import { PNG } from 'pngjs';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { LEGEND_MIN_AREA, LEGEND_ROW, legendFor, writeLabelsPng, writeOverlay } from '../src/predict/overlay.js';
import { tempDir } from '../../../tests/utils.js';
import { colourDistance, darkPixels, pixel } from './picture.js';

const dir = tempDir();
const W = 1200;
const H = 900;

/** A label map of W × H whose label k covers `areas[k]` pixels, in horizontal runs. */
function labelMap(areas: number[]): Int32Array {
  const pred = new Int32Array(W * H);
  let at = 0;
  areas.forEach((n, k) => {
    pred.fill(k, at, at + n);
    at += n;
  });
  expect(at).toBe(W * H);
  return pred;
}

/** Pixels whose values differ (a count, so that a failure does not diff 300,000 numbers). */
const mismatches = (a: Int32Array, b: Int32Array) => (a.length !== b.length ? Infinity : a.reduce((n, v, i) => n + (v === b[i] ? 0 : 1), 0));

const grey = (w: number, h: number) => new Uint8Array(w * h * 3).fill(128);

describe('predict overlay legend', () => {
  // 40 labels: two large, 28 of 1.25% each, one of 500 pixels (0.046%) and one of a single pixel.
  const names = Array.from({ length: 40 }, (_, k) => `label ${k}`);
  const small = Math.round(0.0125 * W * H);
  const areas = [0, 0, ...Array.from({ length: 28 }, () => small), 500, 1];
  areas[1] = Math.round(0.25 * W * H);
  areas[0] = W * H - areas.reduce((a, b) => a + b, 0);

  it('lists only labels of at least 0.1% of the image, largest first, and counts the rest on a "+N more" row', async () => {
    const pred = labelMap(areas);
    const legend = legendFor(pred, names);
    expect(legend).toHaveLength(32);
    const listed = legend.filter((e) => e.listed);
    expect(listed.every((e) => e.pixels >= 0.001 * W * H)).toBe(true);
    // The listed rows are the largest labels: nothing unlisted is larger than a listed one.
    expect(legend.slice(0, listed.length).every((e) => e.listed)).toBe(true);
    expect(legend.find((e) => e.index === 30)?.listed).toBe(false);
    expect(legend.find((e) => e.index === 31)?.listed).toBe(false);
    expect(listed.length).toBeGreaterThanOrEqual(10);
    expect(listed.length).toBeLessThanOrEqual(20);
    expect(LEGEND_MIN_AREA).toBe(0.001);

    const file = path.join(dir, 'overlay.png');
    await writeOverlay(file, grey(W, H), W, H, pred, legend);
    const png = PNG.sync.read(readFileSync(file));
    expect(png.height).toBe(H + LEGEND_ROW * (listed.length + 1) + 8);
    listed.forEach((e, i) => expect(pixel(png, 14, H + 6 + i * LEGEND_ROW + 8)).toEqual(e.colour));
    // "+N more": a swatch in the colour of the unlisted pixels (black), and its text.
    const more = H + 6 + listed.length * LEGEND_ROW;
    expect(pixel(png, 14, more + 8)).toEqual([0, 0, 0]);
    expect(darkPixels(png, { x0: 28, y0: more, x1: png.width, y1: more + 16 })).toBeGreaterThan(50);
    // An unlisted label's pixels are the image darkened by half.
    expect(pixel(png, W - 1, H - 1)).toEqual([64, 64, 64]);
  });

  it('gives the listed labels of one image colours at least ΔE 20 apart, and apart from the unlisted black', () => {
    const legend = legendFor(labelMap(areas), names);
    const colours = legend.filter((e) => e.listed).map((e) => e.colour);
    for (let a = 0; a < colours.length; a++) {
      expect(colourDistance(colours[a] as [number, number, number], [0, 0, 0])).toBeGreaterThanOrEqual(20);
      for (let b = a + 1; b < colours.length; b++) expect(colourDistance(colours[a] as [number, number, number], colours[b] as [number, number, number])).toBeGreaterThanOrEqual(20);
    }
  });

  it('keeps labels the issue found in near-identical magentas apart, and Cityscapes labels in their Cityscapes colours', () => {
    const five = ['starfish', 'motorcyclist', 'crib', 'frisbee', 'radiator'];
    const fifth = (W * H) / 5;
    const legend = legendFor(labelMap(five.map(() => fifth)), five);
    expect(legend.every((e) => e.listed)).toBe(true);
    for (const a of legend) for (const b of legend) if (a !== b) expect(colourDistance(a.colour, b.colour)).toBeGreaterThanOrEqual(20);
    const city = legendFor(labelMap([W * H / 2, W * H / 4, W * H / 4]), ['road', 'car', 'sky']);
    // cityscapesScripts labels.py: road (128, 64, 128), car (0, 0, 142), sky (70, 130, 180).
    expect(city.map((e) => e.colour)).toEqual([[128, 64, 128], [0, 0, 142], [70, 130, 180]]);
  });
});

describe('predict label PNG', () => {
  it('is one 8-bit palette channel up to 256 labels, values = label indices', async () => {
    const pred = Int32Array.from({ length: 640 * 480 }, (_, i) => (i * 7) % 256);
    const names = Array.from({ length: 256 }, (_, k) => `l${k}`);
    const file = path.join(dir, 'labels8.png');
    const format = await writeLabelsPng(file, pred, 640, 480, 256, legendFor(pred, names));
    expect(format).toMatchObject({ bitDepth: 8, colourType: 'palette' });
    const bytes = readFileSync(file);
    expect({ bitDepth: bytes[24], colourType: bytes[25] }).toEqual({ bitDepth: 8, colourType: 3 });
    expect(mismatches(readMaskValues(file, 'gray').values, pred)).toBe(0);
  });

  it('is one 16-bit gray channel above 256 labels', async () => {
    const pred = Int32Array.from({ length: 640 * 480 }, (_, i) => (i * 13) % 300);
    const names = Array.from({ length: 300 }, (_, k) => `l${k}`);
    const file = path.join(dir, 'labels16.png');
    const format = await writeLabelsPng(file, pred, 640, 480, 300, legendFor(pred, names));
    expect(format).toMatchObject({ bitDepth: 16, colourType: 'gray' });
    const meta = await sharp(file).metadata();
    expect({ channels: meta.channels, depth: meta.depth }).toEqual({ channels: 1, depth: 'ushort' });
    expect(mismatches(readMaskValues(file, 'gray').values, pred)).toBe(0);
  });
});
