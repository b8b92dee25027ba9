import { PNG } from 'pngjs';
import type { ManifestStats } from './stats.js';

const escape = (t: string) => t.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);

/** The label × dataset coverage matrix as a PNG: one row per label, one column per dataset; log pixel share, white = absent. */
export function coveragePng(stats: ManifestStats, cellW = 48, cellH = 6): Buffer {
  const cols = stats.datasets.length;
  const rows = stats.coverage.length;
  const png = new PNG({ width: Math.max(1, cols * cellW), height: Math.max(1, rows * cellH) });
  const totals = stats.datasets.map((_, j) => stats.coverage.reduce((s, r) => s + (r.pixels[j] ?? 0), 0));
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      const px = stats.coverage[i]?.pixels[j] ?? 0;
      const share = totals[j] ? px / (totals[j] as number) : 0;
      // log scale from 1e-6 to 1 → 0..1
      const t = share > 0 ? Math.min(1, Math.max(0.05, (Math.log10(share) + 6) / 6)) : 0;
      const rgb = share > 0 ? [Math.round(255 * (1 - t)), Math.round(120 + 60 * (1 - t)), Math.round(90 + 165 * t)] : [255, 255, 255];
      for (let y = i * cellH; y < (i + 1) * cellH; y++) {
        for (let x = j * cellW; x < (j + 1) * cellW; x++) {
          const at = (y * png.width + x) * 4;
          const edge = x % cellW === 0 || y % cellH === 0;
          png.data[at] = edge ? 230 : (rgb[0] as number);
          png.data[at + 1] = edge ? 230 : (rgb[1] as number);
          png.data[at + 2] = edge ? 230 : (rgb[2] as number);
          png.data[at + 3] = 255;
        }
      }
    }
  }
  return PNG.sync.write(png);
}

/** A self-contained page: dataset table, the coverage matrix as a picture (labels on hover), label shares. */
export function coverageHtml(stats: ManifestStats, manifest: string): string {
  const png = coveragePng(stats).toString('base64');
  const cellH = 6;
  const labelRows = stats.coverage.map((r, i) => `<div class="row" style="top:${i * cellH}px" title="${escape(r.label)}: ${r.pixels.map((p, j) => `${escape(stats.datasets[j]?.name ?? '')} ${p} px`).join(', ')}"></div>`).join('');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Manifest coverage — ${escape(manifest)}</title>
<style>body{font:14px system-ui,sans-serif;margin:24px}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px}
.m{position:relative;display:inline-block}.m img{display:block;image-rendering:pixelated}.row{position:absolute;left:0;right:0;height:${cellH}px}.row:hover{outline:1px solid #000}
.cols{display:flex}.cols span{width:48px;font-size:11px;overflow:hidden;writing-mode:vertical-rl;height:110px}</style></head><body>
<h1>Manifest coverage</h1><p><code>${escape(manifest)}</code></p>
<table><tr><th>dataset</th><th>format</th><th>images</th><th>splits</th><th>problems</th></tr>
${stats.datasets.map((d) => `<tr><td>${escape(d.name)}</td><td>${escape(d.format)}</td><td>${d.images}</td><td>${escape(Object.entries(d.splits).map(([s, n]) => `${s} ${n}`).join(', '))}</td><td>${d.problems}</td></tr>`).join('\n')}
</table>
<h2>Label × dataset coverage</h2><p>One row per label (${stats.coverage.length}), one column per dataset; colour = the label's share of the dataset's labelled pixels (log scale, blue = large), white = absent. Hover a row for its label.</p>
<div class="cols">${stats.datasets.map((d) => `<span>${escape(d.name)}</span>`).join('')}</div>
<div class="m"><img alt="coverage matrix" src="data:image/png;base64,${png}">${labelRows}</div>
<h2>Labels present</h2><table><tr><th>label</th><th>pixel share</th><th>datasets</th></tr>
${stats.labels.map((l) => `<tr><td>${escape(l.name)}</td><td>${(100 * l.share).toFixed(3)}%</td><td>${escape(l.datasets.join(', '))}</td></tr>`).join('\n')}
</table></body></html>\n`;
}
