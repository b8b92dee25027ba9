/** eval's outputs: a per-class table for the terminal and Markdown, JSON, and the confusion matrix as a PNG heatmap. */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { PNG } from 'pngjs';
import type { EvalReport } from './evaluate.js';

const pct = (v: number | null) => (v === null ? '—' : (100 * v).toFixed(2));

export function modeName(report: Pick<EvalReport, 'scales' | 'flip' | 'window'>): string {
  return `${report.scales.length > 1 ? `ms ${report.scales.join('/')}` : `ss ${report.scales[0]}`}${report.flip ? ' + flip' : ''}${report.window ? `, window ${report.window}` : ''}`;
}

export function textTable(report: EvalReport): string {
  const width = Math.max(5, ...report.classes.map((c) => c.name.length));
  const lines = [`${report.dataset} ${report.split}, ${report.images} images, ${modeName(report)}, checkpoint step ${report.step}`, `${'class'.padEnd(width)}  IoU %`];
  report.classes.forEach((c, i) => lines.push(`${c.name.padEnd(width)}  ${pct(report.iou[i] ?? null).padStart(6)}`));
  lines.push(`${'mIoU'.padEnd(width)}  ${pct(report.miou).padStart(6)}  (over ${report.counted} of ${report.classes.length} classes; classes absent from the targets and never predicted are left out)`);
  lines.push(`${'pixel acc'.padEnd(width)}  ${pct(report.pixelAccuracy).padStart(6)}`);
  return lines.join('\n');
}

export function markdownTable(report: EvalReport): string {
  const rows = report.classes.map((c, i) => `| ${c.name} | ${pct(report.iou[i] ?? null)} |`);
  return [
    `# ${report.dataset} ${report.split}: mIoU ${pct(report.miou)}%`,
    '',
    `${report.images} images, ${modeName(report)}, checkpoint step ${report.step}. Pixel accuracy ${pct(report.pixelAccuracy)}%. The mean is over the ${report.counted} classes that occur in the targets or the predictions.`,
    '',
    '| class | IoU % |',
    '| --- | --- |',
    ...rows,
    '',
  ].join('\n');
}

/** Row-normalised confusion matrix, `cell` pixels per entry: white 0 → dark blue 1; rows = target. */
export function confusionPng(confusion: number[], k: number, cell = 8): Buffer {
  const png = new PNG({ width: k * cell, height: k * cell });
  for (let t = 0; t < k; t++) {
    let row = 0;
    for (let p = 0; p < k; p++) row += confusion[t * k + p] as number;
    for (let p = 0; p < k; p++) {
      const v = row > 0 ? (confusion[t * k + p] as number) / row : 0;
      const rgb = [Math.round(255 * (1 - v)), Math.round(255 * (1 - 0.8 * v)), Math.round(255 - 100 * v)];
      for (let y = t * cell; y < (t + 1) * cell; y++) {
        for (let x = p * cell; x < (p + 1) * cell; x++) {
          const o = 4 * (y * k * cell + x);
          png.data[o] = rgb[0] as number;
          png.data[o + 1] = rgb[1] as number;
          png.data[o + 2] = rgb[2] as number;
          png.data[o + 3] = 255;
        }
      }
    }
  }
  return PNG.sync.write(png);
}

/** Writes eval.json, eval.md, confusion.json and confusion.png into `dir`; returns their paths. */
export function writeEvalOutputs(dir: string, report: EvalReport): string[] {
  const k = report.classes.length;
  const files = {
    json: path.join(dir, 'eval.json'),
    md: path.join(dir, 'eval.md'),
    confusion: path.join(dir, 'confusion.json'),
    png: path.join(dir, 'confusion.png'),
  };
  const { confusion, ...summary } = report;
  writeFileSync(files.json, `${JSON.stringify({ ...summary, mode: modeName(report), perClass: report.classes.map((c, i) => ({ ...c, iou: report.iou[i] ?? null })) }, null, 2)}\n`);
  writeFileSync(files.md, markdownTable(report));
  writeFileSync(files.confusion, `${JSON.stringify({ classes: report.classes.map((c) => c.name), rows: 'target', columns: 'prediction', matrix: Array.from({ length: k }, (_, t) => confusion.slice(t * k, (t + 1) * k)) })}\n`);
  writeFileSync(files.png, confusionPng(confusion, k));
  return Object.values(files);
}
