/**
 * The demo's experiment in miniature (the paper's Table 3 idea): the same model and budget trained
 * (a) on one dataset with one-hot labels, (b) on the merged datasets with one-hot labels after
 * naive name matching, (c) on the merged datasets with sentence embeddings; mIoU of each on every
 * dataset's validation split, over several seeds. Pure functions over the measured values.
 */

export type Condition = 'a' | 'b' | 'c';
export const CONDITIONS: Condition[] = ['a', 'b', 'c'];

export interface Measurement {
  condition: Condition;
  seed: number;
  dataset: string;
  miou: number;
}

export interface Spread {
  mean: number;
  /** Sample standard deviation (n − 1); 0 for one value. */
  std: number;
  min: number;
  max: number;
  n: number;
}

export function spread(values: number[]): Spread {
  const n = values.length;
  if (n === 0) return { mean: Number.NaN, std: Number.NaN, min: Number.NaN, max: Number.NaN, n: 0 };
  const mean = values.reduce((s, v) => s + v, 0) / n;
  const std = n > 1 ? Math.sqrt(values.reduce((s, v) => s + (v - mean) ** 2, 0) / (n - 1)) : 0;
  return { mean, std, min: Math.min(...values), max: Math.max(...values), n };
}

export interface ExperimentSummary {
  datasets: string[];
  seeds: number[];
  /** condition → dataset → spread of mIoU over seeds. */
  cells: Record<Condition, Record<string, Spread>>;
  /** condition → spread over seeds of the mean mIoU across datasets. */
  overall: Record<Condition, Spread>;
  /** Per dataset and overall: does mean(c) > mean(b) > mean(a) hold? */
  ordering: Record<string, { cOverB: boolean; bOverA: boolean; holds: boolean }>;
}

export function summarizeExperiment(measurements: Measurement[], datasets: string[]): ExperimentSummary {
  const seeds = [...new Set(measurements.map((m) => m.seed))].sort((x, y) => x - y);
  const pick = (c: Condition, d: string) => measurements.filter((m) => m.condition === c && m.dataset === d).sort((x, y) => x.seed - y.seed).map((m) => m.miou);
  const cells = {} as Record<Condition, Record<string, Spread>>;
  const overall = {} as Record<Condition, Spread>;
  for (const c of CONDITIONS) {
    cells[c] = Object.fromEntries(datasets.map((d) => [d, spread(pick(c, d))]));
    const perSeed = seeds
      .map((s) => datasets.map((d) => measurements.find((m) => m.condition === c && m.dataset === d && m.seed === s)?.miou))
      .filter((row): row is number[] => row.every((v) => v !== undefined))
      .map((row) => row.reduce((sum, v) => sum + v, 0) / row.length);
    overall[c] = spread(perSeed);
  }
  const order = (a: Spread, b: Spread, c: Spread) => ({ cOverB: c.mean > b.mean, bOverA: b.mean > a.mean, holds: c.mean > b.mean && b.mean > a.mean });
  const ordering: ExperimentSummary['ordering'] = Object.fromEntries(datasets.map((d) => [d, order(cells.a[d] as Spread, cells.b[d] as Spread, cells.c[d] as Spread)]));
  ordering['mean over datasets'] = order(overall.a, overall.b, overall.c);
  return { datasets, seeds, cells, overall, ordering };
}

/** "41.3 ± 2.1" in percent. */
export function formatSpread(s: Spread): string {
  if (s.n === 0) return '–';
  return `${(s.mean * 100).toFixed(1)} ± ${(s.std * 100).toFixed(1)}`;
}

/** Where the pixel losses are taken (the trainer's losses.resolution). */
export type LossResolution = 'output' | 'label';

export interface ResolutionRun {
  resolution: LossResolution;
  seed: number;
  /** mIoU per validation dataset. */
  miou: Record<string, number>;
  /** Seconds of every training step of the run. */
  stepSeconds: number[];
}

export interface ResolutionComparison {
  resolution: LossResolution;
  /** Spread over seeds of the mean mIoU across datasets. */
  overall: Spread;
  perDataset: Record<string, Spread>;
  /** Median step time over every step of every seed (one demo run: the same machine load). */
  medianStepSeconds: number;
  /** medianStepSeconds over the first resolution's. */
  stepRatio: number;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length === 0 ? Number.NaN : sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/**
 * The same condition trained at each loss resolution: mIoU (mean ± std over seeds) and the
 * median step time, in the order the resolutions first appear; the ratio is against the first.
 */
export function compareResolutions(runs: ResolutionRun[], datasets: string[]): ResolutionComparison[] {
  const order = [...new Set(runs.map((r) => r.resolution))];
  const rows = order.map((resolution) => {
    const mine = runs.filter((r) => r.resolution === resolution);
    const perDataset = Object.fromEntries(datasets.map((d) => [d, spread(mine.map((r) => r.miou[d]).filter((v): v is number => v !== undefined))]));
    const overall = spread(mine.map((r) => datasets.reduce((s, d) => s + (r.miou[d] ?? Number.NaN), 0) / datasets.length));
    return { resolution, overall, perDataset, medianStepSeconds: median(mine.flatMap((r) => r.stepSeconds)), stepRatio: 1 };
  });
  const base = rows[0]?.medianStepSeconds ?? Number.NaN;
  for (const r of rows) r.stepRatio = r.medianStepSeconds / base;
  return rows;
}
