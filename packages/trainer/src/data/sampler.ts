/**
 * Dataset-balanced batches (the paper's recipe): every batch holds ⌊B/K⌋ images of each of the K
 * datasets, and the B mod K extra places rotate over the datasets from step to step. Each
 * dataset is read in a fresh seeded permutation per epoch of its own. The batch of step t is a
 * pure function of (seed, t): a resumed run draws exactly what an uninterrupted one would have.
 */
import { seededRandom } from '@sentseg/common';

export interface SamplerDataset {
  name: string;
  /** Image ids of the training split, in a stable order. */
  ids: number[];
}

export interface BatchItem {
  dataset: string;
  imageId: number;
  /** Position in the batch: with the step and the seed, it seeds this image's augmentation. */
  slot: number;
}

/** Mixes integers into one 32-bit seed (for per-epoch permutations and per-image augmentation). */
export function mixSeed(...parts: number[]): number {
  let h = 0x811c9dc5;
  for (const p of parts) {
    h = Math.imul(h ^ (p >>> 0), 0x01000193) >>> 0;
    h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d) >>> 0;
    h = (h ^ (h >>> 12)) >>> 0;
  }
  return h;
}

export class BalancedSampler {
  private readonly datasets: SamplerDataset[];
  private readonly batchSize: number;
  private readonly seed: number;
  private readonly permutations = new Map<string, { epoch: number; order: number[] }>();

  constructor(datasets: SamplerDataset[], batchSize: number, seed: number) {
    const empty = datasets.filter((d) => d.ids.length === 0).map((d) => d.name);
    if (datasets.length === 0) throw new Error('no datasets to sample from');
    if (empty.length > 0) throw new Error(`no training images in dataset ${empty.join(', ')}`);
    this.datasets = datasets;
    this.batchSize = batchSize;
    this.seed = seed;
  }

  /** Images dataset d contributes to step t. */
  share(d: number, step: number): number {
    const k = this.datasets.length;
    const extra = this.batchSize % k;
    return Math.floor(this.batchSize / k) + ((d - (step % k) + k) % k < extra ? 1 : 0);
  }

  /** Images dataset d has contributed before step t. */
  consumedBefore(d: number, step: number): number {
    const k = this.datasets.length;
    const extra = this.batchSize % k;
    let count = Math.floor(this.batchSize / k) * step + Math.floor(step / k) * extra;
    for (let s = Math.floor(step / k) * k; s < step; s++) if ((d - (s % k) + k) % k < extra) count += 1;
    return count;
  }

  private order(d: number, epoch: number): number[] {
    const ds = this.datasets[d] as SamplerDataset;
    const cached = this.permutations.get(ds.name);
    if (cached && cached.epoch === epoch) return cached.order;
    const order = ds.ids.slice();
    const random = seededRandom(mixSeed(this.seed, d, epoch));
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [order[i], order[j]] = [order[j] as number, order[i] as number];
    }
    this.permutations.set(ds.name, { epoch, order });
    return order;
  }

  batch(step: number): BatchItem[] {
    const items: BatchItem[] = [];
    this.datasets.forEach((ds, d) => {
      const start = this.consumedBefore(d, step);
      const n = this.share(d, step);
      for (let i = 0; i < n; i++) {
        const index = start + i;
        const order = this.order(d, Math.floor(index / ds.ids.length));
        items.push({ dataset: ds.name, imageId: order[index % ds.ids.length] as number, slot: items.length });
      }
    });
    return items;
  }
}
