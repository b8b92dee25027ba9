import type { MatrixGeometry } from '@sentseg/common';
import type { ReferenceSummary } from '../reference/agreement.js';
import type { BlockScore } from './similarity.js';

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
}

/** JSON that is safe inside a <script> element. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

/** The bank's word and sentence matrices, and a reference's (e.g. real CLIP's) word-level one. */
export type PanelKind = 'word' | 'sentence' | 'reference';

export interface ReportPanel {
  kind: PanelKind;
  title: string;
  /** The titled figure, and where its cells lie in it. */
  png: Buffer;
  geometry: MatrixGeometry;
  matrix: Float32Array;
  score: BlockScore;
  /** Values at the ends of its colour bar. */
  scale: { min: number; max: number };
}

export interface ReportPage {
  modelId: string;
  modelNote: string | null;
  names: string[];
  groups: string[];
  groupRuns: { group: string; start: number; end: number }[];
  panels: ReportPanel[];
  reference?: ReferenceSummary;
}

const fmt = (x: number) => (Number.isFinite(x) ? x.toFixed(4) : 'n/a');

/** One self-contained HTML page: the heatmaps inline, label names on hover, block scores, agreement with a reference. */
export function reportHtml(page: ReportPage): string {
  const panels = page.panels
    .map(
      (p, k) => `<figure>
  <figcaption>${escapeHtml(p.title)} — block score ${fmt(p.score.score)}</figcaption>
  <img class="heat" data-panel="${k}" width="${p.geometry.width}" height="${p.geometry.height}" alt="${escapeHtml(p.title)} similarity matrix" src="data:image/png;base64,${p.png.toString('base64')}">
</figure>`,
    )
    .join('\n');
  const rows = page.panels
    .map((p) => `<tr><td>${escapeHtml(p.title)}</td><td>${fmt(p.score.within)}</td><td>${fmt(p.score.across)}</td><td><b>${fmt(p.score.score)}</b></td></tr>`)
    .join('\n');
  const reference = page.reference
    ? `<h2>Agreement with the reference, ${escapeHtml(page.reference.modelName)} (word level)</h2>
<p>Reference: <code>${escapeHtml(page.reference.file)}</code>${page.reference.model ? ` (${escapeHtml(page.reference.model)})` : ''}, text "${escapeHtml(page.reference.prompt)}";
it covers ${page.reference.covered} of the ${page.names.length} labels. For each of the bank's encoders, over the covered labels it has embedded:
the Spearman rank correlation of its similarities of every pair of different labels with the reference's (1: same order of pairs; 0: unrelated),
and for how many labels the nearest other label is the same as in the reference.</p>
<table><tr><th>encoder</th><th>text</th><th>labels</th><th>Spearman</th><th>same nearest label</th></tr>
${page.reference.agreements.map((a) => `<tr><td>${escapeHtml(a.modelId)}</td><td>${a.kind}</td><td>${a.labels}</td><td><b>${fmt(a.spearman)}</b></td><td>${a.sameNearest} of ${a.labels}</td></tr>`).join('\n')}
</table>`
    : '';
  const legend = page.groupRuns.map((r) => `<li>${escapeHtml(r.group)}: rows ${r.start + 1}–${r.end}</li>`).join('');
  const data = {
    names: page.names,
    groups: page.groups,
    matrices: page.panels.map((p) => Array.from(p.matrix, (v) => (Number.isNaN(v) ? null : Math.round(v * 1000) / 1000))),
    geometry: page.panels.map((p) => p.geometry),
  };
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Label similarity — ${escapeHtml(page.modelId)}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; }
.note { background: #fff3cd; border: 1px solid #e0c060; padding: 8px 12px; max-width: 60em; }
figure { display: inline-block; width: calc(50% - 28px); min-width: 560px; margin: 0 24px 24px 0; vertical-align: top; }
img.heat { width: 100%; height: auto; cursor: crosshair; }
table { border-collapse: collapse; } td, th { border: 1px solid #ccc; padding: 4px 8px; text-align: right; } td:first-child { text-align: left; }
#tip { position: fixed; pointer-events: none; background: #222; color: #fff; padding: 4px 8px; border-radius: 4px; display: none; font-size: 13px; }
ul.groups { columns: 3; max-width: 60em; }
</style>
</head>
<body>
<h1>Label similarity matrix</h1>
<p>Cosine similarity between the text embeddings of every pair of labels (paper, figure 3): word-only text
("An image of {name}.") beside the sentence text ("An image of {name}. {description}")${page.reference ? `, and the word-level matrix of the reference (${escapeHtml(page.reference.modelName)})` : ''}. Labels are ordered by
group, so a text encoder that carries meaning shows bright blocks on the diagonal. Encoder: <code>${escapeHtml(page.modelId)}</code>.
Each figure has its colour bar (${page.panels.map((p) => `${escapeHtml(p.kind)}: ${fmt(p.scale.min)} dark to ${fmt(p.scale.max)} bright`).join('; ')}); grey cells have no value. Hover a cell for the two labels.</p>
${page.modelNote ? `<p class="note">${escapeHtml(page.modelNote)}</p>` : ''}
<h2>Block score (mean cosine within groups − mean cosine across groups)</h2>
<table><tr><th>text</th><th>within</th><th>across</th><th>block score</th></tr>
${rows}
</table>
${reference}
<h2>Matrices</h2>
${panels}
<h2>Groups (row order)</h2>
<ul class="groups">${legend}</ul>
<div id="tip"></div>
<script>
const DATA = ${scriptJson(data)};
const tip = document.getElementById('tip');
for (const img of document.querySelectorAll('img.heat')) {
  const m = DATA.matrices[Number(img.dataset.panel)];
  const g = DATA.geometry[Number(img.dataset.panel)];
  const n = DATA.names.length;
  img.addEventListener('mousemove', (e) => {
    const r = img.getBoundingClientRect();
    const x = (e.clientX - r.left) * img.naturalWidth / r.width - g.left;
    const y = (e.clientY - r.top) * img.naturalHeight / r.height - g.top;
    const j = Math.floor(x / g.cellPx);
    const i = Math.floor(y / g.cellPx);
    if (x < 0 || y < 0 || i >= n || j >= n) { tip.style.display = 'none'; return; }
    const v = m[i * n + j];
    tip.textContent = DATA.names[i] + ' (' + DATA.groups[i] + ') × ' + DATA.names[j] + ' (' + DATA.groups[j] + '): ' + (v === null ? 'no reference vector' : v.toFixed(3));
    tip.style.left = (e.clientX + 12) + 'px';
    tip.style.top = (e.clientY + 12) + 'px';
    tip.style.display = 'block';
  });
  img.addEventListener('mouseleave', () => { tip.style.display = 'none'; });
}
</script>
</body>
</html>
`;
}
