import { mkdirSync, readFileSync } from 'node:fs';
import { createContext, runInContext } from 'node:vm';
import path from 'node:path';
import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { CONFUSION_PNG_MAX_CLASSES, mostConfusedClasses } from '../src/eval/confusion-figure.js';
import type { EvalReport } from '../src/eval/evaluate.js';
import { writeEvalOutputs } from '../src/eval/report.js';
import { tempDir } from '../../../tests/utils.js';
import { darkPixels, pixel } from './picture.js';

const dir = tempDir();

/** An eval report over `names` whose confusion rows are given (rows = ground truth). */
function fakeReport(names: string[], confusion: number[]): EvalReport {
  return {
    dataset: 'cityscapes', split: 'val', checkpoint: 'run/checkpoints/step-1000', step: 1000, scales: [512], flip: false, window: null, images: 500, skipped: [],
    classes: names.map((name, i) => ({ labelId: i, name })), neverPredicted: [], confusion, megapixels: 1, seconds: 1, inference: { wholeImage: 500, slidingWindow: 0, windows: [] },
    iou: names.map(() => 0.5), miou: 0.4567, counted: names.length, pixelAccuracy: 0.8,
  };
}

/** Seeded confusion counts: a strong diagonal, a few off-diagonal cells. */
function counts(k: number, seed = 7): number[] {
  let s = seed;
  const r = () => (s = (s * 16807) % 2147483647) / 2147483647;
  return Array.from({ length: k * k }, (_, i) => (Math.floor(i / k) === i % k ? Math.round(5000 * r() + 1000) : r() < 0.1 ? Math.round(3000 * r()) : 0));
}

/** The cells' place in the picture, as confusion.html gives it to its hover code. */
function geometry(html: string): { left: number; top: number; cellPx: number; n: number; width: number; height: number } {
  const data = JSON.parse(/const DATA = (.*);\n/.exec(html)?.[1] ?? 'null') as { geometry: ReturnType<typeof geometry>; confusion: number[] };
  return data.geometry;
}

const CITYSCAPES = ['road', 'sidewalk pavement', 'building', 'wall', 'fence', 'pole', 'traffic light', 'traffic sign', 'vegetation', 'terrain', 'sky', 'person', 'rider other', 'car', 'truck', 'bus', 'train', 'motorcycle', 'bicycle'];

