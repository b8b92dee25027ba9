import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { matrixFigure, writeAtomic } from '@sentseg/common';
import { readLabelsFile } from '../labels-file.js';
import type { LabelBank } from '../store/bank.js';
import type { TextKind } from '../text.js';
import { LabelBankError } from '../errors.js';
import { agreementWithReference, type ReferenceSummary } from '../reference/agreement.js';
import { referenceModelName, referenceRows, type ReferenceEmbeddings } from '../reference/reference-file.js';
import { heatmapPng, viridis } from './heatmap.js';
import { reportHtml, type PanelKind, type ReportPanel } from './html.js';
import { blockScore, cosineMatrix, groupOrder, type BlockScore } from './similarity.js';

export interface SimilarityReport {
  modelId: string;
  labels: number;
  scores: Record<TextKind, BlockScore>;
  files: { html: string; json: string; png: Partial<Record<PanelKind, string>> & Record<TextKind, string> };
  /** With a reference: its coverage and each encoder's agreement with it. */
  reference?: ReferenceSummary;
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

const fmt3 = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : 'n/a');

/** Where one figure's rows and columns are, shared by every panel of a report. */
interface Layout {
  n: number;
  cellPx: number;
  boundaries: number[];
  runs: { group: string; start: number; end: number }[];
}

/** One titled matrix figure (group names on both axes, colour bar) on the report's layout. */
async function panelFigure(layout: Layout, matrix: Float32Array, scale: { min: number; max: number }, title: string[]) {
  const { n, cellPx, boundaries, runs } = layout;
  return matrixFigure({
    cells: heatmapPng(matrix, n, { cellPx, min: scale.min, max: scale.max, boundaries }),
    n,
    cellPx,
    rows: runs.map((r) => ({ label: r.group, start: r.start, end: r.end })),
    columns: runs.map((r) => ({ label: r.group, start: r.start, end: r.end })),
    rowTitle: 'label (ordered by group)',
    columnTitle: 'label (ordered by group)',
    namePx: 11,
    title,
    colourBar: { label: 'cosine similarity', min: scale.min, max: scale.max, colour: viridis, format: (v) => v.toFixed(2) },
  });
}

/** The lowest off-diagonal value of some n × n matrices (NaN cells ignored): the bottom of the colour scale. */
function offDiagonalMin(matrices: Float32Array[], n: number): number {
  let min = Infinity;
  for (const m of matrices) for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) if (i !== j && !Number.isNaN(m[i * n + j] as number)) min = Math.min(min, m[i * n + j] as number);
  return Number.isFinite(min) ? min : -1;
}

/**
 * The reference's n × n cosine matrix on the report's label order: NaN (drawn grey) where a label
 * is not in the reference. Throws when it covers none of the bank's labels.
 */
function referenceMatrix(reference: ReferenceEmbeddings, ordered: { name: string }[]): { matrix: Float32Array; covered: number } {
  const rows = referenceRows(reference);
  const at = ordered.map((l) => rows.get(l.name));
  const covered = at.filter((r) => r !== undefined).length;
  if (covered === 0) {
    const some = reference.names.slice(0, 5).join(', ');
    throw new LabelBankError('BAD_REFERENCE', `reference file ${reference.file}: no label overlaps the bank's ${ordered.length} (the reference names ${some}${reference.names.length > 5 ? ', …' : ''})`);
  }
  const present = at.filter((r): r is number => r !== undefined);
  const sub = cosineMatrix(reference.vectors, reference.dim, present);
  const n = ordered.length;
  const matrix = new Float32Array(n * n).fill(NaN);
  const index = at.map((r) => (r === undefined ? -1 : present.indexOf(r)));
  for (let i = 0; i < n; i++) {
    const a = index[i] as number;
    if (a < 0) continue;
    for (let j = 0; j < n; j++) {
      const b = index[j] as number;
      if (b >= 0) matrix[i * n + j] = sub[a * covered + b] as number;
    }
  }
  return { matrix, covered };
}

/**
 * Writes similarity-word.png, similarity-sentence.png, block-scores.json and report.html to
 * `outDir` for one encoder's embeddings in the bank. Each PNG reads on its own: group names along
 * both axes, a colour bar with the cosine scale, the encoder and the block score in its title.
 * With `reference` (real CLIP outputs, see reference-file.ts) it adds similarity-reference.png,
 * the reference's word-level matrix on the same rows (grey where it has no vector), and the
 * agreement of each of the bank's encoders with it; a reference that covers no label is refused
 * before anything is written.
 */
