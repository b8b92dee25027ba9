/**
 * eval's confusion matrix as pictures a person can read on their own: confusion.png (class names on
 * both axes, rows = ground truth, columns = prediction, each row normalised to 100%, a title with
 * the dataset, split and mIoU, a colour bar) and confusion.html (the same picture of every class,
 * with the raw pixel counts of the cell under the mouse).
 *
 * Over CONFUSION_PNG_MAX_CLASSES classes the names of a whole matrix would be too small to read, so
 * the PNG keeps the classes most confused (largest off-diagonal share, as truth or as prediction)
 * and says so in its title; the HTML page always shows them all.
 */
import { matrixFigure, plural, type MatrixGeometry, type Rgb } from '@sentseg/common';
import { PNG } from 'pngjs';
import type { EvalReport } from './evaluate.js';

export const CONFUSION_PNG_MAX_CLASSES = 60;

/** White (0) → dark blue (1). */
export function confusionColour(v: number): Rgb {
  const t = Math.min(1, Math.max(0, v));
  return [Math.round(255 * (1 - t)), Math.round(255 * (1 - 0.8 * t)), Math.round(255 - 100 * t)];
}

/** Row-normalised cells of the classes `shown` (indices into the k × k matrix), `cell` pixels each, as a PNG. */
export function confusionPng(confusion: number[], k: number, cell = 8, shown: number[] = Array.from({ length: k }, (_, i) => i)): Buffer {
  const n = shown.length;
  const png = new PNG({ width: n * cell, height: n * cell });
  shown.forEach((t, row) => {
    let total = 0;
    for (let p = 0; p < k; p++) total += confusion[t * k + p] as number;
    shown.forEach((p, col) => {
      const rgb = confusionColour(total > 0 ? (confusion[t * k + p] as number) / total : 0);
      for (let y = row * cell; y < (row + 1) * cell; y++) {
        for (let x = col * cell; x < (col + 1) * cell; x++) {
          const o = 4 * (y * n * cell + x);
          png.data.set(rgb, o);
          png.data[o + 3] = 255;
        }
      }
    });
  });
  return PNG.sync.write(png);
}

/**
 * The `max` classes with the largest off-diagonal row share (as the ground truth, or as the
 * prediction of another class), in their original order; all classes when k ≤ max.
 */
export function mostConfusedClasses(confusion: number[], k: number, max: number): number[] {
  const all = Array.from({ length: k }, (_, i) => i);
  if (k <= max) return all;
  const worst = new Float64Array(k);
  // Pixels of a class as ground truth or as prediction: a class with none says nothing in the picture.
  const seen = new Float64Array(k);
  for (let t = 0; t < k; t++) {
    let total = 0;
    for (let p = 0; p < k; p++) {
      const v = confusion[t * k + p] as number;
      total += v;
      seen[p] = (seen[p] as number) + v;
    }
    seen[t] = (seen[t] as number) + total;
    if (total === 0) continue;
    for (let p = 0; p < k; p++) {
      if (p === t) continue;
      const share = (confusion[t * k + p] as number) / total;
      worst[t] = Math.max(worst[t] as number, share);
      worst[p] = Math.max(worst[p] as number, share);
    }
  }
  return all
    .filter((c) => (seen[c] as number) > 0)
    .sort((a, b) => (worst[b] as number) - (worst[a] as number) || a - b)
    .slice(0, max)
    .sort((a, b) => a - b);
}

const pct = (v: number | null) => (v === null ? '—' : `${(100 * v).toFixed(2)}%`);

/** The titled, labelled confusion matrix of `shown` classes. */
export async function confusionFigure(report: EvalReport, shown: number[]): Promise<{ png: Buffer; geometry: MatrixGeometry }> {
  const k = report.classes.length;
  const n = shown.length;
  const cellPx = Math.max(12, Math.min(36, Math.floor(720 / Math.max(1, n))));
  const spans = shown.map((c, i) => ({ label: report.classes[c]?.name ?? `class ${c}`, start: i, end: i + 1 }));
  const title = [
    `Confusion matrix — ${report.dataset} ${report.split}, mIoU ${pct(report.miou)}`,
    `${plural(report.images, 'image')}, checkpoint step ${report.step}; rows: ground truth, columns: prediction, each row normalised to 100%`,
  ];
  if (n < k) title.push(`${n} of ${k} classes shown: those with the largest confusion, none that never occurs; every class in confusion.html and confusion.json`);
  return matrixFigure({
    cells: confusionPng(report.confusion, k, cellPx, shown),
    n,
    cellPx,
    rows: spans,
    columns: spans,
    rowTitle: 'ground truth',
    columnTitle: 'prediction',
    title,
    colourBar: { label: "share of the row's pixels", min: 0, max: 1, colour: confusionColour, format: (v) => `${Math.round(100 * v)}%` },
  });
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** JSON that is safe inside a <script> element. */
const scriptJson = (value: unknown) => JSON.stringify(value).replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026');

/** One self-contained page: the figure of every class, raw counts of the cell under the mouse. */
export function confusionHtml(report: EvalReport, figure: { png: Buffer; geometry: MatrixGeometry }): string {
  const g = figure.geometry;
  const data = { names: report.classes.map((c) => c.name), k: report.classes.length, confusion: report.confusion, geometry: g };
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Confusion matrix — ${escapeHtml(report.dataset)} ${escapeHtml(report.split)}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; }
img { image-rendering: pixelated; cursor: crosshair; }
#tip { position: fixed; pointer-events: none; background: #222; color: #fff; padding: 4px 8px; border-radius: 4px; display: none; font-size: 13px; }
</style>
</head>
<body>
<p>Rows: ground truth; columns: prediction; colour: the share of the row's labelled pixels (ignored pixels left out).
Hover a cell for its raw pixel count. Every class is shown here; the counts are also in confusion.json.</p>
<img id="figure" width="${g.width}" height="${g.height}" alt="confusion matrix of ${escapeHtml(report.dataset)} ${escapeHtml(report.split)}" src="data:image/png;base64,${figure.png.toString('base64')}">
<div id="tip"></div>
<script>
const DATA = ${scriptJson(data)};
const img = document.getElementById('figure');
const tip = document.getElementById('tip');
// Named apart from window.top, which a global \`top\` would collide with.
const { left: cellsLeft, top: cellsTop, cellPx, n } = DATA.geometry;
const rowTotal = (t) => { let s = 0; for (let p = 0; p < DATA.k; p++) s += DATA.confusion[t * DATA.k + p]; return s; };
img.addEventListener('mousemove', (e) => {
  const r = img.getBoundingClientRect();
  const x = (e.clientX - r.left) * img.naturalWidth / r.width - cellsLeft;
  const y = (e.clientY - r.top) * img.naturalHeight / r.height - cellsTop;
  const p = Math.floor(x / cellPx);
  const t = Math.floor(y / cellPx);
  if (x < 0 || y < 0 || p >= n || t >= n) { tip.style.display = 'none'; return; }
  const count = DATA.confusion[t * DATA.k + p];
  const total = rowTotal(t);
  tip.textContent = 'truth ' + DATA.names[t] + ', predicted ' + DATA.names[p] + ': ' + count.toLocaleString('en') + ' of ' + total.toLocaleString('en') + ' pixels' + (total > 0 ? ' (' + (100 * count / total).toFixed(1) + '%)' : '');
  tip.style.left = (e.clientX + 12) + 'px';
  tip.style.top = (e.clientY + 12) + 'px';
  tip.style.display = 'block';
});
img.addEventListener('mouseleave', () => { tip.style.display = 'none'; });
</script>
</body>
</html>
`;
}
