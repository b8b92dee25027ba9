/**
 * The rows of one dataset being merged, written to its staging file (staging.ts) in the order of
 * its samples whatever the worker timing: `StagedRows` holds the insert statements and the counts
 * a summary and a resume carry; `writeSamples` queues each sample's check a bounded window ahead,
 * writes the results in order through its kind's writer (sample-kinds.ts), records --update's
 * unchanged images (kept in the manifest as they are), and commits the staging file every `chunk` items with how far it got.
 */
import type Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import path from 'node:path';
import type { Problem } from '../errors.js';
import type { OpenedDataset } from '../formats/types.js';
import { fullGc } from '../full-gc.js';
import { imageId } from './image-id.js';
import { boxKind, denseKind, instanceKind, type ReadSettings, type SampleKind } from './sample-kinds.js';
import type { StagedProgress, Staging } from './staging.js';

/** Items between full garbage collections (see full-gc.ts). */
const GC_EVERY = 10_000;

/** Items per staging commit: about a second of merging, so a kill loses little and commits stay cheap. */
export const DEFAULT_CHUNK = 2000;

/** An image's files as they are now (size and mtime, or missing), with what the annotation file says of it. */
function sign(files: string[], annotation: string): string {
  const parts = files.map((f) => {
    const st = statSync(f, { throwIfNoEntry: false });
    return st ? `${st.size}:${st.mtimeMs}` : '-';
  });
  const digest = annotation === '' ? '' : createHash('sha1').update(annotation).digest('base64').slice(0, 16);
  return `${parts.join(',')}${digest === '' ? '' : `#${digest}`}`;
}

/** A dataset's rows in the manifest, read by --update. */
export interface OldRows {
  /** Whether the manifest holds problem rows of the dataset (only then are kept images' files staged, to keep theirs). */
  hasProblems: boolean;
  has(id: number): boolean;
  /** The signature the image was read with, or null (not in the manifest, or every image is to be read again). */
  signature(id: number): string | null;
}

/** What the sample writers need of the dataset: its name, format, label lookup and ignored ids. */
export interface RowsContext {
  dataset: string;
  format: string;
  lut: Map<number, number>;
  ignore: Set<number>;
  /** --update: the manifest's own rows of the dataset; null otherwise. */
  old: OldRows | null;
  onProgress?: (done: number, dataset: string) => void;
}

/** One dataset's rows in its staging file, with the counts of images and problems written so far. */
export class StagedRows {
  readonly dataset: string;
  readonly format: string;
  readonly lut: Map<number, number>;
  readonly ignore: Set<number>;
  images: number;
  problems: number;
  firstProblem: Problem | undefined;
  private readonly old: OldRows | null;
  private readonly onProgress: ((done: number, dataset: string) => void) | undefined;
  private readonly insertImage: Database.Statement;
  private readonly insertLabel: Database.Statement;
  private readonly insertSegment: Database.Statement;
  private readonly insertProblem: Database.Statement;
  private readonly insertSource: Database.Statement;
  private readonly insertChanged: Database.Statement;
  private readonly insertBox: Database.Statement;
  private readonly insertInstance: Database.Statement;
  private readonly insertKept: Database.Statement;
  private readonly insertKeptFile: Database.Statement;

  constructor(sdb: Database.Database, context: RowsContext, resumed: StagedProgress | null) {
    this.dataset = context.dataset;
    this.format = context.format;
    this.lut = context.lut;
    this.ignore = context.ignore;
    this.old = context.old;
    this.onProgress = context.onProgress;
    this.images = resumed?.images ?? 0;
    this.problems = resumed?.problems ?? 0;
    this.firstProblem = resumed?.firstProblem ?? undefined;
    this.insertImage = sdb.prepare(`INSERT INTO images (id, split, image_path, mask_path, width, height) VALUES (?, ?, ?, ?, ?, ?)`);
    this.insertLabel = sdb.prepare(`INSERT INTO image_labels (image_id, label_id, pixels) VALUES (?, ?, ?)`);
    this.insertSegment = sdb.prepare(`INSERT INTO segments (image_id, segment_id, source_id) VALUES (?, ?, ?)`);
    this.insertProblem = sdb.prepare(`INSERT INTO problems (file, reason) VALUES (?, ?)`);
    this.insertSource = sdb.prepare(`INSERT INTO image_sources (image_id, signature) VALUES (?, ?)`);
    this.insertChanged = sdb.prepare(`INSERT OR IGNORE INTO changed (image_id) VALUES (?)`);
    this.insertBox = sdb.prepare(`INSERT INTO boxes (image_id, source_id, x, y, w, h) VALUES (?, ?, ?, ?, ?, ?)`);
    this.insertInstance = sdb.prepare(`INSERT INTO instance_masks (image_id, source_id, mask_path) VALUES (?, ?, ?)`);
    this.insertKept = sdb.prepare(`INSERT INTO kept (image_id) VALUES (?)`);
    this.insertKeptFile = sdb.prepare(`INSERT OR IGNORE INTO kept_files (file) VALUES (?)`);
  }

  problem(p: Problem): void {
    this.insertProblem.run(p.file, p.reason);
    this.problems += 1;
    this.firstProblem ??= p;
  }

