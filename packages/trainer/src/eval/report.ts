/** eval's outputs: a per-class table for the terminal and Markdown, JSON, and the confusion matrix as a labelled PNG and an HTML page. */
import { writeFileSync } from 'node:fs';
import { plural } from '@sentseg/common';
import path from 'node:path';
import { CONFUSION_PNG_MAX_CLASSES, confusionFigure, confusionHtml, mostConfusedClasses } from './confusion-figure.js';
import type { EvalReport } from './evaluate.js';

const pct = (v: number | null) => (v === null ? '—' : (100 * v).toFixed(2));

export function modeName(report: Pick<EvalReport, 'scales' | 'flip' | 'window'>): string {
  return `${report.scales.length > 1 ? `ms ${report.scales.join('/')}` : `ss ${report.scales[0]}`}${report.flip ? ' + flip' : ''}${report.window ? `, window ${report.window}` : ''}`;
}

/**
 * The terminal's per-class table: the classes that occur in the targets or the predictions (the
 * ones the mean is over); how many others there are is said below it (eval.md and eval.json list all).
 */
export function textTable(report: EvalReport): string {
  const shown = report.classes.map((c, i) => ({ name: c.name, iou: report.iou[i] ?? null })).filter((c) => c.iou !== null);
  const width = Math.max(9, ...shown.map((c) => c.name.length));
  const lines = [`${report.dataset} ${report.split}, ${plural(report.images, 'image')}, ${modeName(report)}, checkpoint step ${report.step}`, `${'class'.padEnd(width)}  IoU %`];
  for (const c of shown) lines.push(`${c.name.padEnd(width)}  ${pct(c.iou).padStart(6)}`);
  const absent = report.classes.length - shown.length;
  lines.push(`${'mIoU'.padEnd(width)}  ${pct(report.miou).padStart(6)}  (over ${report.counted} of ${plural(report.classes.length, 'class', 'classes')}${absent > 0 ? `; ${absent} absent from the targets and never predicted are not listed (--out writes eval.md with every class)` : ''})`);
  lines.push(`${'pixel acc'.padEnd(width)}  ${pct(report.pixelAccuracy).padStart(6)}`);
  return lines.join('\n');
}

export function markdownTable(report: EvalReport): string {
  const rows = report.classes.map((c, i) => `| ${c.name} | ${pct(report.iou[i] ?? null)} |`);
  return [
    `# ${report.dataset} ${report.split}: mIoU ${pct(report.miou)}%`,
    '',
    `${plural(report.images, 'image')}, ${modeName(report)}, checkpoint step ${report.step}. Pixel accuracy ${pct(report.pixelAccuracy)}%. The mean is over the ${report.counted} classes that occur in the targets or the predictions.`,
    '',
    '| class | IoU % |',
    '| --- | --- |',
    ...rows,
    '',
  ].join('\n');
}

/** Writes eval.json, eval.md, confusion.json, confusion.png and confusion.html into `dir`; returns their paths. */
export async function writeEvalOutputs(dir: string, report: EvalReport): Promise<string[]> {
  const k = report.classes.length;
  const files = {
    json: path.join(dir, 'eval.json'),
    md: path.join(dir, 'eval.md'),
    confusion: path.join(dir, 'confusion.json'),
    png: path.join(dir, 'confusion.png'),
    html: path.join(dir, 'confusion.html'),
  };
  const { confusion, ...summary } = report;
  writeFileSync(files.json, `${JSON.stringify({ ...summary, mode: modeName(report), perClass: report.classes.map((c, i) => ({ ...c, iou: report.iou[i] ?? null })) }, null, 2)}\n`);
  writeFileSync(files.md, markdownTable(report));
  writeFileSync(files.confusion, `${JSON.stringify({ classes: report.classes.map((c) => c.name), rows: 'target', columns: 'prediction', matrix: Array.from({ length: k }, (_, t) => confusion.slice(t * k, (t + 1) * k)) })}\n`);
  const all = Array.from({ length: k }, (_, i) => i);
  const figure = await confusionFigure(report, mostConfusedClasses(confusion, k, CONFUSION_PNG_MAX_CLASSES));
  writeFileSync(files.png, figure.png);
  writeFileSync(files.html, confusionHtml(report, k > CONFUSION_PNG_MAX_CLASSES ? await confusionFigure(report, all) : figure));
  return Object.values(files);
}
