/**
 * demo-out/report.html: one page, every picture a file beside it (PNG), the data behind it in
 * report.json, charts as inline SVG; nothing loaded from the network.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { CONDITIONS, formatSpread, type Condition, type ExperimentSummary, type Measurement } from './experiment.js';
import type { EvalTargetResult, TrainResult } from './jobs.js';
import type { WorldLabel } from './world-bank.js';
import { viridis } from '@sentseg/label-bank';

export interface ReportData {
  generatedAt: string;
  wallSeconds: number;
  stages: { name: string; seconds: number; note: string }[];
  clip: { folder: string; random: boolean; why: string; modelId: string };
  sentenceEncoder: { modelId: string; kind: 'clip' | 'lexical'; why: string };
  settings: { seeds: number[]; steps: number; crop: number; batchSize: number; model: string; lr: number; worldSeed: number; worldScale: number; jobs: number };
  world: { name: string; format: string; heldOut: boolean; splits: Record<string, number>; classes: { concept: string; name: string }[]; sample: string | null }[];
  merge: { manifest: string; datasets: { dataset: string; format: string; images: number; problems: number; source: string }[]; skipped: { dataset: string; reason: string }[] };
  labels: WorldLabel[];
  similarity: { png: string; names: string[]; modelId: string; /** names × names cosines, row-major. */ cosines: number[] }[];
  clipReport: { html: string; scores: Record<string, { score: number; within: number; across: number }> } | null;
  runs: { condition: Condition; seed: number; run: string; train: TrainResult; eval: EvalTargetResult[] }[];
  measurements: Measurement[];
  summary: ExperimentSummary;
  main: { condition: Condition; seed: number; run: string };
  predictions: { image: string; truth: string; prediction: string; present: string[] }[];
  /** Held-out class names no training dataset uses. */
  unseenNames: string[];
  legend: { name: string; colour: [number, number, number] }[];
}

const CONDITION_TEXT: Record<Condition, string> = {
  a: '(a) one dataset (city), one-hot labels',
  b: '(b) three datasets merged, one-hot labels after naive name matching',
  c: '(c) three datasets merged, sentence embeddings',
};
const CONDITION_COLOUR: Record<Condition, string> = { a: '#d62728', b: '#1f77b4', c: '#2ca02c' };

