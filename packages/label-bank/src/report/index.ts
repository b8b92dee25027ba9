import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { matrixFigure } from '@sentseg/common';
import { writeFileAtomic } from '../fs-atomic.js';
import { readLabelsFile } from '../labels-file.js';
import type { LabelBank } from '../store/bank.js';
import type { TextKind } from '../text.js';
import { heatmapPng, viridis } from './heatmap.js';
import { reportHtml, type ReportPanel } from './html.js';
import { blockScore, cosineMatrix, groupOrder, type BlockScore } from './similarity.js';

export interface SimilarityReport {
  modelId: string;
  labels: number;
  scores: Record<TextKind, BlockScore>;
  files: { html: string; json: string; png: Record<TextKind, string> };
}

/** A warning for the page when the encoder is a generated random-weight model. */
function modelNote(location: string): string | null {
  const config = path.join(location, 'config.json');
  if (!existsSync(config)) return null;
  try {
    const parsed = JSON.parse(readFileSync(config, 'utf8')) as { sentseg?: { random_weights?: boolean } };
    if (parsed.sentseg?.random_weights) {
      return 'This encoder is a generated CLIP-architecture model with random weights (no real CLIP weights are available here). The matrices show the pipeline working, not meaning: expect no group blocks.';
    }
  } catch {
    return null;
  }
  return null;
}

/**
 * Writes similarity-word.png, similarity-sentence.png, block-scores.json and report.html to
 * `outDir` for one encoder's embeddings in the bank. Each PNG reads on its own: group names along
 * both axes, a colour bar with the cosine scale, the encoder and the block score in its title.
 */
export async function writeSimilarityReport(bank: LabelBank, options: { outDir: string; modelId?: string; cellPx?: number; groupNames?: string[] }): Promise<SimilarityReport> {
  const model = bank.resolveModel(options.modelId);
  const labels = bank.labels();
  const groupNames = options.groupNames ?? readLabelsFile().groups;
  const order = groupOrder(labels.map((l) => l.group), groupNames);
  const ordered = order.map((i) => labels[i] as (typeof labels)[number]);
  const groups = ordered.map((l) => l.group);
  const n = ordered.length;
  const boundaries = groups.flatMap((g, i) => (i > 0 && g !== groups[i - 1] ? [i] : []));
  const runs = [0, ...boundaries].map((start, k) => ({ group: groups[start] as string, start, end: boundaries[k] ?? n }));

  const kinds: TextKind[] = ['word', 'sentence'];
  const matrices = kinds.map((kind) => cosineMatrix(bank.embeddingMatrix(kind, model.modelId, labels).data, model.dim, order));
  let min = Infinity;
  for (const m of matrices) for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) if (i !== j) min = Math.min(min, m[i * n + j] as number);
  const scale = { min: Number.isFinite(min) ? min : -1, max: 1 };
  const cellPx = options.cellPx ?? 3;

  const fmt = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : 'n/a');
  const panels: ReportPanel[] = [];
  for (const [k, kind] of kinds.entries()) {
    const matrix = matrices[k] as Float32Array;
    const title = kind === 'word' ? 'Word only: "An image of {name}."' : 'Sentence: "An image of {name}. {description}"';
    const score = blockScore(matrix, groups);
    const figure = await matrixFigure({
      cells: heatmapPng(matrix, n, { cellPx, min: scale.min, max: scale.max, boundaries }),
      n,
      cellPx,
      rows: runs.map((r) => ({ label: r.group, start: r.start, end: r.end })),
      columns: runs.map((r) => ({ label: r.group, start: r.start, end: r.end })),
      rowTitle: 'label (ordered by group)',
      columnTitle: 'label (ordered by group)',
      namePx: 11,
      title: [
        `Label similarity — ${title}`,
        `encoder ${model.modelId}; block score ${fmt(score.score)} (within groups ${fmt(score.within)} − across ${fmt(score.across)})`,
        `${n} labels in ${runs.length} groups; white lines between groups`,
      ],
      colourBar: { label: 'cosine similarity', min: scale.min, max: scale.max, colour: viridis, format: (v) => v.toFixed(2) },
    });
    panels.push({ kind, title, png: figure.png, geometry: figure.geometry, matrix, score });
  }
  const files = {
    html: path.join(options.outDir, 'report.html'),
    json: path.join(options.outDir, 'block-scores.json'),
    png: { word: path.join(options.outDir, 'similarity-word.png'), sentence: path.join(options.outDir, 'similarity-sentence.png') },
  };
  const scores = { word: (panels[0] as ReportPanel).score, sentence: (panels[1] as ReportPanel).score };
  for (const p of panels) writeFileAtomic(files.png[p.kind], p.png);
  writeFileAtomic(
    files.json,
    `${JSON.stringify({ modelId: model.modelId, labels: n, order: ordered.map((l) => l.name), groups, scores }, null, 2)}\n`,
  );
  writeFileAtomic(
    files.html,
    reportHtml({ modelId: model.modelId, modelNote: modelNote(model.location), names: ordered.map((l) => l.name), groups, groupRuns: runs, panels, scale }),
  );
  return { modelId: model.modelId, labels: n, scores, files };
}