describe('confusion.png', () => {
  it('names every class on both axes, has a title and a colour bar, and cells shaded by the row share', async () => {
    const k = CITYSCAPES.length;
    const confusion = counts(k);
    const out = path.join(dir, 'city');
    mkdirSync(out);
    await writeEvalOutputs(out, fakeReport(CITYSCAPES, confusion));
    const png = PNG.sync.read(readFileSync(path.join(out, 'confusion.png')));
    const html = readFileSync(path.join(out, 'confusion.html'), 'utf8');
    const g = geometry(html);
    expect(g.n).toBe(k);
    expect([g.width, g.height]).toEqual([png.width, png.height]);
    const side = g.n * g.cellPx;
    // Text in the margins: a name beside every row (left) and below every column, a title above.
    for (let t = 0; t < k; t++) expect(darkPixels(png, { x0: 0, x1: g.left - 6, y0: g.top + t * g.cellPx + 1, y1: g.top + (t + 1) * g.cellPx - 1 })).toBeGreaterThan(15);
    for (let p = 0; p < k; p++) expect(darkPixels(png, { x0: g.left + p * g.cellPx + 1, x1: g.left + (p + 1) * g.cellPx - 1, y0: g.top + side + 6, y1: png.height })).toBeGreaterThan(15);
    expect(darkPixels(png, { x0: 0, x1: png.width, y0: 0, y1: g.top - 4 })).toBeGreaterThan(300);
    // Cells: share 0 is white; within a row a larger share is darker.
    const cell = (t: number, p: number) => pixel(png, g.left + p * g.cellPx + (g.cellPx >> 1), g.top + t * g.cellPx + (g.cellPx >> 1));
    for (let t = 0; t < k; t++) {
      const row = confusion.slice(t * k, (t + 1) * k);
      const total = row.reduce((a, b) => a + b, 0);
      for (let p = 0; p < k; p++) {
        if (row[p] === 0) expect(cell(t, p)).toEqual([255, 255, 255]);
        for (let q = 0; q < k; q++) if (((row[p] as number) - (row[q] as number)) / total > 0.02) expect(cell(t, p)[0]).toBeLessThan(cell(t, q)[0]);
      }
    }
    // Colour bar right of the cells: dark at the top (100%), white at the bottom (0%), values written beside it.
    let bar = g.left + side + 2;
    while (bar < png.width && pixel(png, bar, g.top + (side >> 1))[0] === 255) bar += 1;
    expect(bar).toBeLessThan(png.width);
    const x = bar + 6;
    expect(pixel(png, x, g.top + 2)[0]).toBeLessThan(40);
    expect(pixel(png, x, g.top + side - 2)[0]).toBeGreaterThan(240);
    expect(darkPixels(png, { x0: x + 12, x1: png.width, y0: g.top - 6, y1: g.top + side + 6 })).toBeGreaterThan(100);
    // The page carries the raw counts for the hover.
    expect((JSON.parse(/const DATA = (.*);\n/.exec(html)?.[1] ?? 'null') as { confusion: number[] }).confusion).toEqual(confusion);
  });

  it(`over ${CONFUSION_PNG_MAX_CLASSES} classes keeps the most confused ones readable, and the page keeps them all`, async () => {
    const names = Array.from({ length: 150 }, (_, i) => `class number ${i}`);
    const out = path.join(dir, 'ade');
    mkdirSync(out);
    await writeEvalOutputs(out, fakeReport(names, counts(150, 11)));
    const png = PNG.sync.read(readFileSync(path.join(out, 'confusion.png')));
    const all = geometry(readFileSync(path.join(out, 'confusion.html'), 'utf8'));
    expect(all.n).toBe(150);
    // The PNG: find the frame around the cells (#444; no cell colour is grey) from the middle outwards.
    const frame = (x: number, y: number) => pixel(png, x, y).join() === '68,68,68';
    const midY = png.height >> 1;
    let left = png.width >> 1;
    while (left > 0 && !frame(left, midY)) left -= 1;
    let right = left + 2;
    while (right < png.width && !frame(right, midY)) right += 1;
    let top = midY;
    while (top > 0 && !frame(left + 6, top)) top -= 1;
    let bottom = midY;
    while (bottom < png.height && !frame(left + 6, bottom)) bottom += 1;
    const side = bottom - top - 1;
    expect(right - left - 1).toBe(side);
    // 60 rows of at least 12 px (names of 11 px type), each named in the left margin.
    expect(side % 60).toBe(0);
    const cellPx = side / 60;
    expect(cellPx).toBeGreaterThanOrEqual(12);
    for (let t = 0; t < 60; t++) expect(darkPixels(png, { x0: 0, x1: left - 6, y0: top + 1 + t * cellPx + 1, y1: top + 1 + (t + 1) * cellPx - 1 })).toBeGreaterThan(15);
    // The title says that only some classes are shown: three lines of text above the cells, not two.
    const textLines = new Set<number>();
    for (let y = 0; y < top - 2; y++) if (darkPixels(png, { x0: 0, x1: right, y0: y, y1: y + 1 }) > 0) textLines.add(y);
    const runs = [...textLines].filter((y) => !textLines.has(y - 1)).length;
    expect(runs).toBe(3);
  });

  it('picks the classes with the largest off-diagonal row share (hand-computed)', () => {
    // Rows = truth. Row 0 sends 50% to class 2; row 1 is clean; row 2 sends 10% to 1; row 3 sends 30% to 0.
    const m = [
      50, 0, 50, 0,
      0, 100, 0, 0,
      0, 10, 90, 0,
      30, 0, 0, 70,
    ];
    // Worst share per class: 0 → 0.5 (its row), 1 → 0.1 (as prediction), 2 → 0.5 (as prediction), 3 → 0.3.
    expect(mostConfusedClasses(m, 4, 2)).toEqual([0, 2]);
    expect(mostConfusedClasses(m, 4, 3)).toEqual([0, 2, 3]);
    expect(mostConfusedClasses(m, 4, 4)).toEqual([0, 1, 2, 3]);
  });

  it('over the limit, leaves out classes that occur neither as ground truth nor as prediction', () => {
    // 5 classes, limit 4: class 1 never occurs; 3 occurs only as a prediction (of 4).
    const m = [
      9, 0, 0, 0, 0,
      0, 0, 0, 0, 0,
      0, 0, 5, 0, 0,
      0, 0, 0, 0, 0,
      0, 0, 0, 2, 8,
    ];
    expect(mostConfusedClasses(m, 5, 4)).toEqual([0, 2, 3, 4]);
    expect(mostConfusedClasses(m, 5, 2)).toEqual([3, 4]);
  });
});

describe('confusion.html', () => {
  it('shows the raw count of the cell under the mouse (its script run against a window-like global)', async () => {
    const names = ['road', 'car', 'sky'];
    // Rows = truth: 70 road pixels predicted road, 30 predicted car, ...
    const confusion = [70, 30, 0, 5, 95, 0, 0, 0, 100];
    const out = path.join(dir, 'hover');
    mkdirSync(out);
    await writeEvalOutputs(out, fakeReport(names, confusion));
    const html = readFileSync(path.join(out, 'confusion.html'), 'utf8');
    const script = /<script>\n([\s\S]*?)<\/script>/.exec(html)?.[1] ?? '';
    const g = geometry(html);
    const listeners = new Map<string, (e: { clientX: number; clientY: number }) => void>();
    const tip = { textContent: '', style: {} as Record<string, string> };
    // The image shown at half its size, 10 px from the page's corner.
    const img = {
      naturalWidth: g.width, naturalHeight: g.height,
      getBoundingClientRect: () => ({ left: 10, top: 10, width: g.width / 2, height: g.height / 2 }),
      addEventListener: (type: string, f: (e: { clientX: number; clientY: number }) => void) => listeners.set(type, f),
    };
    const context = { document: { getElementById: (id: string) => (id === 'tip' ? tip : img) } };
    // A browser's global already holds `top` (window.top), so a script's own global `top` fails to run; so here.
    const vm = createContext(context);
    runInContext('let top = null;', vm);
    runInContext(script, vm);
    const at = (t: number, p: number) => ({ clientX: 10 + (g.left + (p + 0.5) * g.cellPx) / 2, clientY: 10 + (g.top + (t + 0.5) * g.cellPx) / 2 });
    listeners.get('mousemove')?.(at(0, 1));
    expect(tip.textContent).toBe('truth road, predicted car: 30 of 100 pixels (30.0%)');
    expect(tip.style.display).toBe('block');
    listeners.get('mousemove')?.(at(2, 2));
    expect(tip.textContent).toBe('truth sky, predicted sky: 100 of 100 pixels (100.0%)');
    // Outside the cells (in the names' margin) nothing is shown.
    listeners.get('mousemove')?.({ clientX: 12, clientY: 10 + (g.top + 5) / 2 });
    expect(tip.style.display).toBe('none');
  });
});