  /** An image row with its --update signature (marked changed when the manifest held the image). */
  image(id: number, sample: { split: string; image: string }, mask: string | null, width: number, height: number, signature: string): void {
    this.insertImage.run(id, sample.split, sample.image, mask, width, height);
    this.insertSource.run(id, signature);
    if (this.old?.has(id)) this.insertChanged.run(id);
    this.images += 1;
  }

  /** Per-label pixels of an image, in label id order. */
  labels(id: number, perLabel: Map<number, number>): void {
    for (const [label, pixels] of [...perLabel].sort((a, b) => a[0] - b[0])) this.insertLabel.run(id, label, pixels);
  }

  segment(id: number, segment: number, source: number): void {
    this.insertSegment.run(id, segment, source);
  }

  box(id: number, source: number, x: number, y: number, w: number, h: number): void {
    this.insertBox.run(id, source, x, y, w, h);
  }

  instance(id: number, source: number, mask: string): void {
    this.insertInstance.run(id, source, mask);
  }

  /** Reports the images written so far. */
  progress(): void {
    this.onProgress?.(this.images, this.dataset);
  }

  /** --update: the manifest's rows of the dataset are there to keep. */
  get updating(): boolean {
    return this.old !== null;
  }

  /** True when --update finds the image `id` in the manifest with the same signature (its rows are kept). */
  unchanged(id: number, signature: string): boolean {
    return this.old !== null && this.old.signature(id) === signature;
  }

  /**
   * An unchanged image (--update): only its id and files are staged; its rows, and the problems of
   * its files, stay in the manifest as they are (the install keeps them, set-based).
   */
  keep(id: number, files: string[]): void {
    this.insertKept.run(id);
    if (this.old?.hasProblems) for (const file of files) this.insertKeptFile.run(file);
    this.images += 1;
    this.progress();
  }
}

type Entry = { problem: Problem } | { keep: number; files: string[] } | { write: () => Promise<void> };

export interface SampleWriting {
  opened: OpenedDataset;
  rows: StagedRows;
  staging: Staging;
  read: ReadSettings;
  /** Stop after this many images. */
  limit?: number;
  /** Items per staging commit. */
  chunk: number;
  /** Worker threads of the pool (the window ahead grows with them). */
  workers: number;
}

/**
 * Writes a dataset's samples into its staging file, in their order (an interrupted run's items
 * skipped), and commits it; returns the images re-read (checked, not copied).
 */
export async function writeSamples(w: SampleWriting): Promise<{ reread: number }> {
  const { rows, staging, read } = w;
  const sdb = staging.db;
  const resumed = staging.resumed;
  let items = resumed?.items ?? 0;
  let marked = items;
  let reread = 0;
  const mark = () => staging.mark({ items, images: rows.images, problems: rows.problems, firstProblem: rows.firstProblem ?? null });
  // Samples go to the pool in order; results (and listing problems) are written in the same order,
  // a bounded window ahead, so the manifest does not depend on which worker finishes first.
  // Every `chunk` items the staging file is committed with how far the sample order is written.
  const window = Math.max(8, w.workers * 8);
  const inFlight: Entry[] = [];
  const flush = async (entry: Entry) => {
    if ('problem' in entry) rows.problem(entry.problem);
    else if ('keep' in entry) rows.keep(entry.keep, entry.files);
    else await entry.write();
    items += 1;
    if (items % GC_EVERY === 0) fullGc();
    if (items - marked >= w.chunk) {
      mark();
      sdb.exec('COMMIT');
      sdb.exec('BEGIN');
      marked = items;
    }
  };
  const push = async (entry: Entry) => {
    inFlight.push(entry);
    if (inFlight.length >= window) await flush(inFlight.shift() as Entry);
  };
  /** A sample's entry: kept as it is when --update finds it unchanged, else its check started now and written in turn. */
  const entryOf = <S extends { split: string; image: string }, C>(kind: SampleKind<S, C>, sample: S): Entry => {
    const files = kind.files(sample);
    const signature = sign(files.map((f) => path.join(read.root, f)), kind.annotation(sample));
    if (rows.updating) {
      // --update: the id is hashed once, for the lookup and the kept row.
      const id = imageId(rows.dataset, sample.split, sample.image);
      if (rows.unchanged(id, signature)) return { keep: id, files };
    }
    reread += 1;
    const check = kind.check(sample, read);
    return { write: async () => kind.write(rows, sample, await check, signature) };
  };
  sdb.exec('BEGIN');
  let queued = 0;
  let seen = 0;
  const skip = resumed?.items ?? 0;
  for await (const item of w.opened.samples()) {
    if ('problem' in item) {
      if (seen++ < skip) continue;
      await push(item);
      continue;
    }
    if (w.limit !== undefined && queued >= w.limit) break;
    queued += 1;
    // Items an interrupted run already wrote to the staging file.
    if (seen++ < skip) continue;
    if ('instanceSample' in item) await push(entryOf(instanceKind, item.instanceSample));
    else if ('boxSample' in item) await push(entryOf(boxKind, item.boxSample));
    else await push(entryOf(denseKind, item.sample));
  }
  while (inFlight.length > 0) await flush(inFlight.shift() as Entry);
  mark();
  sdb.exec('COMMIT');
  return { reread };
}
