import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { existsSync, renameSync } from 'node:fs';
import path from 'node:path';
import { sqliteKindMismatch } from '@sentseg/common';
import { DatasetError, type Problem } from '../errors.js';
import type { BoxSample, DenseSample, InstanceSample, OpenedDataset } from '../formats/types.js';
import { imageSize } from './inspect.js';
import { partialPath, removeStalePartials, removeWithSidecars } from './partial.js';
import { MANIFEST_SCHEMA_VERSION, MANIFEST_SQL } from './schema.js';
import type { InspectResult, InstanceCheck } from './inspect.js';
import { InspectPool } from './pool.js';

/** Stable image id: 52 bits of sha256(dataset, split, image path). Same input, same id. */
export function imageId(dataset: string, split: string, image: string): number {
  const hex = createHash('sha256').update(`${dataset}\0${split}\0${image}`).digest('hex');
  return Number.parseInt(hex.slice(0, 13), 16);
}

export interface MergeOptions {
  /** Decode masks for per-label pixel counts (default true); false reads sizes from headers only. */
  histograms?: boolean;
  /** Stop after this many images per dataset. */
  limit?: number;
  /** Worker threads for mask decoding (0 = inline). */
  workers?: number;
  /** Add unmapped classes as new labels instead of ignoring them. */
  keepUnmapped?: boolean;
  onProgress?: (done: number, dataset: string) => void;
}

export interface MergeSummary {
  dataset: string;
  format: string;
  images: number;
  problems: number;
  seconds: number;
}

const IGNORE = -1;

type BoxCheck = { ok: true; width: number; height: number } | { ok: false; reason: string };

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

/** A manifest being written: created in a temp file and renamed, or an existing one changed one dataset per transaction. */
export class ManifestWriter {
  readonly file: string;
  private readonly target: string;
  private readonly db: Database.Database;

  private constructor(file: string, target: string, db: Database.Database) {
    this.file = file;
    this.target = target;
    this.db = db;
  }

  /**
   * Opens `target` for merging. What the file is, is read before anything writes to it: a label
   * bank (or any file that is not a manifest) is refused with its path and left byte-identical, with
   * no -wal/-shm beside it. A new manifest is built in `<target>.partial-<pid>`; stale partial files
   * of dead processes are removed first.
   */
  static open(target: string, labels: string[]): ManifestWriter {
    const resolved = path.resolve(target);
    const mismatch = sqliteKindMismatch(resolved, 'manifest', true);
    if (mismatch !== null) throw new DatasetError('MANIFEST', `--out ${mismatch}; it was left unchanged (name a manifest to extend, or a new file)`);
    if (!existsSync(path.dirname(resolved))) throw new DatasetError('BAD_ARGUMENT', `the folder of --out does not exist: ${path.dirname(resolved)}`);
    removeStalePartials(resolved);
    if (existsSync(resolved)) {
      const db = new Database(resolved, { fileMustExist: true });
      try {
        const version = (db.prepare(`SELECT value FROM meta WHERE key = 'schema_version'`).get() as { value: string } | undefined)?.value;
        if (version !== String(MANIFEST_SCHEMA_VERSION)) throw new Error(`schema ${version ?? 'missing'}, this merge-datasets writes ${MANIFEST_SCHEMA_VERSION}`);
      } catch (err) {
        db.close();
        throw new DatasetError('MANIFEST', `not a manifest this version can extend (${(err as Error).message}): ${resolved}`);
      }
      db.pragma('journal_mode = WAL');
      return new ManifestWriter(resolved, resolved, db);
    }
    const tmp = partialPath(resolved);
    const db = new Database(tmp);
    db.pragma('journal_mode = WAL');
    db.exec(MANIFEST_SQL);
    db.transaction(() => {
      db.prepare(`INSERT INTO meta (key, value) VALUES ('schema_version', ?), ('created_at', ?)`).run(String(MANIFEST_SCHEMA_VERSION), new Date().toISOString());
      const insert = db.prepare(`INSERT INTO labels (id, name, origin) VALUES (?, ?, 'labels.json')`);
      labels.forEach((name, id) => insert.run(id, name));
    })();
    return new ManifestWriter(tmp, resolved, db);
  }

  /** True while a new manifest is being built (in its .partial file); false when extending one. */
  get isNew(): boolean {
    return this.file !== this.target;
  }