const esc = (s: string) => s.replace(/[<>&'"]/g, (ch) => `&#${ch.charCodeAt(0)};`);
const pct = (v: number | null | undefined) => (v === null || v === undefined || Number.isNaN(v) ? '–' : (v * 100).toFixed(1));
const rgb = (c: [number, number, number]) => `rgb(${c[0]},${c[1]},${c[2]})`;

export interface Series {
  name: string;
  colour: string;
  points: [number, number][];
  dashed?: boolean;
}

/** A line chart as an SVG element: linear axes from the data's range, a legend under the title. */
export function lineChartSvg(series: Series[], options: { title: string; xLabel: string; yLabel: string; width?: number; height?: number }): string {
  const width = options.width ?? 560;
  const height = options.height ?? 300;
  const pad = { left: 52, right: 16, top: 28 + 16 * series.length, bottom: 40 };
  const all = series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  if (all.length === 0) return `<p>${esc(options.title)}: no data</p>`;
  const xs = all.map((p) => p[0]);
  const ys = all.map((p) => p[1]);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  const [y0, y1] = [Math.min(0, Math.min(...ys)), Math.max(...ys)];
  const sx = (x: number) => pad.left + ((x - x0) / (x1 - x0 || 1)) * (width - pad.left - pad.right);
  const sy = (y: number) => height - pad.bottom - ((y - y0) / (y1 - y0 || 1)) * (height - pad.top - pad.bottom);
  const ticks = 5;
  const grid = Array.from({ length: ticks + 1 }, (_, i) => {
    const y = y0 + ((y1 - y0) * i) / ticks;
    return `<line x1="${pad.left}" x2="${width - pad.right}" y1="${sy(y).toFixed(1)}" y2="${sy(y).toFixed(1)}" stroke="#ddd"/><text x="${pad.left - 6}" y="${(sy(y) + 4).toFixed(1)}" text-anchor="end" font-size="11">${y.toFixed(2)}</text>`;
  }).join('');
  const xTicks = Array.from({ length: ticks + 1 }, (_, i) => {
    const x = x0 + ((x1 - x0) * i) / ticks;
    return `<text x="${sx(x).toFixed(1)}" y="${height - pad.bottom + 16}" text-anchor="middle" font-size="11">${Math.round(x)}</text>`;
  }).join('');
  const lines = series
    .map((s) => {
      const d = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)).map(([x, y], i) => `${i === 0 ? 'M' : 'L'}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(' ');
      return `<path d="${d}" fill="none" stroke="${s.colour}" stroke-width="1.6"${s.dashed ? ' stroke-dasharray="5,3"' : ''}/>`;
    })
    .join('');
  const legend = series
    .map((s, i) => `<line x1="${pad.left}" x2="${pad.left + 22}" y1="${26 + 16 * i}" y2="${26 + 16 * i}" stroke="${s.colour}" stroke-width="2"${s.dashed ? ' stroke-dasharray="5,3"' : ''}/><text x="${pad.left + 28}" y="${30 + 16 * i}" font-size="11">${esc(s.name)}</text>`)
    .join('');
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${esc(options.title)}">` +
    `<text x="${pad.left}" y="14" font-size="13" font-weight="bold">${esc(options.title)}</text>${legend}${grid}${xTicks}${lines}` +
    `<text x="${(pad.left + width - pad.right) / 2}" y="${height - 6}" text-anchor="middle" font-size="11">${esc(options.xLabel)}</text>` +
    `<text x="12" y="${(pad.top + height - pad.bottom) / 2}" font-size="11" transform="rotate(-90 12 ${(pad.top + height - pad.bottom) / 2})" text-anchor="middle">${esc(options.yLabel)}</text></svg>`
  );
}

/** Mean over seeds of a per-step metric for one condition (steps every seed has). */
export function meanCurve(runs: ReportData['runs'], condition: Condition, pick: (m: TrainResult['metrics'][number]) => number | null): [number, number][] {
  const chosen = runs.filter((r) => r.condition === condition);
  if (chosen.length === 0) return [];
  const steps = chosen[0]?.train.metrics.map((m) => m.step) ?? [];
  return steps.flatMap((step) => {
    const values = chosen.map((r) => r.train.metrics.find((m) => m.step === step)).map((m) => (m ? pick(m) : null));
    if (values.some((v) => v === null || !Number.isFinite(v))) return [];
    return [[step, (values as number[]).reduce((s, v) => s + v, 0) / values.length] as [number, number]];
  });
}

/** A moving average over `k` points, so per-step noise does not hide the trend. */
export function smooth(points: [number, number][], k: number): [number, number][] {
  return points.map(([x], i) => {
    const window = points.slice(Math.max(0, i - k + 1), i + 1);
    return [x, window.reduce((s, p) => s + p[1], 0) / window.length];
  });
}

function table(head: string[], rows: string[][]): string {
  return `<table><thead><tr>${head.map((h) => `<th>${h}</th>`).join('')}</tr></thead><tbody>${rows.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`).join('')}</tbody></table>`;
}

export function reportHtml(data: ReportData): string {
  const s = data.summary;
  const stageRows = data.stages.map((st) => [esc(st.name), `${st.seconds.toFixed(1)} s`, esc(st.note)]);
  const worldRows = data.world.map((d) => [
    esc(d.name) + (d.heldOut ? ' <em>(held out)</em>' : ''),
    esc(d.format),
    esc(Object.entries(d.splits).map(([k, v]) => `${k} ${v}`).join(', ')),
    esc(d.classes.map((c) => (c.name === c.concept ? c.name : `${c.name} (${c.concept})`)).join(', ')),
    d.sample ? `<img src="${esc(d.sample)}" alt="sample of ${esc(d.name)}" class="thumb">` : '',
  ]);
  const mergeRows = data.merge.datasets.map((d) => [esc(d.dataset), esc(d.format), String(d.images), String(d.problems), esc(d.source)]);
  const labelRows = data.labels.map((l) => [esc(l.name), esc(l.group), l.shipped ? 'labels.json' : 'added', esc(l.description)]);
  const expRows = CONDITIONS.map((c) => [
    esc(CONDITION_TEXT[c]),
    ...s.datasets.map((d) => formatSpread(s.cells[c][d] as NonNullable<(typeof s.cells)[Condition][string]>)),
    `<strong>${formatSpread(s.overall[c])}</strong>`,
  ]);
  const orderRows = Object.entries(s.ordering).map(([d, o]) => [esc(d), o.cOverB ? 'yes' : 'no', o.bOverA ? 'yes' : 'no', o.holds ? '<strong>holds</strong>' : 'does not hold']);
  const seedRows = data.measurements
    .slice()
    .sort((x, y) => x.condition.localeCompare(y.condition) || x.seed - y.seed || x.dataset.localeCompare(y.dataset))
    .reduce<Map<string, string[]>>((acc, m) => {
      const key = `${m.condition}|${m.seed}`;
      acc.set(key, [...(acc.get(key) ?? []), pct(m.miou)]);
      return acc;
    }, new Map());
  const perSeed = [...seedRows].map(([key, values]) => {
    const [c, seed] = key.split('|');
    return [`(${c})`, seed as string, ...values];
  });
  const mainRun = data.runs.find((r) => r.condition === data.main.condition && r.seed === data.main.seed);
  const mainTables = (mainRun?.eval ?? [])
    .map((e) => `<h4>${esc(e.dataset)} / ${esc(e.split)}: mIoU ${pct(e.miou)}, pixel accuracy ${pct(e.pixelAccuracy)}</h4>` + table(['class', 'IoU'], e.perClass.map((p) => [esc(p.name) + (e.neverPredicted.includes(p.name) ? ' (never predicted)' : ''), pct(p.iou)])))
    .join('');
  const curves = (['loss', 'hd'] as const).map((part) =>
    lineChartSvg(
      CONDITIONS.map((c) => ({ name: CONDITION_TEXT[c], colour: CONDITION_COLOUR[c], points: smooth(meanCurve(data.runs, c, (m) => (part === 'loss' ? m.loss : m.hd)), 10) })),
      { title: part === 'loss' ? 'training loss L (mean over seeds, 10-step moving average)' : 'L_HD part (dense datasets)', xLabel: 'step', yLabel: part === 'loss' ? 'L' : 'L_HD' },
    ),
  );
  const tauChart = lineChartSvg(
    CONDITIONS.map((c) => ({ name: CONDITION_TEXT[c], colour: CONDITION_COLOUR[c], points: meanCurve(data.runs, c, (m) => m.tau) })),
    { title: 'learned temperature τ', xLabel: 'step', yLabel: 'τ' },
  );
  const parts = data.runs.some((r) => r.train.metrics.some((m) => m.ld !== null || m.wd !== null));
  const legend = data.legend.map((l) => `<span class="swatch" style="background:${rgb(l.colour)}"></span>${esc(l.name)}`).join(' ');
  const predictions = data.predictions
    .map((p) => `<figure><img src="${esc(p.image)}" alt="image"><img src="${esc(p.truth)}" alt="ground truth"><img src="${esc(p.prediction)}" alt="prediction"><figcaption>predicted: ${esc(p.present.join(', '))}</figcaption></figure>`)
    .join('');
  const similarity = data.similarity
    .map((m) => `<figure><img src="${esc(m.png)}" alt="similarity ${esc(m.modelId)}" class="matrix"><figcaption>${esc(m.modelId)}</figcaption></figure>`)
    .join('');
  // The first encoder's matrix as a table: names on both axes, the cosine in each cell.
  const first = data.similarity[0];
  const cosineTable = first
    ? `<table class="cos"><thead><tr><th></th>${first.names.map((n) => `<th class="v">${esc(n)}</th>`).join('')}</tr></thead><tbody>${first.names
        .map(
          (row, i) =>
            `<tr><th>${esc(row)}</th>${first.names
              .map((_, j) => {
                const c = first.cosines[i * first.names.length + j] as number;
                const [r, g, b] = viridis((c + 0.2) / 1.2);
                return `<td style="background:rgb(${r},${g},${b});color:${c > 0.6 ? '#000' : '#fff'}">${c.toFixed(2)}</td>`;
              })
              .join('')}</tr>`,
        )
        .join('')}</tbody></table>`
    : '';
  const simNames = data.similarity[0]?.names ?? [];
  const randomNote = data.clip.random
    ? '<p class="warn">No real CLIP weights were found, so the CLIP text tower is a generated random-weight model: its similarities carry no meaning. The experiment therefore uses the lexical baseline encoder for the sentence embeddings of (c). Rerun with <code>npm run demo -- --model ./clip-vit-base-patch32</code> (a CLIP text tower in transformers.js layout) to use CLIP instead.</p>'
    : '';
  const verdict = s.ordering['mean over datasets'];
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>sentseg demo report</title>
<style>
body{font-family:system-ui,sans-serif;margin:24px;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:8px 0 16px}td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px;text-align:left;vertical-align:top}
th{background:#f3f3f3}.thumb{height:72px;image-rendering:pixelated}.matrix{width:360px;image-rendering:pixelated}
figure{display:inline-block;margin:6px}figure img{height:144px;margin-right:2px;image-rendering:pixelated}figcaption{font-size:12px}
.cos td{font-size:10px;padding:1px 3px;text-align:right}.cos th{font-size:10px}th.v{writing-mode:vertical-rl;transform:rotate(180deg)}
.warn{background:#fff4e0;border:1px solid #e0b060;padding:8px}.swatch{display:inline-block;width:12px;height:12px;margin:0 4px 0 10px;vertical-align:middle}
code{background:#f3f3f3;padding:0 3px}
</style></head><body>
<h1>sentseg demo</h1>
<p>From raw datasets to this page in ${data.wallSeconds.toFixed(0)} s on this machine (${esc(data.generatedAt)}).
Three synthetic datasets in real on-disk layouts, each with its own class names, are merged with no relabeling;
a SegFormer-${esc(data.settings.model)} learns per-pixel embeddings; it is evaluated on every dataset and on a held-out fourth one whose names no training set uses.</p>
${randomNote}
<h2>Encoders</h2>
<ul><li>CLIP text tower (label-bank embed, similarity report): <code>${esc(data.clip.modelId)}</code> — ${esc(data.clip.why)}.</li>
<li>Sentence embeddings of condition (c) and of the main model: <code>${esc(data.sentenceEncoder.modelId)}</code> — ${esc(data.sentenceEncoder.why)}.</li>
<li>Label descriptions of every world class name: WordNet 3.1 (first noun sense that fits the class's group), one source for all of them.</li></ul>
<h2>Stages</h2>${table(['stage', 'wall time', ''], stageRows)}
<h2>The world</h2>${table(['dataset', 'layout', 'images', 'classes (concept drawn)', 'sample'], worldRows)}
<h2>merge-datasets</h2><p>Manifest <code>${esc(data.merge.manifest)}</code> (world datasets with <code>--keep-unmapped</code>: every class name is a label; same names meet, different names stay apart), plus the real samples of ../shared/datasets (merged, not trained on).</p>
${table(['dataset', 'format', 'images', 'problems', 'from'], mergeRows)}
${data.merge.skipped.map((k) => `<p>${esc(k.dataset)}: not merged — ${esc(k.reason)}</p>`).join('')}
<h2>Label bank</h2>${table(['label', 'group', 'origin', 'description'], labelRows)}
<p>Cosine similarity of the sentence embeddings of the world's labels (${esc(simNames.join(', '))}, in that order):</p>${similarity}
${first ? `<details open><summary>${esc(first.modelId)}, with values</summary>${cosineTable}</details>` : ''}
${data.clipReport ? `<p>All ${'238+'} labels, word-only beside sentence, CLIP: <a href="${esc(data.clipReport.html)}">label-similarity report</a> (block score sentence ${data.clipReport.scores.sentence?.score.toFixed(4) ?? '–'}, word ${data.clipReport.scores.word?.score.toFixed(4) ?? '–'}).</p>` : ''}
<h2>Training</h2>
<p>Same model and budget for every run: SegFormer-${esc(data.settings.model)}, ${data.settings.steps} steps, batch ${data.settings.batchSize} (dataset-balanced), crops ${data.settings.crop}×${data.settings.crop}, AdamW lr ${data.settings.lr}, seeds ${data.settings.seeds.join(', ')}.
${parts ? '' : 'Every world dataset is dense, so the loss is L_HD alone (no L_LD or L_WD part).'}</p>
${curves.join('')}${tauChart}
<h2>The experiment</h2>
<p>mIoU (%) on each validation split, mean ± standard deviation over ${s.seeds.length} seeds (${s.seeds.join(', ')}). One-hot models can predict a class of another dataset only when its name is exactly one they were trained with; a class with no such name is never predicted (IoU 0 where it occurs).</p>
${table(['condition', ...s.datasets.map(esc), 'mean over datasets'], expRows)}
<p>Does (c) &gt; (b) &gt; (a) hold? Over the mean of the datasets: <strong>${verdict?.holds ? 'yes' : 'no'}</strong> ((c) &gt; (b): ${verdict?.cOverB ? 'yes' : 'no'}, (b) &gt; (a): ${verdict?.bOverA ? 'yes' : 'no'}).</p>
${table(['on', '(c) > (b)', '(b) > (a)', '(c) > (b) > (a)'], orderRows)}
<details><summary>Every run</summary>${table(['condition', 'seed', ...s.datasets.map(esc)], perSeed)}</details>
<h2>Main model: (${data.main.condition}) seed ${data.main.seed}</h2><p>Run folder <code>${esc(data.main.run)}</code>.</p>${mainTables}
<h2>Predictions on held-out scenes</h2>
<p>Image, ground truth, prediction of the main model asked for the held-out dataset's own names (${esc(data.unseenNames.map((n) => `"${n}"`).join(', '))} ${data.unseenNames.length === 1 ? 'is' : 'are'} no training dataset's class name): ${legend}</p>
${predictions}
<p>Data behind this page: <a href="report.json">report.json</a>.</p>
</body></html>
`;
}

export function writeReport(out: string, data: ReportData): string {
  const html = path.join(out, 'report.html');
  writeFileSync(path.join(out, 'report.json'), `${JSON.stringify(data, null, 2)}\n`);
  writeFileSync(html, reportHtml(data));
  return html;
}
