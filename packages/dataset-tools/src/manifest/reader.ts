import Database from 'better-sqlite3';
import path from 'node:path';
import { describeSqliteKind, identifySqliteFile } from '@sentseg/common';
import { DatasetError } from '../errors.js';
import { boundCache } from '../sqlite-cache.js';
import type { MaskEncodingKind } from '../formats/types.js';
import { MANIFEST_SCHEMA_VERSION } from './schema.js';

/**
 * The value that means "no label" in label-id maps: 255, as in every dataset format, while the
 * manifest has at most 255 labels (ids 0..254). A manifest with more (merged with --keep-unmapped,
 * or a large generic taxonomy) has a label 255, so its maps use WIDE_IGNORE_INDEX: `ignoreIndexFor`.
 */
export const IGNORE_INDEX = 255;
/** "No label" in the label-id maps of a manifest with more than 255 labels (a label id never reaches it). */
export const WIDE_IGNORE_INDEX = 65_535;

/** The ignore value of label-id maps for a manifest of `labelCount` labels: one that is no label id. */
export function ignoreIndexFor(labelCount: number): number {
  if (labelCount <= IGNORE_INDEX) return IGNORE_INDEX;
  if (labelCount <= WIDE_IGNORE_INDEX) return WIDE_IGNORE_INDEX;
  throw new DatasetError('MANIFEST', `${labelCount.toLocaleString('en-US')} labels: label ids past ${WIDE_IGNORE_INDEX - 1} are not supported`);
}

export interface DatasetInfo {
  name: string;
  format: string;
  version: string;
  variant: string | null;
  root: string;
  annotation: 'dense' | 'instance-masks' | 'boxes';
  loss: 'hd' | 'ld' | 'wd';
  encoding: MaskEncodingKind;
  ignoreValues: number[];
  images: number;
  splits: string[];
}

export interface ManifestSample {
  id: number;
  dataset: string;
  split: string;
  /** Absolute paths (dataset root + the relative paths stored in the manifest). */
  image: string;
  mask: string | null;
  width: number;
  height: number;
}

export interface ManifestLabel {
  id: number;
  name: string;
  origin: string;
}

/** A box of a box-only dataset: its source class and x, y, w, h in image pixels. */
export interface ManifestBox {
  boxId: number;
  sourceId: number;
  x: number;
  y: number;
  w: number;
  h: number;
}

/** An instance mask of an instance-mask dataset (path relative to the dataset root as stored; absolute from instanceMasks()). */
export interface ManifestInstanceMask {
  instanceId: number;
  sourceId: number;
  mask: string;
}

/** A label present in an image, with its pixel count. */
export interface ImageLabelPixels {
  labelId: number;
  pixels: number;
}

/** A problem row the merge recorded: a file skipped or suspect, and why. */
export interface ManifestProblem {
  dataset: string;
  file: string;
  reason: string;
}

/** The labelled pixels of one label in one dataset (summed over its images). */
export interface LabelDatasetPixels {
  id: number;
  name: string;
  dataset: string;
  pixels: number;
}

/** The tables whose rows `rowCount` counts. */
export type CountedTable = 'images' | 'image_labels' | 'segments' | 'boxes' | 'instance_masks' | 'problems';

// Rows as SQLite returns them (snake_case columns where a query does not rename them).
interface DatasetRow {
  name: string;
  format: string;
  version: string;
  variant: string | null;
  root: string;
  annotation: DatasetInfo['annotation'];
  loss: DatasetInfo['loss'];
  encoding: DatasetInfo['encoding'];
  ignore_values: string;
}
interface SplitCountRow {
  split: string;
  n: number;
}
interface ClassLabelRow {
  source: number;
  label: number | null;
}
interface SegmentRow {
  s: number;
  c: number;
}
interface SampleRow {
  id: number;
  dataset: string;
  split: string;
  image_path: string;
  mask_path: string | null;
  width: number;
  height: number;
}
/** One page of a split's samples in sample order (dataset, split, after this image_path, page size). */
export const SAMPLE_PAGE_SQL = `SELECT id, image_path, mask_path, width, height FROM images
  WHERE dataset = ? AND split = ? AND image_path > ? ORDER BY image_path LIMIT ?`;
/** A page row of samples(), read raw: id, image_path, mask_path, width, height (the split is the page's). */
type SamplePageRow = [number, string, string | null, number, number];

/**
 * Read-only access to manifest.sqlite for the trainer and the manifest commands: datasets,
 * samples streamed by dataset/split, and the lookup table that remaps a dataset's mask values to
 * label ids (masks are never rewritten on disk).
 */
