import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PNG } from 'pngjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { embedLabels } from '../src/embed.js';
import { loadClipTextEncoder } from '../src/clip/text.js';
import { writeTinyClipTextModel } from '../src/clip/tiny-text.js';
import { LabelBankError } from '../src/errors.js';
import { readReferenceFile } from '../src/reference/reference-file.js';
import { heatmapPng, NO_VALUE_GREY, viridis } from '../src/report/heatmap.js';
import { escapeHtml } from '../src/report/html.js';
import { writeSimilarityReport } from '../src/report/index.js';
import { blockScore, cosineMatrix, groupOrder } from '../src/report/similarity.js';
import { labelText, LabelBank } from '../src/store/bank.js';
import { HAS_TOKENIZER, tempDir, TOKENIZER_JSON } from '../../../tests/utils.js';

/** Pixels darker than mid-grey in [x0, x1) × [y0, y1): text drawn on the white margins. */
function darkPixels(png: PNG, r: { x0: number; x1: number; y0: number; y1: number }): number {
  let n = 0;
  for (let y = Math.max(0, r.y0); y < Math.min(png.height, r.y1); y++) {
    for (let x = Math.max(0, r.x0); x < Math.min(png.width, r.x1); x++) {
      const o = 4 * (y * png.width + x);
      if (0.299 * png.data[o]! + 0.587 * png.data[o + 1]! + 0.114 * png.data[o + 2]! < 110) n += 1;
    }
  }
  return n;
}

const pixelAt = (png: PNG, x: number, y: number) => Array.from(png.data.subarray(4 * (y * png.width + x), 4 * (y * png.width + x) + 3));

describe('similarity maths (hand-computed)', () => {
  it('block score = mean within-group cosine − mean across-group cosine, diagonal left out', () => {
    const sim = Float32Array.from([1, 0.8, 0.1, 0.8, 1, 0.3, 0.1, 0.3, 1]);
    const s = blockScore(sim, ['a', 'a', 'b']);
    expect(s.within).toBeCloseTo(0.8, 6); // (0,1) and (1,0)
    expect(s.across).toBeCloseTo(0.2, 6); // 0.1, 0.1, 0.3, 0.3
    expect(s.score).toBeCloseTo(0.6, 6);
  });

  it('cosine matrix of rows in a given order, normalising the rows', () => {
    const m = cosineMatrix(Float32Array.from([3, 4, 4, 3, 0, 2]), 2, [1, 0, 2]);
    // rows: [4,3], [3,4], [0,2]: cos = 24/25, 6/10, 8/10
    expect(Array.from(m).map((v) => Math.round(v * 1000) / 1000)).toEqual([1, 0.96, 0.6, 0.96, 1, 0.8, 0.6, 0.8, 1]);
  });

  it('orders rows by group, unknown groups last, ids within a group', () => {
    expect(groupOrder(['b', 'a', 'b', 'c', 'a'], ['a', 'b'])).toEqual([1, 4, 0, 2, 3]);
  });

  it('draws an n × n heatmap with cells of the given size and white group lines', () => {
    const png = PNG.sync.read(heatmapPng(Float32Array.from([1, 0, 0, 1]), 2, { cellPx: 4, min: 0, max: 1, boundaries: [1] }));
    expect([png.width, png.height]).toEqual([8, 8]);
    const px = (x: number, y: number) => Array.from(png.data.subarray((y * 8 + x) * 4, (y * 8 + x) * 4 + 3));
    expect(px(1, 1)).toEqual(viridis(1));
    expect(px(5, 1)).toEqual(viridis(0));
    expect(px(4, 1)).toEqual([255, 255, 255]);
  });

  it('escapes HTML', () => {
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  });
});

