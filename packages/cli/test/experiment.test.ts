import { describe, expect, it } from 'vitest';
import { compareResolutions, formatSpread, spread, summarizeExperiment, type Measurement } from '../src/demo/experiment.js';
import { lineChartSvg, meanCurve, smooth, type ReportData } from '../src/demo/report.js';

describe('experiment summary', () => {
  it('gives mean, sample standard deviation and range', () => {
    // 0.2, 0.4, 0.6: mean 0.4, deviations ±0.2 → variance (0.04 + 0 + 0.04) / 2 = 0.04, std 0.2.
    const s = spread([0.2, 0.4, 0.6]);
    expect(s.mean).toBeCloseTo(0.4, 12);
    expect(s.std).toBeCloseTo(0.2, 12);
    expect([s.min, s.max, s.n]).toEqual([0.2, 0.6, 3]);
    expect(spread([0.5])).toEqual({ mean: 0.5, std: 0, min: 0.5, max: 0.5, n: 1 });
    expect(formatSpread(s)).toBe('40.0 ± 20.0');
    expect(formatSpread(spread([]))).toBe('–');
  });

  it('compares loss resolutions: mIoU over seeds and the median step time against the first', () => {
    const c = compareResolutions(
      [
        { resolution: 'output', seed: 1, miou: { x: 0.2, y: 0.4 }, stepSeconds: [1, 3, 2] },
        { resolution: 'label', seed: 1, miou: { x: 0.3, y: 0.5 }, stepSeconds: [5, 4] },
        { resolution: 'output', seed: 2, miou: { x: 0.4, y: 0.6 }, stepSeconds: [2, 2] },
        { resolution: 'label', seed: 2, miou: { x: 0.3, y: 0.7 }, stepSeconds: [3, 6] },
      ],
      ['x', 'y'],
    );
    expect(c.map((r) => r.resolution)).toEqual(['output', 'label']);
    // output: per-seed means 0.3, 0.5; steps 1 2 2 2 3 → median 2. label: 0.4, 0.5; steps 3 4 5 6 → 4.5.
    expect(c[0]?.overall.mean).toBeCloseTo(0.4, 12);
    expect(c[1]?.overall.mean).toBeCloseTo(0.45, 12);
    expect(c[1]?.perDataset.y?.mean).toBeCloseTo(0.6, 12);
    expect([c[0]?.medianStepSeconds, c[1]?.medianStepSeconds]).toEqual([2, 4.5]);
    expect([c[0]?.stepRatio, c[1]?.stepRatio]).toEqual([1, 2.25]);
  });

  it('averages over seeds per dataset and over datasets per seed, and checks (c) > (b) > (a)', () => {
    const m: Measurement[] = [];
    const put = (condition: 'a' | 'b' | 'c', seed: number, x: number, y: number) => m.push({ condition, seed, dataset: 'x', miou: x }, { condition, seed, dataset: 'y', miou: y });
    put('a', 1, 0.3, 0.1);
    put('a', 2, 0.5, 0.1);
    put('b', 1, 0.4, 0.2);
    put('b', 2, 0.4, 0.4);
    put('c', 1, 0.35, 0.5);
    put('c', 2, 0.45, 0.7);
    const s = summarizeExperiment(m, ['x', 'y']);
    expect(s.seeds).toEqual([1, 2]);
    expect(s.cells.a.x?.mean).toBeCloseTo(0.4, 12);
    expect(s.cells.a.x?.std).toBeCloseTo(Math.SQRT2 * 0.1, 12);
    // Per-seed means over datasets: a 0.2, 0.3; b 0.3, 0.4; c 0.425, 0.575.
    expect(s.overall.a.mean).toBeCloseTo(0.25, 12);
    expect(s.overall.b.mean).toBeCloseTo(0.35, 12);
    expect(s.overall.c.mean).toBeCloseTo(0.5, 12);
    expect(s.overall.c.std).toBeCloseTo(Math.SQRT2 * 0.075, 12);
    expect(s.ordering['mean over datasets']).toEqual({ cOverB: true, bOverA: true, holds: true });
    // On x alone: a 0.4, b 0.4, c 0.4 — no strict order.
    expect(s.ordering.x).toEqual({ cOverB: false, bOverA: false, holds: false });
    expect(s.ordering.y).toEqual({ cOverB: true, bOverA: true, holds: true });
  });

  it('leaves a seed out of the overall mean when one of its datasets is missing', () => {
    const m: Measurement[] = [
      { condition: 'a', seed: 1, dataset: 'x', miou: 0.2 },
      { condition: 'a', seed: 1, dataset: 'y', miou: 0.4 },
      { condition: 'a', seed: 2, dataset: 'x', miou: 0.9 },
    ];
    const s = summarizeExperiment(m, ['x', 'y']);
    expect(s.overall.a).toMatchObject({ n: 1 });
    expect(s.overall.a.mean).toBeCloseTo(0.3, 12);
  });
});

describe('report charts', () => {
  const metrics = (losses: number[]) => losses.map((loss, i) => ({ step: i + 1, loss, hd: loss, ld: null, wd: null, tau: 0.07, lr: 0.001, imagesPerSec: 10, stepSeconds: 0.1 }));
  const runs = [
    { condition: 'c' as const, seed: 1, run: 'r1', eval: [], train: { kind: 'train' as const, seconds: 1, steps: 3, backend: 'wasm', metrics: metrics([3, 2, 1]) } },
    { condition: 'c' as const, seed: 2, run: 'r2', eval: [], train: { kind: 'train' as const, seconds: 1, steps: 3, backend: 'wasm', metrics: metrics([5, 4, 3]) } },
  ] as ReportData['runs'];

  it('averages a curve over seeds step by step and smooths it with a trailing window', () => {
    expect(meanCurve(runs, 'c', (x) => x.loss)).toEqual([[1, 4], [2, 3], [3, 2]]);
    expect(meanCurve(runs, 'a', (x) => x.loss)).toEqual([]);
    expect(smooth([[1, 4], [2, 3], [3, 2]], 2)).toEqual([[1, 4], [2, 3.5], [3, 2.5]]);
  });

  it('draws one path per series inside the plot area, with the legend names escaped', () => {
    const svg = lineChartSvg([{ name: 'a<b', colour: '#f00', points: [[0, 0], [10, 1]] }, { name: 'c', colour: '#00f', points: [[0, 1], [10, 0]] }], { title: 'T', xLabel: 'step', yLabel: 'L', width: 200, height: 100 });
    expect(svg.match(/<path /g)?.length).toBe(2);
    expect(svg).toContain('a&#60;b');
    const coords = [...svg.matchAll(/[ML](-?[\d.]+),(-?[\d.]+)/g)].map((m) => [Number(m[1]), Number(m[2])]);
    for (const [x, y] of coords) {
      expect(x).toBeGreaterThanOrEqual(0);
      expect(x).toBeLessThanOrEqual(200);
      expect(y).toBeGreaterThanOrEqual(0);
      expect(y).toBeLessThanOrEqual(100);
    }
    expect(lineChartSvg([], { title: 'empty', xLabel: '', yLabel: '' })).toContain('no data');
  });
});
