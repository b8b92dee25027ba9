/**
 * Turns sampler batches into tensors' worth of pixels: builds each image's load task from the
 * manifest, runs the tasks on worker threads, and keeps `prefetch` batches in flight ahead of
 * the step the model is on. Images that cannot be read are dropped from their batch, counted
 * and reported, never fatal.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { ManifestReader, MaskEncodingKind } from '@sentseg/dataset-tools';
import type { AugmentConfig } from './augment.js';
import { loadSample, type LoadResult, type LoadTask, type LoadedBox } from './load-sample.js';
import { mixSeed, type BalancedSampler } from './sampler.js';

export type AnnotationKind = 'dense' | 'instance-masks' | 'boxes';

export interface LoaderDataset {
  name: string;
  annotation: AnnotationKind;
  encoding: MaskEncodingKind;
  lut: Int32Array;
}

export interface LoadedImage {
  dataset: string;
  annotation: AnnotationKind;
  imageId: number;
  pixels: Float32Array;
  target: Int32Array;
  boxes: LoadedBox[];
  /** Boxes left out because the crop cut them under minBoxVisible of their area. */
  boxesCut: number;
}

export interface LoadedBatch {
  step: number;
  images: LoadedImage[];
  /** Unreadable samples; kind `labels`: a mask with ids that are neither a label nor ignored. */
  failures: { dataset: string; file: string; reason: string; kind?: 'labels' }[];
}

function workerFile(): string {
  const here = fileURLToPath(import.meta.url);
  const sibling = here.replace(/loader\.(ts|js)$/, 'load-worker.js');
  if (existsSync(sibling)) return sibling;
  // Tests run the TypeScript sources; the worker runs the compiled file.
  return here.replace(/[\\/]src[\\/]data[\\/]loader\.ts$/, '/dist/data/load-worker.js');
}

class WorkerPool {
  private readonly workers: { worker: Worker; busy: number }[] = [];
  private readonly pending = new Map<number, { resolve: (r: LoadResult) => void; task: LoadTask }>();
  private nextId = 0;

  constructor(size: number) {
    for (let i = 0; i < size; i++) {
      const worker = new Worker(workerFile());
      const slot = { worker, busy: 0 };
      worker.on('message', (m: { id: number; result: LoadResult }) => {
        slot.busy -= 1;
        this.pending.get(m.id)?.resolve(m.result);
        this.pending.delete(m.id);
      });
      worker.on('error', (err) => {
        for (const [id, p] of this.pending) {
          p.resolve({ ok: false, imageId: p.task.imageId, dataset: p.task.dataset, file: p.task.image, reason: `loader worker failed: ${err.message}` });
          this.pending.delete(id);
        }
      });
      this.workers.push(slot);
    }
  }

  run(task: LoadTask): Promise<LoadResult> {
    if (this.workers.length === 0) return loadSample(task);
    const slot = this.workers.reduce((a, b) => (b.busy < a.busy ? b : a));
    slot.busy += 1;
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.pending.set(id, { resolve, task });
      slot.worker.postMessage({ id, task });
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.worker.terminate()));
  }
}

export interface LoaderOptions {
  reader: ManifestReader;
  sampler: BalancedSampler;
  datasets: LoaderDataset[];
  augment: AugmentConfig;
  /** Box datasets: boxes under this visible share of their area in the crop are dropped. */
  minBoxVisible: number;
  /** Labels of the manifest (label ids at or past it are no label). */
  numLabels: number;
  seed: number;
  workers: number;
  prefetch: number;
  /** Last step that will be asked for (nothing is loaded past it). */
  lastStep: number;
}

export class BatchLoader {
  private readonly pool: WorkerPool;
  private readonly inFlight = new Map<number, Promise<LoadedBatch>>();
  private readonly byName: Map<string, LoaderDataset>;

  constructor(private readonly options: LoaderOptions) {
    this.pool = new WorkerPool(options.workers);
    this.byName = new Map(options.datasets.map((d) => [d.name, d]));
  }

  /** The task of one batch item: everything a worker needs, no database handle. */
  private task(step: number, item: { dataset: string; imageId: number; slot: number }): LoadTask {
    const { reader } = this.options;
    const ds = this.byName.get(item.dataset);
    const sample = reader.sample(item.imageId);
    if (!ds || !sample) throw new Error(`image ${item.imageId} of ${item.dataset} is not in the manifest`);
    return {
      dataset: ds.name,
      imageId: item.imageId,
      image: sample.image,
      mask: ds.annotation === 'dense' ? sample.mask : null,
      encoding: ds.encoding,
      segments: ds.encoding === 'panoptic-rgb' ? [...reader.segments(item.imageId)] : [],
      lut: ds.lut,
      numLabels: this.options.numLabels,
      instances: ds.annotation === 'instance-masks' ? reader.instanceMasks(item.imageId, ds.name).map((m) => ({ mask: m.mask, sourceId: m.sourceId })) : [],
      boxes: ds.annotation === 'boxes' ? reader.boxes(item.imageId) : [],
      augment: this.options.augment,
      minBoxVisible: this.options.minBoxVisible,
      seed: mixSeed(this.options.seed, step, item.slot, 0x5eed),
    };
  }

  private start(step: number): Promise<LoadedBatch> {
    const items = this.options.sampler.batch(step);
    const tasks = items.map((item) => this.task(step, item));
    return Promise.all(tasks.map((t) => this.pool.run(t))).then((results) => {
      const batch: LoadedBatch = { step, images: [], failures: [] };
      for (const r of results) {
        if (r.ok) {
          const ds = this.byName.get(r.dataset) as LoaderDataset;
          batch.images.push({ dataset: r.dataset, annotation: ds.annotation, imageId: r.imageId, pixels: r.pixels, target: r.target, boxes: r.boxes, boxesCut: r.boxesCut });
        } else {
          batch.failures.push({ dataset: r.dataset, file: r.file, reason: r.reason, ...(r.kind ? { kind: r.kind } : {}) });
        }
      }
      return batch;
    });
  }

  /** The batch of `step`; starts loading the following ones. */
  async batch(step: number): Promise<LoadedBatch> {
    for (let s = step; s < Math.min(step + 1 + this.options.prefetch, this.options.lastStep + 1); s++) {
      if (!this.inFlight.has(s)) this.inFlight.set(s, this.start(s));
    }
    const pending = this.inFlight.get(step) ?? this.start(step);
    this.inFlight.delete(step);
    return pending;
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.inFlight.values());
    this.inFlight.clear();
    await this.pool.close();
  }
}
