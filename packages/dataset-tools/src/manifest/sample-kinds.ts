/**
 * One sample writer per annotation kind (dense masks, instance masks, boxes): the files whose size
 * and mtime sign a sample for --update, the check that reads it (in the pool's workers or here),
 * and the rows the checked sample leaves in the staging file (staged-rows.ts).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { BoxSample, DenseSample, InstanceSample, MaskEncoding } from '../formats/types.js';
import { imageId } from './image-id.js';
import { imageSize, type InspectResult, type InstanceCheck } from './inspect.js';
import type { InspectPool } from './pool.js';
import type { StagedRows } from './staged-rows.js';

/** The label lookup's value for a class that is ignored. */
export const IGNORE = -1;

/** How the samples of one dataset are read. */
export interface ReadSettings {
  root: string;
  pool: InspectPool;
  encoding: MaskEncoding;
  /** Decode masks for per-label pixel counts (boxes: check the image header's size). */
  histograms: boolean;
}

/** What a kind of sample is to the merge: its files, its check, and the rows it writes. */
export interface SampleKind<S extends { split: string; image: string }, C> {
  /** The sample's files, relative to the dataset root (the first is the image). */
  files(sample: S): string[];
  /** What the annotation file says of the sample, part of its --update signature ('' when nothing). */
  annotation(sample: S): string;
  /** Reads the sample's files (started when it is queued, so that workers run ahead). */
  check(sample: S, read: ReadSettings): Promise<C>;
  /** Writes the checked sample's rows, or its problem. */
  write(rows: StagedRows, sample: S, check: C, signature: string): void;
}

/** Adds a class's pixels to its label's. */
function addTo(perLabel: Map<number, number>, label: number, pixels: number): void {
  perLabel.set(label, (perLabel.get(label) ?? 0) + pixels);
}

/** Dense masks: per label the pixels of its classes; ids outside the taxonomy are counted as ignored and named. */
export const denseKind: SampleKind<DenseSample, InspectResult> = {
  files: (sample) => [sample.image, sample.mask],
  annotation: (sample) => (sample.segments ? JSON.stringify(sample.segments) : ''),
  check: (sample, read) =>
    read.pool.run({
      image: path.join(read.root, sample.image),
      mask: path.join(read.root, sample.mask),
      encoding: read.encoding,
      segments: sample.segments,
      histogram: read.histograms,
    }),
  write(rows, sample, result, signature) {
    if (!result.ok) {
      rows.problem({ file: result.which === 'image' ? sample.image : sample.mask, reason: result.reason });
      return;
    }
    const id = imageId(rows.dataset, sample.split, sample.image);
    rows.image(id, sample, sample.mask, result.width, result.height, signature);
    const perLabel = new Map<number, number>();
    const unknown: string[] = [];
    for (const [source, pixels] of result.histogram) {
      const label = rows.lut.get(source);
      if (label === undefined) {
        if (!rows.ignore.has(source)) unknown.push(`${source} (${pixels} px)`);
      } else if (label !== IGNORE) addTo(perLabel, label, pixels);
    }
    rows.labels(id, perLabel);
    for (const [segment, source] of sample.segments ?? []) rows.segment(id, segment, source);
    if (unknown.length > 0) rows.problem({ file: sample.mask, reason: `ids not in the ${rows.format} taxonomy, counted as ignored: ${unknown.join(', ')}` });
    if (result.strays.length > 0) rows.problem({ file: sample.mask, reason: `segment ids missing from segments_info, counted as ignored: ${result.strays.map(([s, p]) => `${s} (${p} px)`).join(', ')}` });
    rows.progress();
  },
};