export class ManifestReader {
  readonly file: string;
  private readonly db: Database.Database;
  private readonly segmentsOf: Database.Statement<[number], SegmentRow>;
  private readonly labelsOf: Database.Statement<[number], ImageLabelPixels>;
  private readonly sampleById: Database.Statement<[number], SampleRow>;
  private readonly boxesOf: Database.Statement<[number], ManifestBox>;
  private readonly instancesOf: Database.Statement<[number], ManifestInstanceMask>;
  private readonly splitCountsOf: Database.Statement<[string], SplitCountRow>;
  private readonly roots = new Map<string, string>();
  /** datasets() and each split's image count ("dataset\0split"), as of SQLite's `data_version` (counting the images scans them). */
  private catalog: { version: number; datasets: DatasetInfo[]; counts: Map<string, number> } | undefined;

  private constructor(file: string, db: Database.Database) {
    this.file = file;
    this.db = db;
    // Per-sample lookups, prepared once: the trainer calls them for every image.
    this.segmentsOf = db.prepare<[number], SegmentRow>(`SELECT segment_id AS s, source_id AS c FROM segments WHERE image_id = ?`);
    this.labelsOf = db.prepare<[number], ImageLabelPixels>(`SELECT label_id AS labelId, pixels FROM image_labels WHERE image_id = ? ORDER BY label_id`);
    this.sampleById = db.prepare<[number], SampleRow>(`SELECT id, dataset, split, image_path, mask_path, width, height FROM images WHERE id = ?`);
    this.boxesOf = db.prepare<[number], ManifestBox>(`SELECT id AS boxId, source_id AS sourceId, x, y, w, h FROM boxes WHERE image_id = ? ORDER BY id`);
    this.instancesOf = db.prepare<[number], ManifestInstanceMask>(`SELECT id AS instanceId, source_id AS sourceId, mask_path AS mask FROM instance_masks WHERE image_id = ? ORDER BY id`);
    this.splitCountsOf = db.prepare<[string], SplitCountRow>(`SELECT split, COUNT(*) AS n FROM images WHERE dataset = ? GROUP BY split ORDER BY split`);
  }

  /**
   * Opens a manifest for reading. What the file is, is read first: a label bank or any other file is
   * refused with its path. The connection is read-write but only reads (query_only): SQLite needs the
   * -shm file to read a WAL-mode database, and only a connection that may write removes -wal/-shm on
   * its last close (a read-only one left them beside the manifest). Read-only where the file is not
   * writable.
   */
  static open(file: string): ManifestReader {
    const resolved = path.resolve(file);
    const kind = identifySqliteFile(resolved);
    if (kind === 'missing') throw new DatasetError('MANIFEST', `manifest not found: ${resolved}`);
    if (kind !== 'manifest') throw new DatasetError('MANIFEST', `${resolved} is ${describeSqliteKind(kind)}, not ${describeSqliteKind('manifest')}`);
    const db = openForReading(resolved);
    try {
      const version = db.prepare<[], string>(`SELECT value FROM meta WHERE key = 'schema_version'`).pluck().get();
      if (version !== String(MANIFEST_SCHEMA_VERSION)) throw new Error(`schema ${version ?? 'missing'}, this reader reads ${MANIFEST_SCHEMA_VERSION}`);
      return new ManifestReader(resolved, db);
    } catch (err) {
      db.close();
      throw new DatasetError('MANIFEST', `not a manifest this version reads (${(err as Error).message}): ${resolved}`);
    }
  }

  close(): void {
    this.db.close();
  }

  /** The ignore value of this manifest's label-id maps (ignoreIndexFor its label ids' range). */
  ignoreIndex(): number {
    return ignoreIndexFor(this.db.prepare<[], number>(`SELECT COALESCE(MAX(id) + 1, 0) FROM labels`).pluck().get() ?? 0);
  }

  labels(): ManifestLabel[] {
    return this.db.prepare<[], ManifestLabel>(`SELECT id, name, origin FROM labels ORDER BY id`).all();
  }

  /**
   * The datasets, with their splits and image counts. Counting is a scan of the images index (a
   * 1M-image manifest: ~0.2 s of CPU), so the answer is kept until another connection commits to the
   * file (SQLite's data_version): dataset(), lut() and samples() ask for it on every call.
   */
  datasets(): DatasetInfo[] {
    return this.readCatalog().datasets.slice();
  }

  private readCatalog(): { datasets: DatasetInfo[]; counts: Map<string, number> } {
    const version = this.db.pragma('data_version', { simple: true }) as number;
    if (this.catalog?.version === version) return this.catalog;
    const rows = this.db.prepare<[], DatasetRow>(`SELECT * FROM datasets ORDER BY name`).all();
    const counts = new Map<string, number>();
    const datasets = rows.map((r) => {
      const perSplit = this.splitCountsOf.all(r.name);
      for (const x of perSplit) counts.set(`${r.name}\0${x.split}`, x.n);
      return {
        name: r.name,
        format: r.format,
        version: r.version,
        variant: r.variant ?? null,
        root: r.root,
        annotation: r.annotation,
        loss: r.loss,
        encoding: r.encoding,
        ignoreValues: JSON.parse(r.ignore_values) as number[],
        images: perSplit.reduce((s, x) => s + x.n, 0),
        splits: perSplit.map((x) => x.split),
      };
    });
    this.catalog = { version, datasets, counts };
    return this.catalog;
  }