  hasDataset(name: string): boolean {
    return this.db.prepare(`SELECT 1 FROM datasets WHERE name = ?`).get(name) !== undefined;
  }

  /** The folder a dataset of the manifest was merged from (stored resolved), or null when it has no such dataset. */
  datasetRoot(name: string): string | null {
    const row = this.db.prepare(`SELECT root FROM datasets WHERE name = ?`).get(name) as { root: string } | undefined;
    return row?.root ?? null;
  }

  /** The loss stored for a dataset of the manifest, or null when it has no such dataset. */
  datasetLoss(name: string): string | null {
    const row = this.db.prepare(`SELECT loss FROM datasets WHERE name = ?`).get(name) as { loss: string } | undefined;
    return row?.loss ?? null;
  }

  /** Writes one dataset in one transaction (its old rows replaced); a failure leaves the manifest as it was. */
  async addDataset(name: string, root: string, opened: OpenedDataset, options: MergeOptions = {}): Promise<MergeSummary> {
    const started = performance.now();
    const db = this.db;
    const pool = new InspectPool(options.workers ?? 0);
    let images = 0;
    let problems = 0;
    db.exec('BEGIN IMMEDIATE');
    try {
      this.deleteDataset(name);
      db.prepare(
        `INSERT INTO datasets (name, format, version, variant, root, annotation, loss, encoding, ignore_values, added_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ).run(name, opened.format, opened.version, opened.variant, path.resolve(root), opened.annotation, opened.loss, opened.encoding.kind, JSON.stringify(opened.ignoreValues), new Date().toISOString());
      const lut = this.writeClasses(name, opened, options.keepUnmapped ?? false);
      const ignore = new Set(opened.ignoreValues);
      const insertImage = db.prepare(`INSERT INTO images (id, dataset, split, image_path, mask_path, width, height) VALUES (?, ?, ?, ?, ?, ?, ?)`);
      const insertLabel = db.prepare(`INSERT INTO image_labels (image_id, label_id, pixels) VALUES (?, ?, ?)`);
      const insertSegment = db.prepare(`INSERT INTO segments (image_id, segment_id, source_id) VALUES (?, ?, ?)`);
      const insertProblem = db.prepare(`INSERT INTO problems (dataset, file, reason) VALUES (?, ?, ?)`);
      let firstProblem: Problem | undefined;
      const problem = (p: Problem) => {
        insertProblem.run(name, p.file, p.reason);
        problems += 1;
        firstProblem ??= p;
      };
      const write = (sample: DenseSample, result: InspectResult) => {
        if (!result.ok) {
          problem({ file: result.which === 'image' ? sample.image : sample.mask, reason: result.reason });
          return;
        }
        const id = imageId(name, sample.split, sample.image);
        insertImage.run(id, name, sample.split, sample.image, sample.mask, result.width, result.height);
        images += 1;
        const perLabel = new Map<number, number>();
        const unknown: string[] = [];
        for (const [source, pixels] of result.histogram) {
          const label = lut.get(source);
          if (label === undefined) {
            if (!ignore.has(source)) unknown.push(`${source} (${pixels} px)`);
          } else if (label !== IGNORE) perLabel.set(label, (perLabel.get(label) ?? 0) + pixels);
        }
        for (const [label, pixels] of [...perLabel].sort((a, b) => a[0] - b[0])) insertLabel.run(id, label, pixels);
        for (const [segment, source] of sample.segments ?? []) insertSegment.run(id, segment, source);
        if (unknown.length > 0) problem({ file: sample.mask, reason: `ids not in the ${opened.format} taxonomy, counted as ignored: ${unknown.join(', ')}` });
        if (result.strays.length > 0) problem({ file: sample.mask, reason: `segment ids missing from segments_info, counted as ignored: ${result.strays.map(([s, p]) => `${s} (${p} px)`).join(', ')}` });
        options.onProgress?.(images, name);
      };

      const insertBox = db.prepare(`INSERT INTO boxes (image_id, source_id, x, y, w, h) VALUES (?, ?, ?, ?, ?, ?)`);
      // Box-only images: boxes clipped to the image; per label the summed box area stands for its pixels.
      const writeBoxes = (sample: BoxSample, size: BoxCheck) => {
        if (!size.ok) {
          problem({ file: sample.image, reason: size.reason });
          return;
        }
        const { width, height } = size;
        const id = imageId(name, sample.split, sample.image);
        insertImage.run(id, name, sample.split, sample.image, null, width, height);
        images += 1;
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
          const label = lut.get(b.sourceId);
          if (label === undefined) {
            if (!ignore.has(b.sourceId)) unknown.add(b.sourceId);
            return;
          }
          insertBox.run(id, b.sourceId, x0, y0, x1 - x0, y1 - y0);
          if (label !== IGNORE) perLabel.set(label, (perLabel.get(label) ?? 0) + Math.round((x1 - x0) * (y1 - y0)));
        });
        for (const [label, pixels] of [...perLabel].sort((a, c) => a[0] - c[0])) insertLabel.run(id, label, pixels);
        if (bad.length > 0) problem({ file: sample.image, reason: `boxes empty after clipping to ${width}×${height}, skipped: ${bad.join(', ')}` });
        if (unknown.size > 0) problem({ file: sample.image, reason: `category ids not in the ${opened.format} taxonomy, boxes skipped: ${[...unknown].join(', ')}` });
        options.onProgress?.(images, name);
      };

      const insertInstance = db.prepare(`INSERT INTO instance_masks (image_id, source_id, mask_path) VALUES (?, ?, ?)`);
      const writeInstances = (sample: InstanceSample, check: InstanceCheck) => {
        if (!check.ok) {
          problem({ file: sample.image, reason: check.reason });
          return;
        }
        for (const p of check.problems) problem(p);
        const kept = check.instances.filter((inst) => lut.get(inst.sourceId) !== undefined);
        if (kept.length === 0) {
          if (check.instances.length > 0) problem({ file: sample.image, reason: 'no mask of a known class' });
          return;
        }
        const id = imageId(name, sample.split, sample.image);
        insertImage.run(id, name, sample.split, sample.image, null, check.width, check.height);
        images += 1;
        for (const inst of kept) insertInstance.run(id, inst.sourceId, inst.mask);
        const perLabel = new Map<number, number>();
        for (const [source, pixels] of check.counts) {
          const label = lut.get(source);
          if (label !== undefined && label !== IGNORE) perLabel.set(label, (perLabel.get(label) ?? 0) + pixels);
        }
        for (const [label, pixels] of [...perLabel].sort((a, c) => a[0] - c[0])) insertLabel.run(id, label, pixels);
        options.onProgress?.(images, name);
      };

      // Samples go to the pool in order; results (and listing problems) are written in the same order,
      // a bounded window ahead, so the manifest does not depend on which worker finishes first.
      const window = Math.max(8, (options.workers ?? 0) * 8);
      type Entry =
        | { problem: Problem }
        | { sample: DenseSample; result: Promise<InspectResult> }
        | { boxSample: BoxSample; size: Promise<BoxCheck> }
        | { instanceSample: InstanceSample; check: Promise<InstanceCheck> };
      const inFlight: Entry[] = [];
      const flush = async (entry: Entry) => {
        if ('problem' in entry) problem(entry.problem);
        else if ('boxSample' in entry) writeBoxes(entry.boxSample, await entry.size);
        else if ('instanceSample' in entry) writeInstances(entry.instanceSample, await entry.check);
        else write(entry.sample, await entry.result);
      };
      let queued = 0;
      for await (const item of opened.samples()) {
        if ('problem' in item) {
          inFlight.push(item);
          continue;
        }
        if (options.limit !== undefined && queued >= options.limit) break;
        queued += 1;
        if ('instanceSample' in item) {
          inFlight.push({ instanceSample: item.instanceSample, check: pool.runInstances({ root, sample: item.instanceSample, histograms: options.histograms ?? true }) });
          if (inFlight.length >= window) await flush(inFlight.shift() as Entry);
          continue;
        }
        if ('boxSample' in item) {
          inFlight.push({ boxSample: item.boxSample, size: checkBoxImage(path.join(root, item.boxSample.image), item.boxSample, options.histograms ?? true) });
          if (inFlight.length >= window) await flush(inFlight.shift() as Entry);
          continue;
        }
        const { sample } = item;
        inFlight.push({
          sample,
          result: pool.run({
            image: path.join(root, sample.image),
            mask: path.join(root, sample.mask),
            encoding: opened.encoding,
            segments: sample.segments,
            histogram: options.histograms ?? true,
          }),
        });
        if (inFlight.length >= window) await flush(inFlight.shift() as Entry);
      }
      for (const entry of inFlight) await flush(entry);
      if (images === 0) {
        // The problem rows are rolled back with the dataset: say the first one here, or nobody sees why.
        const why = firstProblem ? ` (${problems} problem${problems === 1 ? '' : 's'}; the first: ${firstProblem.file}: ${firstProblem.reason})` : ' (no images found)';
        throw new DatasetError('NOT_A_DATASET', `no usable images in ${opened.format} dataset "${name}" at ${root}${why}`);
      }
      db.prepare(`INSERT OR REPLACE INTO meta (key, value) VALUES ('updated_at', ?)`).run(new Date().toISOString());
      db.exec('COMMIT');
    } catch (err) {
      if (db.open && db.inTransaction) db.exec('ROLLBACK');
      throw err;
    } finally {
      await pool.close();
    }
    return { dataset: name, format: opened.format, images, problems, seconds: (performance.now() - started) / 1000 };
  }

  private deleteDataset(name: string): void {
    const db = this.db;
    db.prepare(`DELETE FROM image_labels WHERE image_id IN (SELECT id FROM images WHERE dataset = ?)`).run(name);
    db.prepare(`DELETE FROM segments WHERE image_id IN (SELECT id FROM images WHERE dataset = ?)`).run(name);
    db.prepare(`DELETE FROM boxes WHERE image_id IN (SELECT id FROM images WHERE dataset = ?)`).run(name);
    db.prepare(`DELETE FROM instance_masks WHERE image_id IN (SELECT id FROM images WHERE dataset = ?)`).run(name);
    db.prepare(`DELETE FROM images WHERE dataset = ?`).run(name);
    db.prepare(`DELETE FROM dataset_classes WHERE dataset = ?`).run(name);
    db.prepare(`DELETE FROM problems WHERE dataset = ?`).run(name);
    db.prepare(`DELETE FROM datasets WHERE name = ?`).run(name);
    db.prepare(`DELETE FROM labels WHERE origin = ? AND id NOT IN (SELECT label_id FROM dataset_classes WHERE label_id IS NOT NULL)`).run(`unmapped:${name}`);
  }

  /** dataset_classes rows and the source id → label id table (IGNORE for ignored classes). */
  private writeClasses(name: string, opened: OpenedDataset, keepUnmapped: boolean): Map<number, number> {
    const db = this.db;
    const labelId = db.prepare(`SELECT id FROM labels WHERE name = ?`).pluck();
    const nextId = db.prepare(`SELECT COALESCE(MAX(id) + 1, 0) FROM labels`).pluck();
    const insertLabel = db.prepare(`INSERT INTO labels (id, name, origin) VALUES (?, ?, ?)`);
    const insert = db.prepare(`INSERT INTO dataset_classes (dataset, source_id, source_name, status, label_id) VALUES (?, ?, ?, ?, ?)`);
    const lut = new Map<number, number>();
    for (const c of [...opened.classes].sort((a, b) => a.id - b.id)) {
      let status: string;
      let label: number | null = null;
      if (c.target.kind === 'label') {
        label = labelId.get(c.target.label) as number | undefined ?? null;
        if (label === null) throw new DatasetError('TAXONOMY', `label "${c.target.label}" of ${opened.format} class "${c.name}" is not in the manifest's labels`);
        status = 'mapped';
      } else if (c.target.kind === 'unmapped' && keepUnmapped) {
        label = (labelId.get(c.name) as number | undefined) ?? null;
        if (label === null) {
          label = nextId.get() as number;
          insertLabel.run(label, c.name, `unmapped:${name}`);
        }
        status = 'kept';
      } else status = c.target.kind;
      insert.run(name, c.id, c.name, status, label);
      lut.set(c.id, label ?? IGNORE);
    }
    return lut;
  }

  /** Finishes: a new manifest is checkpointed and renamed into place. */
  close(): void {
    this.db.pragma('wal_checkpoint(TRUNCATE)');
    this.db.close();
    if (this.isNew) {
      renameSync(this.file, this.target);
      removeWithSidecars(this.file);
    }
  }

  /**
   * Gives up: an open transaction is rolled back and the connection closed (its last close removes
   * -wal/-shm); a new manifest's partial file is removed, an existing one keeps its committed
   * datasets. Safe to call twice, and from a signal handler between two awaits.
   */
  abandon(): void {
    if (this.db.open) {
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
      this.db.close();
    }
    if (this.isNew) removeWithSidecars(this.file);
  }
}
