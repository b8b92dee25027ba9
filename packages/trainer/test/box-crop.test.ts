/**
 * L_WD's boxes through the loader: a box the random crop cuts under losses.wdMinVisible of its area
 * is left out (its CLIP target embeds the whole box, the pooled map would see only the part), and
 * a kept box covers the same image pixels after the crop and the flip.
 */
import path from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { planAugment, PIXEL_MEAN, PIXEL_STD, type AugmentConfig } from '../src/data/augment.js';
import { loadSample } from '../src/data/load-sample.js';
import { tempDir } from '../../../tests/utils.js';

const dir = tempDir();
const W = 100;
const H = 64;
// Box 1 red, x 30..70 (40 wide); box 2 green, x 4..24; both rows 8..40. The crop (64) slides over x.
const BOXES = [
  { boxId: 1, sourceId: 1, x: 30, y: 8, w: 40, h: 32, colour: [255, 0, 0] },
  { boxId: 2, sourceId: 2, x: 4, y: 8, w: 20, h: 32, colour: [0, 255, 0] },
];
const AUGMENT: AugmentConfig = { shortEdge: H, crop: 64, flip: true, colorJitter: 0, blurProbability: 0, noiseStd: 0 };

async function writeBoxImage(file: string): Promise<void> {
  const rgb = new Uint8Array(W * H * 3);
  for (const b of BOXES) for (let y = b.y; y < b.y + b.h; y++) for (let x = b.x; x < b.x + b.w; x++) rgb.set(b.colour, (y * W + x) * 3);
  await sharp(Buffer.from(rgb), { raw: { width: W, height: H, channels: 3 } }).png().toFile(file);
}

/** The crop pixel's colour back in 0..255. */
function colourAt(pixels: Float32Array, x: number, y: number, crop: number): number[] {
  return [0, 1, 2].map((c) => Math.round((pixels[(y * crop + x) * 3 + c] as number) * (PIXEL_STD[c] as number) + (PIXEL_MEAN[c] as number)) + 0);
}

describe('L_WD boxes and the random crop', () => {
  it('drops boxes the crop shows under minBoxVisible of, keeps the others on the pixels they cover, flipped or not', async () => {
    const image = path.join(dir, 'boxes.png');
    await writeBoxImage(image);
    const lut = Int32Array.from({ length: 256 }, (_, i) => (i === 1 || i === 2 ? i + 10 : 255));
    const seen = { kept: 0, cut: 0, flipped: 0, cutBetween: 0 };
    for (let seed = 1; seed <= 40; seed++) {
      const r = await loadSample({
        dataset: 'boxes', imageId: 1, image, mask: null, encoding: 'gray', segments: [], lut, instances: [],
        boxes: BOXES.map(({ colour: _, ...b }) => b), augment: AUGMENT, minBoxVisible: 0.5, numLabels: 238, seed,
      });
      if (!r.ok) throw new Error(r.reason);
      // Independently: the crop's window [left, left + 64) over each box's columns.
      const plan = planAugment(W, H, AUGMENT, seed);
      const shown = BOXES.map((b) => Math.max(0, Math.min(b.x + b.w, plan.left + 64) - Math.max(b.x, plan.left)) / b.w);
      const expectedKept = BOXES.filter((_, i) => (shown[i] as number) >= 0.5 && (shown[i] as number) * BOXES[i]!.w >= 2).map((b) => b.boxId);
      expect(r.boxes.map((b) => b.boxId)).toEqual(expectedKept);
      expect(r.boxesCut).toBe(shown.filter((v, i) => v < 0.5 && v * BOXES[i]!.w >= 2).length);
      seen.cut += r.boxesCut;
      seen.cutBetween += shown.filter((v) => v > 0 && v < 0.5).length > 0 ? 1 : 0;
      if (plan.flip) seen.flipped += 1;
      for (const b of r.boxes) {
        seen.kept += 1;
        const colour = BOXES.find((x) => x.boxId === b.boxId)!.colour;
        // Inside the box's corners: its colour; one pixel outside, left and right: not.
        const x0 = Math.ceil(b.x0);
        const x1 = Math.floor(b.x1) - 1;
        for (const [x, y] of [[x0, b.y0], [x1, b.y0], [x0, b.y1 - 1], [x1, b.y1 - 1], [Math.floor((b.x0 + b.x1) / 2), 20]] as [number, number][]) {
          expect(colourAt(r.pixels, x, y, 64)).toEqual(colour);
        }
        if (x0 - 1 >= 0) expect(colourAt(r.pixels, x0 - 1, 20, 64)).not.toEqual(colour);
        if (x1 + 1 < 64) expect(colourAt(r.pixels, x1 + 1, 20, 64)).not.toEqual(colour);
      }
    }
    // The seeds cover kept, cut and flipped crops.
    expect(seen.kept).toBeGreaterThan(10);
    expect(seen.cut).toBeGreaterThan(2);
    expect(seen.flipped).toBeGreaterThan(5);
    expect(seen.flipped).toBeLessThan(35);
  });

  it('keeps every box the crop touches with minBoxVisible 0, and none cut at all with 1', async () => {
    const image = path.join(dir, 'boxes.png');
    const lut = Int32Array.from({ length: 256 }, (_, i) => (i === 1 || i === 2 ? i + 10 : 255));
    for (const seed of [3, 9, 17]) {
      const load = (minBoxVisible: number) => loadSample({
        dataset: 'boxes', imageId: 1, image, mask: null, encoding: 'gray', segments: [], lut, instances: [],
        boxes: BOXES.map(({ colour: _, ...b }) => b), augment: AUGMENT, minBoxVisible, numLabels: 238, seed,
      });
      const all = await load(0);
      const whole = await load(1);
      if (!all.ok || !whole.ok) throw new Error('unreadable');
      expect(all.boxesCut).toBe(0);
      const plan = planAugment(W, H, AUGMENT, seed);
      const inside = BOXES.filter((b) => b.x >= plan.left && b.x + b.w <= plan.left + 64).map((b) => b.boxId);
      expect(whole.boxes.map((b) => b.boxId)).toEqual(inside);
      expect(whole.boxes.length + whole.boxesCut).toBe(all.boxes.length);
    }
  });
});