/** Instance masks: the masks of known classes, per label their pixels; an image with none of them is left out. */
export const instanceKind: SampleKind<InstanceSample, InstanceCheck> = {
  files: (sample) => [sample.image, ...sample.instances.map((i) => i.mask)],
  annotation: (sample) => JSON.stringify(sample.instances.map((i) => i.sourceId)),
  check: (sample, read) => read.pool.runInstances({ root: read.root, sample, histograms: read.histograms }),
  write(rows, sample, check, signature) {
    if (!check.ok) {
      rows.problem({ file: sample.image, reason: check.reason });
      return;
    }
    for (const p of check.problems) rows.problem(p);
    const kept = check.instances.filter((inst) => rows.lut.get(inst.sourceId) !== undefined);
    if (kept.length === 0) {
      if (check.instances.length > 0) rows.problem({ file: sample.image, reason: 'no mask of a known class' });
      return;
    }
    const id = imageId(rows.dataset, sample.split, sample.image);
    rows.image(id, sample, null, check.width, check.height, signature);
    for (const inst of kept) rows.instance(id, inst.sourceId, inst.mask);
    const perLabel = new Map<number, number>();
    for (const [source, pixels] of check.counts) {
      const label = rows.lut.get(source);
      if (label !== undefined && label !== IGNORE) addTo(perLabel, label, pixels);
    }
    rows.labels(id, perLabel);
    rows.progress();
  },
};

export type BoxCheck = { ok: true; width: number; height: number } | { ok: false; reason: string };

/** A box image exists; its size is the annotation's, checked against the header unless `verify` is off. */
async function checkBoxImage(file: string, sample: BoxSample, verify: boolean): Promise<BoxCheck> {
  if (!existsSync(file)) return { ok: false, reason: 'image missing' };
  if (!verify && sample.width && sample.height) return { ok: true, width: sample.width, height: sample.height };
  try {
    const size = await imageSize(file);
    if (sample.width && sample.height && (sample.width !== size.width || sample.height !== size.height)) {
      return { ok: false, reason: `image ${size.width}×${size.height} does not match the annotation's ${sample.width}×${sample.height}` };
    }
    return { ok: true, ...size };
  } catch (err) {
    return { ok: false, reason: `unreadable image (${(err as Error).message})` };
  }
}

/** Box-only images: boxes clipped to the image; per label the summed box area stands for its pixels. */
export const boxKind: SampleKind<BoxSample, BoxCheck> = {
  files: (sample) => [sample.image],
  annotation: (sample) => JSON.stringify([sample.width, sample.height, sample.boxes]),
  check: (sample, read) => checkBoxImage(path.join(read.root, sample.image), sample, read.histograms),
  write(rows, sample, size, signature) {
    if (!size.ok) {
      rows.problem({ file: sample.image, reason: size.reason });
      return;
    }
    const { width, height } = size;
    const id = imageId(rows.dataset, sample.split, sample.image);
    rows.image(id, sample, null, width, height, signature);
    const perLabel = new Map<number, number>();
    const unknown = new Set<number>();
    const bad: string[] = [];
    sample.boxes.forEach((b, k) => {
      const x0 = Math.max(0, b.x);
      const y0 = Math.max(0, b.y);
      const x1 = Math.min(width, b.x + b.w);
      const y1 = Math.min(height, b.y + b.h);
      if (!(x1 > x0 && y1 > y0)) {
        bad.push(`#${k} [${b.x}, ${b.y}, ${b.w}, ${b.h}]`);
        return;
      }
      const label = rows.lut.get(b.sourceId);
      if (label === undefined) {
        if (!rows.ignore.has(b.sourceId)) unknown.add(b.sourceId);
        return;
      }
      rows.box(id, b.sourceId, x0, y0, x1 - x0, y1 - y0);
      if (label !== IGNORE) addTo(perLabel, label, Math.round((x1 - x0) * (y1 - y0)));
    });
    rows.labels(id, perLabel);
    if (bad.length > 0) rows.problem({ file: sample.image, reason: `boxes empty after clipping to ${width}×${height}, skipped: ${bad.join(', ')}` });
    if (unknown.size > 0) rows.problem({ file: sample.image, reason: `category ids not in the ${rows.format} taxonomy, boxes skipped: ${[...unknown].join(', ')}` });
    rows.progress();
  },
};