  /** Images per split of one dataset, splits in name order. */
  splitCounts(dataset: string): Record<string, number> {
    return Object.fromEntries(this.splitCountsOf.all(dataset).map((r) => [r.split, r.n]));
  }

  /** The source ids of a dataset's classes (mapped or not), in id order. */
  classIds(dataset: string): number[] {
    return this.db.prepare<[string], number>(`SELECT source_id FROM dataset_classes WHERE dataset = ? ORDER BY source_id`).pluck().all(dataset);
  }

  /** Labelled pixels per label and dataset, summed over the images, in label id then dataset order. */
  labelPixelsByDataset(): LabelDatasetPixels[] {
    return this.db
      .prepare<[], LabelDatasetPixels>(
        `SELECT il.label_id AS id, l.name AS name, i.dataset AS dataset, SUM(il.pixels) AS pixels
         FROM image_labels il JOIN images i ON i.id = il.image_id JOIN labels l ON l.id = il.label_id
         GROUP BY il.label_id, i.dataset ORDER BY il.label_id, i.dataset`,
      )
      .all();
  }

  /** How many rows a table holds. */
  rowCount(table: CountedTable): number {
    return this.db.prepare<[], number>(`SELECT COUNT(*) FROM ${table}`).pluck().get() ?? 0;
  }

  dataset(name: string): DatasetInfo {
    const found = this.datasets().find((d) => d.name === name);
    if (!found) throw new DatasetError('BAD_ARGUMENT', `no dataset "${name}" in ${this.file} (has: ${this.datasets().map((d) => d.name).join(', ') || 'none'})`);
    return found;
  }

  /**
   * Source id → label id for one dataset; ignored and unmapped classes map to `ignoreIndex` (by
   * default this manifest's, `ignoreIndex()`). Ids that are no class of the dataset nor one of its ignore values map to `unknownIndex` (by default
   * `ignoreIndex` too); with an `unknownIndex` of its own the table covers every id a mask can
   * hold (0..65,535), so a reader can tell such ids apart instead of ignoring them.
   */
  lut(dataset: string, ignoreIndex = this.ignoreIndex(), unknownIndex = ignoreIndex): Int32Array {
    const info = this.dataset(dataset);
    const rows = this.db.prepare<[string], ClassLabelRow>(`SELECT source_id AS source, label_id AS label FROM dataset_classes WHERE dataset = ?`).all(dataset);
    const size = Math.max(unknownIndex === ignoreIndex ? 256 : 65_536, ...rows.map((r) => r.source + 1));
    const lut = new Int32Array(size).fill(unknownIndex);
    for (const v of info.ignoreValues) if (v >= 0 && v < size) lut[v] = ignoreIndex;
    for (const r of rows) lut[r.source] = ignoreIndex;
    for (const r of rows) {
      if (r.label === ignoreIndex) throw new DatasetError('MANIFEST', `label id ${r.label} collides with the ignore index ${ignoreIndex}`);
      if (r.label !== null) lut[r.source] = r.label;
    }
    return lut;
  }

  /** Panoptic datasets: segment id → source class of one image. */
  segments(imageId: number): Map<number, number> {
    const rows = this.segmentsOf.all(imageId);
    return new Map(rows.map((r) => [r.s, r.c]));
  }

  /**
   * The samples of a dataset (optionally one split), in a stable order, read a page at a time: memory
   * stays flat and no cursor is held open, so other queries may run between samples.
   */
  *samples(dataset: string, split?: string, pageSize = 250): Generator<ManifestSample> {
    const info = this.dataset(dataset);
    // One split at a time, each paged along images_in_sample_order: every page is an index seek,
    // however large the dataset (an OR over the split would sort the whole table), and the index
    // covers the columns listed, so no row is looked up in the table (ids are hashes: each lookup
    // was a random page, 5.5 s of CPU for 1M samples). A manifest written before that index pages
    // along images_by_split_path with a lookup per row, at the old speed.
    const page = this.db.prepare<[string, string, string, number], SamplePageRow>(SAMPLE_PAGE_SQL);
    // Stored paths are relative, with "/", and inside the root (checked when merged): on POSIX a clean
    // one (no ".", ".." or empty segment) is joined by concatenation, which path.join would return
    // too; two million path.join calls were most of a 1M-sample listing.
    const prefix = path.sep === '/' ? `${info.root.replace(/\/+$/, '')}/` : null;
    const unclean = /(^|\/)\.{1,2}(\/|$)|\/\/|\/$/;
    const join = (rel: string) => (prefix !== null && !unclean.test(rel) ? prefix + rel : path.join(info.root, rel));
    page.raw(true);
    for (const s of split === undefined ? info.splits : [split]) {
      let after = '';
      for (;;) {
        const rows = page.all(dataset, s, after, pageSize);
        for (const [id, image, mask, width, height] of rows) {
          yield { id, dataset, split: s, image: join(image), mask: mask === null ? null : join(mask), width, height };
        }
        if (rows.length < pageSize) break;
        after = (rows[rows.length - 1] as SamplePageRow)[1];
      }
    }
  }