export async function writeSimilarityReport(
  bank: LabelBank,
  options: { outDir: string; modelId?: string; cellPx?: number; groupNames?: string[]; reference?: ReferenceEmbeddings },
): Promise<SimilarityReport> {
  const model = bank.resolveModel(options.modelId);
  const labels = bank.labels();
  const groupNames = options.groupNames ?? readLabelsFile().groups;
  const order = groupOrder(labels.map((l) => l.group), groupNames);
  const ordered = order.map((i) => labels[i] as (typeof labels)[number]);
  const groups = ordered.map((l) => l.group);
  const n = ordered.length;
  const boundaries = groups.flatMap((g, i) => (i > 0 && g !== groups[i - 1] ? [i] : []));
  const runs = [0, ...boundaries].map((start, k) => ({ group: groups[start] as string, start, end: boundaries[k] ?? n }));
  const layout: Layout = { n, cellPx: options.cellPx ?? 3, boundaries, runs };
  const reference = options.reference ? referenceMatrix(options.reference, ordered) : undefined;

  const kinds: TextKind[] = ['word', 'sentence'];
  const matrices = kinds.map((kind) => cosineMatrix(bank.embeddingMatrix(kind, model.modelId, labels).data, model.dim, order));
  const scale = { min: offDiagonalMin(matrices, n), max: 1 };

  const panels: ReportPanel[] = [];
  for (const [k, kind] of kinds.entries()) {
    const matrix = matrices[k] as Float32Array;
    const title = kind === 'word' ? 'Word only: "An image of {name}."' : 'Sentence: "An image of {name}. {description}"';
    const score = blockScore(matrix, groups);
    const figure = await panelFigure(layout, matrix, scale, [
      `Label similarity — ${title}`,
      `encoder ${model.modelId}; block score ${fmt3(score.score)} (within groups ${fmt3(score.within)} − across ${fmt3(score.across)})`,
      `${n} labels in ${runs.length} groups; white lines between groups`,
    ]);
    panels.push({ kind, title, png: figure.png, geometry: figure.geometry, matrix, score, scale });
  }
  let summary: ReferenceSummary | undefined;
  if (reference && options.reference) {
    const ref = options.reference;
    const agreements = agreementWithReference(bank, ref, ordered);
    const mine = agreements.find((a) => a.modelId === model.modelId && a.kind === 'word');
    const score = blockScore(reference.matrix, groups);
    const refScale = { min: offDiagonalMin([reference.matrix], n), max: 1 };
    const title = `Reference ${referenceModelName(ref)}, word level: "${ref.prompt}"`;
    const figure = await panelFigure(layout, reference.matrix, refScale, [
      `Label similarity — ${title}`,
      `${path.basename(ref.file)}; block score ${fmt3(score.score)}; vs ${model.modelId} word: Spearman ${fmt3(mine?.spearman ?? NaN)}, same nearest label ${mine?.sameNearest ?? 0} of ${mine?.labels ?? 0}`,
      `${reference.covered} of ${n} labels have a reference vector (the others are the grey rows and columns); white lines between groups`,
    ]);
    panels.push({ kind: 'reference', title, png: figure.png, geometry: figure.geometry, matrix: reference.matrix, score, scale: refScale });
    summary = { file: ref.file, model: ref.model, modelName: referenceModelName(ref), prompt: ref.prompt, covered: reference.covered, agreements };
  }

  const files = {
    html: path.join(options.outDir, 'report.html'),
    json: path.join(options.outDir, 'block-scores.json'),
    png: {
      word: path.join(options.outDir, 'similarity-word.png'),
      sentence: path.join(options.outDir, 'similarity-sentence.png'),
      ...(summary ? { reference: path.join(options.outDir, 'similarity-reference.png') } : {}),
    } as Record<PanelKind, string>,
  };
  const scores = { word: (panels[0] as ReportPanel).score, sentence: (panels[1] as ReportPanel).score };
  for (const p of panels) writeAtomic(files.png[p.kind], p.png);
  writeAtomic(
    files.json,
    `${JSON.stringify({ modelId: model.modelId, labels: n, order: ordered.map((l) => l.name), groups, scores, ...(summary ? { reference: summary } : {}) }, null, 2)}\n`,
  );
  writeAtomic(
    files.html,
    reportHtml({ modelId: model.modelId, modelNote: modelNote(model.location), names: ordered.map((l) => l.name), groups, groupRuns: runs, panels, reference: summary }),
  );
  return { modelId: model.modelId, labels: n, scores, files, ...(summary ? { reference: summary } : {}) };
}