describe.runIf(HAS_TOKENIZER)('label-bank report', () => {
  const dir = tempDir();
  let bank: LabelBank;
  beforeAll(async () => {
    const model = path.join(dir, 'tiny');
    writeTinyClipTextModel(model, { tokenizerJson: TOKENIZER_JSON, seed: 5 });
    bank = LabelBank.open(path.join(dir, 'bank.sqlite'));
    bank.addLabel({ name: '<img src=x onerror=alert(1)>', group: '<b>odd</b>', description: 'An image of a thing. A thing.', source: 'manual' });
    const encoder = await loadClipTextEncoder(model);
    await embedLabels(bank, encoder);
    await encoder.dispose();
  });

  it('writes both heatmaps, the block scores and one self-contained HTML page', async () => {
    const out = path.join(dir, 'report');
    const report = await writeSimilarityReport(bank, { outDir: out, cellPx: 3 });
    expect(report.labels).toBe(239);
    const html0 = readFileSync(report.files.html, 'utf8');
    const data = JSON.parse(/const DATA = (.*);\n/.exec(html0)?.[1] ?? 'null') as { groups: string[]; geometry: { left: number; top: number; cellPx: number; n: number; width: number; height: number }[] };
    for (const [k, kind] of (['word', 'sentence'] as const).entries()) {
      const png = PNG.sync.read(readFileSync(report.files.png[kind]));
      // Where the page's hover code finds the cells: 239 × 3 px, inside margins.
      const g = data.geometry[k]!;
      expect([g.n, g.cellPx, g.width, g.height]).toEqual([239, 3, png.width, png.height]);
      const side = g.n * g.cellPx;
      // Every group is named beside its rows (left) and below its columns (labels are ordered by group).
      const runs = data.groups.flatMap((grp, i) => (i === 0 || grp !== data.groups[i - 1] ? [i] : [])).map((start, r, all) => [start, all[r + 1] ?? data.groups.length] as const);
      expect(runs).toHaveLength(20);
      for (const [start, end] of runs) {
        const mid = g.top + Math.round(((start + end) / 2) * g.cellPx);
        expect(darkPixels(png, { x0: 0, x1: g.left - 6, y0: mid - 3, y1: mid + 3 }), `row name of group at ${start}`).toBeGreaterThan(5);
        const midX = g.left + Math.round(((start + end) / 2) * g.cellPx);
        expect(darkPixels(png, { x0: midX - 3, x1: midX + 3, y0: g.top + side + 6, y1: png.height }), `column name of group at ${start}`).toBeGreaterThan(5);
      }
      // A title of three lines above the cells (what, encoder and block score, label and group counts).
      const lines = new Set<number>();
      for (let y = 0; y < g.top - 2; y++) if (darkPixels(png, { x0: 0, x1: g.left + side, y0: y, y1: y + 1 }) > 0) lines.add(y);
      expect([...lines].filter((y) => !lines.has(y - 1))).toHaveLength(3);
      // A colour bar right of the cells: viridis from the top (cosine 1) to the bottom (the lowest cosine), values beside it.
      let bar = g.left + side + 2;
      while (bar < png.width && pixelAt(png, bar, g.top + (side >> 1)).join() === '255,255,255') bar += 1;
      const near = (a: number[], b: number[]) => Math.max(...a.map((v, c) => Math.abs(v - b[c]!)));
      expect(near(pixelAt(png, bar + 6, g.top + 1), viridis(1))).toBeLessThanOrEqual(3);
      expect(near(pixelAt(png, bar + 6, g.top + side - 2), viridis(0))).toBeLessThanOrEqual(3);
      expect(darkPixels(png, { x0: bar + 20, x1: png.width, y0: g.top - 6, y1: g.top + side + 6 })).toBeGreaterThan(100);
    }
    const json = JSON.parse(readFileSync(report.files.json, 'utf8')) as { scores: typeof report.scores; order: string[]; groups: string[] };
    expect(json.scores).toEqual(report.scores);
    // Rows are ordered by group: each group's labels are contiguous.
    const runs = json.groups.filter((g, i) => i === 0 || g !== json.groups[i - 1]);
    expect(new Set(runs).size).toBe(runs.length);
    expect(json.order.at(-1)).toBe('<img src=x onerror=alert(1)>');

    const html = readFileSync(report.files.html, 'utf8');
    expect(html).toContain('data:image/png;base64,');
    expect(html).not.toMatch(/<img src=x/);
    expect(html).not.toContain('<b>odd</b>');
    expect(html).toContain('&lt;b&gt;odd&lt;/b&gt;');
    expect(html).toContain('\\u003cimg src=x onerror=alert(1)\\u003e');
    expect(html).toMatch(/random weights/);
    expect(html).not.toMatch(/src="https?:/);
  });

  it('recomputes the printed block scores from the bank\'s own embeddings', async () => {
    const report = await writeSimilarityReport(bank, { outDir: path.join(dir, 'report2') });
    const labels = bank.labels();
    const order = groupOrder(labels.map((l) => l.group), JSON.parse(readFileSync(path.join(dir, 'report', 'block-scores.json'), 'utf8')).groups);
    const matrix = bank.embeddingMatrix('sentence');
    // Mean over same-group pairs, by brute force over the raw vectors.
    let within = 0;
    let wn = 0;
    let across = 0;
    let an = 0;
    for (const i of order) {
      for (const j of order) {
        if (i === j) continue;
        let dot = 0;
        for (let k = 0; k < matrix.dim; k++) dot += matrix.data[i * matrix.dim + k]! * matrix.data[j * matrix.dim + k]!;
        if (labels[i]!.group === labels[j]!.group) {
          within += dot;
          wn += 1;
        } else {
          across += dot;
          an += 1;
        }
      }
    }
    expect(report.scores.sentence.within).toBeCloseTo(within / wn, 4);
    expect(report.scores.sentence.across).toBeCloseTo(across / an, 4);
  });

  it('with a reference: its matrix on the same rows (grey where it has no vector) and each encoder\'s agreement with it', async () => {
    // A reference of the bank's own word vectors for 12 labels: the encoder must agree with it fully.
    const modelId = bank.models()[0]!.modelId;
    const covered = bank.labels().filter((l) => l.id % 20 === 3).slice(0, 12);
    const vectors = Object.fromEntries(covered.map((l) => [l.name, { vector: Array.from(bank.embedding(modelId, labelText(l, 'word'))!) }]));
    const file = path.join(dir, 'own-reference.json');
    writeFileSync(file, JSON.stringify({ prompt: 'An image of {name}.', labels: vectors }));
    const out = path.join(dir, 'report-ref');
    const report = await writeSimilarityReport(bank, { outDir: out, reference: readReferenceFile(file) });
    expect(report.reference).toMatchObject({ covered: 12, prompt: 'An image of {name}.' });
    const word = report.reference!.agreements.find((a) => a.kind === 'word')!;
    expect(word).toMatchObject({ modelId, labels: 12, sameNearest: 12 });
    expect(word.spearman).toBeCloseTo(1, 5);
    const sentence = report.reference!.agreements.find((a) => a.kind === 'sentence')!;
    expect(sentence.labels).toBe(12);
    expect(sentence.spearman).toBeLessThan(0.999); // sentence texts are other texts
    const json = JSON.parse(readFileSync(report.files.json, 'utf8')) as { order: string[]; reference: { covered: number } };
    expect(json.reference.covered).toBe(12);

    const html = readFileSync(report.files.html, 'utf8');
    expect(html).toContain('Agreement with the reference, own-reference.json (word level)');
    const data = JSON.parse(/const DATA = (.*);\n/.exec(html)?.[1] ?? 'null') as { matrices: (number | null)[][]; geometry: { left: number; top: number; cellPx: number; n: number }[] };
    expect(data.matrices).toHaveLength(3);
    const png = PNG.sync.read(readFileSync(report.files.png.reference!));
    const g = data.geometry[2]!;
    const rowOf = (name: string) => json.order.indexOf(name);
    const cellCentre = (i: number, j: number) => [g.left + j * g.cellPx + 1, g.top + i * g.cellPx + 1] as const;
    const a = rowOf(covered[0]!.name);
    const b = rowOf(covered[1]!.name);
    const none = json.order.findIndex((n) => !(n in vectors));
    // A covered pair is coloured from the reference; a label without a reference vector is grey.
    expect(pixelAt(png, ...cellCentre(a, b))).not.toEqual(NO_VALUE_GREY);
    expect(data.matrices[2]![a * g.n + b]).toBeCloseTo(data.matrices[0]![a * g.n + b]!, 2);
    expect(pixelAt(png, ...cellCentre(none, a))).toEqual(NO_VALUE_GREY);
    expect(data.matrices[2]![none * g.n + a]).toBeNull();
    // Its title has three lines, as the other figures.
    const side = g.n * g.cellPx;
    const lines = new Set<number>();
    for (let y = 0; y < g.top - 2; y++) if (darkPixels(png, { x0: 0, x1: g.left + side, y0: y, y1: y + 1 }) > 0) lines.add(y);
    expect([...lines].filter((y) => !lines.has(y - 1))).toHaveLength(3);
  });

  it('refuses a reference that covers none of the bank\'s labels before writing anything', async () => {
    const file = path.join(dir, 'other-labels.json');
    writeFileSync(file, JSON.stringify({ labels: { 'no such label': { vector: [1, 0] }, 'nor this': { vector: [0, 1] } } }));
    const out = path.join(dir, 'report-none');
    const run = writeSimilarityReport(bank, { outDir: out, reference: readReferenceFile(file) });
    await expect(run).rejects.toBeInstanceOf(LabelBankError);
    await expect(run).rejects.toThrow(/other-labels\.json: no label overlaps the bank's 239 \(the reference names no such label, nor this\)/);
    expect(existsSync(out)).toBe(false);
  });
});