  private rootOf(dataset: string): string {
    let root = this.roots.get(dataset);
    if (root === undefined) {
      root = this.dataset(dataset).root;
      this.roots.set(dataset, root);
    }
    return root;
  }

  /** One sample by image id (absolute paths), or undefined. */
  sample(imageId: number): ManifestSample | undefined {
    const row = this.sampleById.get(imageId);
    if (!row) return undefined;
    const root = this.rootOf(row.dataset);
    return {
      id: row.id,
      dataset: row.dataset,
      split: row.split,
      image: path.join(root, row.image_path),
      mask: row.mask_path === null ? null : path.join(root, row.mask_path),
      width: row.width,
      height: row.height,
    };
  }

  /** Ids of a dataset's images in one split, in the stable sample order. */
  imageIds(dataset: string, split: string): number[] {
    // Plucked and iterated: no row object per image (a million ids is 8 MB, their row objects ten
    // times that), into an array sized from the split's count (pushing onto a growing array peaks at
    // twice the ids; all() at 1M ids: 25 MiB more peak RSS for 0.3 s less CPU). Ids are hashes past
    // V8's small integers: an array made with `new Array(n)` holds small integers, and the first id
    // stored copies it into a new one of doubles (a million ids: 16 MB at the peak, not 8), so the
    // array is made of doubles ([0.5]) and then sized.
    const ids: number[] = [0.5];
    ids.length = this.readCatalog().counts.get(`${dataset}\0${split}`) ?? 0;
    let n = 0;
    for (const id of this.db.prepare<[string, string], number>(`SELECT id FROM images WHERE dataset = ? AND split = ? ORDER BY image_path`).pluck().iterate(dataset, split)) {
      if (n < ids.length) ids[n] = id;
      else ids.push(id);
      n++;
    }
    ids.length = n;
    return ids;
  }

  /** Box-only datasets: an image's boxes (source class, x, y, w, h in image pixels). */
  boxes(imageId: number): ManifestBox[] {
    return this.boxesOf.all(imageId);
  }

  /** Instance-mask datasets: an image's instance masks (absolute paths) and their source classes. */
  instanceMasks(imageId: number, dataset: string): ManifestInstanceMask[] {
    const root = this.rootOf(dataset);
    const rows = this.instancesOf.all(imageId);
    return rows.map((r) => ({ ...r, mask: path.join(root, r.mask) }));
  }

  /** Labels present in an image with their pixel counts. */
  imageLabels(imageId: number): ImageLabelPixels[] {
    return this.labelsOf.all(imageId);
  }

  /** The problem rows the merge recorded (files skipped or suspect), in dataset then merge order; at most `limit`. */
  problems(dataset?: string, limit = -1): ManifestProblem[] {
    const sql = `SELECT dataset, file, reason FROM problems ${dataset ? 'WHERE dataset = ?' : ''} ORDER BY dataset, rowid LIMIT ?`;
    const stmt = this.db.prepare<(string | number)[], ManifestProblem>(sql);
    return dataset ? stmt.all(dataset, limit) : stmt.all(limit);
  }

  /** How many problem rows (and distinct files) the merge recorded, for one dataset or all. */
  problemCount(dataset?: string): { rows: number; files: number } {
    const sql = `SELECT COUNT(*) AS rows, COUNT(DISTINCT dataset || char(0) || file) AS files FROM problems ${dataset ? 'WHERE dataset = ?' : ''}`;
    const stmt = this.db.prepare<string[], { rows: number; files: number }>(sql);
    return (dataset ? stmt.get(dataset) : stmt.get()) ?? { rows: 0, files: 0 };
  }
}

/** A read-write connection that only reads, or a read-only one where the file cannot be written. */
function openForReading(file: string): Database.Database {
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { fileMustExist: true });
    db.pragma('query_only = ON');
    db.prepare(`SELECT COUNT(*) FROM sqlite_master`).get();
    boundCache(db);
    return db;
  } catch {
    db?.close();
    const readonly = new Database(file, { readonly: true, fileMustExist: true });
    boundCache(readonly);
    return readonly;
  }
}
