/**
 * The demo's whole path, shortened (a small world, few steps, one seed): the same command
 * `npm run demo` runs, from raw datasets to report.html.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { HAS_TOKENIZER, REPO, SHARED, tempDir } from './utils.js';

const SENTSEG = path.join(REPO, 'packages', 'cli', 'dist', 'cli.js');
const dir = tempDir('sentseg-demo-');
const out = path.join(dir, 'demo-out');

interface Report {
  stages: { name: string; seconds: number }[];
  clip: { random: boolean };
  sentenceEncoder: { kind: string; modelId: string };
  measurements: { condition: string; seed: number; dataset: string; miou: number }[];
  runs: { condition: string; seed: number; train: { steps: number; metrics: { loss: number; hd: number | null }[] }; eval: { dataset: string; neverPredicted: string[] }[] }[];
  summary: { datasets: string[]; ordering: Record<string, { holds: boolean }> };
  merge: { datasets: { dataset: string; images: number; problems: number }[]; skipped: { dataset: string; reason: string }[] };
  labels: { name: string; description: string }[];
  predictions: { image: string; truth: string; prediction: string }[];
  similarity: { names: string[]; cosines: number[] }[];
}

let result: { code: number | null; stdout: string; stderr: string };

beforeAll(async () => {
  if (!HAS_TOKENIZER) return;
  result = await new Promise((resolve) => {
    const child = spawn(process.execPath, [SENTSEG, 'demo', '--out', out, '--shared', SHARED, '--seeds', '7', '--steps', '3', '--scale', '0.1'], { env: { ...process.env, FORCE_COLOR: '0' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}, 300_000);

describe.runIf(HAS_TOKENIZER)('sentseg demo, shortened', () => {
  it('runs every stage and prints the experiment table', () => {
    expect(result.code, result.stderr).toBe(0);
    for (const stage of ['world', 'merge', 'embed', 'train', 'eval', 'predict']) expect(result.stdout).toMatch(new RegExp(`── ${stage}: [^\\n]*\\n(.|\\n)*   ${stage} done in [\\d.]+ s`));
    expect(result.stdout).toMatch(/\(a\) city [\d.]+ ± [\d.]+ {2}ade/);
    expect(result.stdout).toMatch(/\(c\) > \(b\) > \(a\) over the mean of the datasets: (holds|does not hold)/);
    expect(result.stdout).toMatch(/report: .*report\.html/);
  });

  it('closes every SQLite file it opened: no -wal, -shm or .partial files are left in its output', () => {
    const left = (readdirSync(out, { recursive: true }) as string[]).filter((f) => /-(wal|shm|journal)$|\.partial-\d+/.test(f));
    expect(left).toEqual([]);
  });

  it('writes a report whose every picture and link is a file beside it', () => {
    const html = readFileSync(path.join(out, 'report.html'), 'utf8');
    const refs = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1] as string);
    expect(refs.length).toBeGreaterThan(10);
    for (const ref of refs) {
      expect(ref).not.toMatch(/^(https?:)?\/\//);
      expect(existsSync(path.join(out, ref)), ref).toBe(true);
    }
    expect(html).toContain('<svg');
    expect(html).toMatch(/lexical baseline/);
  });

  it('measures the three conditions on every validation split, with one-hot models blind to names they never saw', () => {
    const report = JSON.parse(readFileSync(path.join(out, 'report.json'), 'utf8')) as Report;
    expect(report.summary.datasets).toEqual(['city', 'ade', 'coco', 'heldout']);
    expect(report.measurements).toHaveLength(3 * 4);
    for (const m of report.measurements) {
      expect(m.seed).toBe(7);
      expect(m.miou).toBeGreaterThanOrEqual(0);
      expect(m.miou).toBeLessThanOrEqual(1);
    }
    for (const r of report.runs) {
      expect(r.train.metrics).toHaveLength(3);
      for (const m of r.train.metrics) expect(m.hd).toBe(m.loss);
    }
    const blind = (condition: string, dataset: string) => [...(report.runs.find((r) => r.condition === condition)?.eval.find((e) => e.dataset === dataset)?.neverPredicted ?? [])].sort();
    // (a) knows city's names (all labels.json labels) only; (b) the three training sets' names; (c) reads descriptions.
    expect(blind('a', 'heldout')).toEqual(['automobile', 'house', 'lawn', 'pedestrian', 'street', 'tree']);
    expect(blind('a', 'ade')).toEqual(['animal', 'automobile', 'grass', 'tree']);
    expect(blind('b', 'heldout')).toEqual(['house', 'lawn', 'pedestrian', 'street']);
    expect(blind('b', 'ade')).toEqual([]);
    expect(blind('c', 'heldout')).toEqual([]);
    if (report.clip.random) expect(report.sentenceEncoder.kind).toBe('lexical');
  });

  it('merges the world and the real samples, and describes every world name from WordNet', () => {
    const report = JSON.parse(readFileSync(path.join(out, 'report.json'), 'utf8')) as Report;
    const merged = new Map(report.merge.datasets.map((d) => [d.dataset, d]));
    for (const name of ['city', 'ade', 'coco', 'heldout']) expect(merged.get(name)?.problems).toBe(0);
    if (existsSync(path.join(SHARED, 'datasets', 'mseg-api-samples'))) {
      expect(merged.get('ade20k-sample')?.images).toBe(1);
      expect(report.merge.skipped.map((s) => s.dataset)).toEqual(['coco-sample']);
    }
    const described = new Map(report.labels.map((l) => [l.name, l.description]));
    expect(described.get('lawn')).toBe('An image of lawn. A field of cultivated and mowed grass.');
    expect(described.get('sky-other-merged')).toMatch(/^An image of sky-other-merged\. The atmosphere/);
    expect(report.predictions.length).toBeGreaterThan(0);
    // The lexical matrix of the world's names: symmetric, 1 on the diagonal, car and automobile close.
    const sim = report.similarity[0] as { names: string[]; cosines: number[] };
    const n = sim.names.length;
    expect(sim.cosines).toHaveLength(n * n);
    const at = (a: string, b: string) => sim.cosines[sim.names.indexOf(a) * n + sim.names.indexOf(b)] as number;
    for (const name of sim.names) expect(at(name, name)).toBeCloseTo(1, 2);
    expect(at('car', 'automobile')).toBeCloseTo(at('automobile', 'car'), 3);
    expect(at('car', 'automobile')).toBeGreaterThan(0.9);
  });
});
