import Database from 'better-sqlite3';
import { existsSync, renameSync } from 'node:fs';
import path from 'node:path';
import { sqliteKindMismatch } from '@sentseg/common';
import { DatasetError } from '../errors.js';
import type { OpenedDataset } from '../formats/types.js';
import { adoptStalePartial, partialPath, removeStalePartials, removeWithSidecars } from './partial.js';
import { IGNORE } from './sample-kinds.js';
import { MANIFEST_EXTRA_SQL, MANIFEST_SCHEMA_VERSION, MANIFEST_SQL, SAMPLE_ORDER_INDEX, SAMPLE_ORDER_SQL } from './schema.js';
import { DEFAULT_CHUNK, StagedRows, writeSamples, type OldRows } from './staged-rows.js';
import { Staging, stagingPath, type StagedProgress } from './staging.js';
import { InspectPool } from './pool.js';
import { boundCache } from '../sqlite-cache.js';

export { imageId } from './image-id.js';

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
  /** Only these splits (part of what a resumed merge must have in common with the interrupted one). */
  splits?: string[];
  /**
   * Called before the first sample when the dataset's staging file was left by an interrupted run:
   * with what it holds when it is continued, or with `discarded` (why) when it is started afresh.
   */
  onResume?: (dataset: string, staged: StagedProgress & { file: string; discarded?: string }) => void;
  /** Items of the sample order written to the staging file per commit (default 2,000). */
  chunk?: number;
  /** --update: re-read only the images whose files' size or mtime changed; the others keep their rows. */
  update?: boolean;
  /** --update: called before the first sample when every image must be read again (the dataset was merged with other read settings), with why. */
  onEveryRead?: (dataset: string, why: string) => void;
}

export interface MergeSummary {
  dataset: string;
  format: string;
  images: number;
  problems: number;
  /** Images read (decoded and checked) by this run: fewer than `images` when resumed, or with --update (unchanged ones are copied). */
  read: number;
  seconds: number;
  /** Continued from an interrupted run's staging file: the items and images it held. */
  resumedAfter?: { items: number; images: number };
  /**
   * --update: images added, changed (re-read, already there) and removed against the manifest's rows;
   * reread = images decoded; everyRead = why every image was read again (the dataset was merged with
   * other read settings), when it was.
   */
  update?: { added: number; changed: number; removed: number; reread: number; everyRead?: string };
  /** The manifest was written before images_in_sample_order: this dataset's transaction built it (SAMPLE_ORDER_SQL). */
  indexedSampleOrder?: boolean;
}

/**
 * What a staging file was written with: a resumed merge continues it only when all of this is the
 * same (the same root, format, label lookup, options), else it starts over.
 */
function stagingFingerprint(root: string, opened: OpenedDataset, lut: Map<number, number>, options: { histograms: boolean; update: boolean; limit: number | undefined; splits: string[] | undefined }): string {
  return JSON.stringify({
    staging: 2,
    root: path.resolve(root),
    format: opened.format,
    version: opened.version,
    variant: opened.variant,
    annotation: opened.annotation,
    loss: opened.loss,
    encoding: opened.encoding.kind,
    ignore: opened.ignoreValues,
    lut: [...lut],
    histograms: options.histograms,
    limit: options.limit ?? null,
    splits: options.splits ?? null,
    update: options.update,
  });
}

/** What, besides its files, decides a dataset's rows: --update keeps an unchanged image's rows only when these are the same. */
interface ReadSettings {
  format: string;
  version: string;
  variant: string | null;
  annotation: string;
  encoding: string;
  ignore: number[];
  lut: [number, number][];
  histograms: boolean;
}

/** The meta key under which a dataset's read settings are kept. */
const readSettingsKey = (name: string) => `read_settings:${name}`;

function readSettingsOf(opened: OpenedDataset, lut: Map<number, number>, histograms: boolean): ReadSettings {
  return { format: opened.format, version: opened.version, variant: opened.variant ?? null, annotation: opened.annotation, encoding: opened.encoding.kind, ignore: [...opened.ignoreValues], lut: [...lut], histograms };
}

/** Why the rows of a dataset merged with `before` cannot be kept by a run reading with `now` (null: they can). */
function readSettingsChange(before: ReadSettings | null, now: ReadSettings): string | null {
  if (before === null) return 'the manifest does not say how its images were read (it was written by an older merge-datasets)';
  if (before.histograms !== now.histograms) return before.histograms ? 'it was merged with histograms, and this run has --no-histograms' : 'it was merged with --no-histograms';
  if (JSON.stringify(before.lut) !== JSON.stringify(now.lut)) return 'its classes map to other labels than when it was merged (another taxonomy, or --keep-unmapped)';
  const { lut: _a, histograms: _b, ...rest } = now;
  const { lut: _c, histograms: _d, ...was } = before;
  if (JSON.stringify(rest) !== JSON.stringify(was)) return `it was merged as ${JSON.stringify(was)}, and is read now as ${JSON.stringify(rest)}`;
  return null;
}

/** The refusal of a dataset none of whose images could be used; the problem rows go with the staging file, so it names the first. */
function noUsableImages(name: string, root: string, opened: OpenedDataset, rows: StagedRows): DatasetError {
  const { problems, firstProblem } = rows;
  const why = firstProblem ? ` (${problems} problem${problems === 1 ? '' : 's'}; the first: ${firstProblem.file}: ${firstProblem.reason})` : ' (no images found)';
  return new DatasetError('NOT_A_DATASET', `no usable images in ${opened.format} dataset "${name}" at ${root}${why}`);
}

/** A manifest being written: created in a temp file and renamed, or an existing one changed one dataset per transaction. */
export class ManifestWriter {
  readonly file: string;
  private readonly target: string;
  private readonly db: Database.Database;
  /** The staging file of the dataset being written, removed when the run is abandoned (Ctrl-C). */
  private staging: Staging | null = null;
  /** Datasets found in the partial file of an interrupted run of a new manifest, adopted by this one. */
  readonly adopted: string[] = [];
  /** Stopped by suspend(): what is on disk is kept for the next run, abandon() removes nothing. */
  private suspended = false;

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
  static open(target: string, labels: string[], datasets: { name: string; root: string }[] = []): ManifestWriter {
    const resolved = path.resolve(target);
    const mismatch = sqliteKindMismatch(resolved, 'manifest', true);
    if (mismatch !== null) throw new DatasetError('MANIFEST', `--out ${mismatch}; it was left unchanged (name a manifest to extend, or a new file)`);
    if (!existsSync(path.dirname(resolved))) throw new DatasetError('BAD_ARGUMENT', `the folder of --out does not exist: ${path.dirname(resolved)}`);
    if (existsSync(resolved)) {
      removeStalePartials(resolved);
      const db = new Database(resolved, { fileMustExist: true });
      try {
        const version = (db.prepare(`SELECT value FROM meta WHERE key = 'schema_version'`).get() as { value: string } | undefined)?.value;
        if (version !== String(MANIFEST_SCHEMA_VERSION)) throw new Error(`schema ${version ?? 'missing'}, this merge-datasets writes ${MANIFEST_SCHEMA_VERSION}`);
      } catch (err) {
        db.close();
        throw new DatasetError('MANIFEST', `not a manifest this version can extend (${(err as Error).message}): ${resolved}`);
      }
      db.pragma('journal_mode = WAL');
      boundCache(db);
      db.exec(MANIFEST_EXTRA_SQL);
      return new ManifestWriter(resolved, resolved, db);
    }
    // A new manifest: continued from the partial file of a run killed outright, when there is one.
    const asked = new Map(datasets.map((d) => [d.name, path.resolve(d.root)]));
    const adopted = adoptStalePartial(resolved, MANIFEST_SCHEMA_VERSION, (held) => held.every((d) => asked.get(d.name) === d.root));
    removeStalePartials(resolved, adopted !== null);
    const tmp = partialPath(resolved);
    const db = new Database(tmp);
    db.pragma('journal_mode = WAL');
    boundCache(db);
    if (adopted === null) {
      db.exec(MANIFEST_SQL);
      db.transaction(() => {
        db.prepare(`INSERT INTO meta (key, value) VALUES ('schema_version', ?), ('created_at', ?)`).run(String(MANIFEST_SCHEMA_VERSION), new Date().toISOString());
        const insert = db.prepare(`INSERT INTO labels (id, name, origin) VALUES (?, ?, 'labels.json')`);
        labels.forEach((name, id) => insert.run(id, name));
      })();
    }
    db.exec(MANIFEST_EXTRA_SQL);
    const writer = new ManifestWriter(tmp, resolved, db);
    writer.adopted.push(...(adopted ?? []));
    return writer;
  }

  /**
   * Removes the staging file of a dataset the manifest already holds (a run killed between copying
   * it into the manifest and removing its staging file leaves one), unless a live merge owns it.
   */
  dropFinishedStaging(name: string): void {
    const file = stagingPath(this.target, name);
    if (!existsSync(file)) return;
    try {
      Staging.open(this.target, name, 'finished').remove();
    } catch {
      // A live merge-datasets is writing it: not ours to remove.
    }
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

  /**
   * Writes one dataset: its rows go to a staging file committed in chunks (a run killed outright
   * continues from it), then into the manifest in one transaction (its old rows replaced), so
   * readers never see half a dataset. A failure leaves the manifest as it was.
   */
  async addDataset(name: string, root: string, opened: OpenedDataset, options: MergeOptions = {}): Promise<MergeSummary> {
    const started = performance.now();
    const histograms = options.histograms ?? true;
    const update = options.update ?? false;
    const keepUnmapped = options.keepUnmapped ?? false;
    const lut = this.trialClasses(name, root, opened, keepUnmapped);
    const settings = readSettingsOf(opened, lut, histograms);
    // --update keeps unchanged images' rows only if they were read as this run reads them.
    const everyRead = update ? readSettingsChange(this.storedReadSettings(name), settings) : null;
    if (everyRead !== null) options.onEveryRead?.(name, everyRead);
    const staging = this.openStaging(name, stagingFingerprint(root, opened, lut, { histograms, update, limit: options.limit, splits: options.splits }), options.onResume);
    const pool = new InspectPool(options.workers ?? 0);
    let rows: StagedRows;
    let reread: number;
    try {
      // --update: the manifest's own rows of an image whose files did not change are kept as they are.
      const old = update ? this.oldRows(name, everyRead === null) : null;
      rows = new StagedRows(staging.db, { dataset: name, format: opened.format, lut, ignore: new Set(opened.ignoreValues), old, onProgress: options.onProgress }, staging.resumed);
      const read = { root, pool, encoding: opened.encoding, histograms };
      ({ reread } = await writeSamples({ opened, rows, staging, read, limit: options.limit, chunk: options.chunk ?? DEFAULT_CHUNK, workers: options.workers ?? 0 }));
      if (rows.images === 0) throw noUsableImages(name, root, opened, rows);
    } catch (err) {
      // A deterministic refusal starts over next time; anything else (a crash) keeps the committed chunks.
      // (A run stopped by suspend() keeps its staging file whatever the unwinding work throws.)
      if (err instanceof DatasetError && !this.suspended) staging.remove();
      else staging.close();
      this.staging = null;
      throw err;
    } finally {
      await pool.close();
    }
    staging.close();
    const { indexedSampleOrder, keptProblems, ...changes } = this.install(name, root, opened, keepUnmapped, lut, staging.file, update, settings);
    staging.remove();
    this.staging = null;
    const resumed = staging.resumed;
    return {
      dataset: name,
      format: opened.format,
      images: rows.images,
      problems: rows.problems + keptProblems,
      read: reread,
      seconds: (performance.now() - started) / 1000,
      ...(resumed ? { resumedAfter: { items: resumed.items, images: resumed.images } } : {}),
      ...(update ? { update: { ...changes, reread, ...(everyRead !== null ? { everyRead } : {}) } } : {}),
      ...(indexedSampleOrder ? { indexedSampleOrder } : {}),
    };
  }

  /** The dataset's staging file, continued or started afresh (onResume told which); abandon() removes it. */
  private openStaging(name: string, fingerprint: string, onResume: MergeOptions['onResume']): Staging {
    const staging = Staging.open(this.target, name, fingerprint);
    this.staging = staging;
    const resumed = staging.resumed;
    if (resumed) onResume?.(name, { ...resumed, file: staging.file });
    else if (staging.discarded) onResume?.(name, { items: 0, images: 0, problems: 0, firstProblem: null, file: staging.file, discarded: staging.discarded });
    return staging;
  }

  /**
   * The dataset_classes rows and label lookup the final transaction will write, computed in a
   * transaction that is rolled back (unmapped classes kept as new labels take the next free ids).
   */
  private trialClasses(name: string, root: string, opened: OpenedDataset, keepUnmapped: boolean): Map<number, number> {
    const db = this.db;
    db.exec('BEGIN IMMEDIATE');
    try {
      return this.writeDatasetRows(name, root, opened, keepUnmapped);
    } finally {
      db.exec('ROLLBACK');
    }
  }

  /**
   * A dataset's own rows, written afresh: its datasets row (replaced in place: the images kept by
   * --update refer to it), its classes, and its unmapped labels (kept ones keep their ids; those no
   * class uses any more are removed). Returns the source id → label id table.
   */
  private writeDatasetRows(name: string, root: string, opened: OpenedDataset, keepUnmapped: boolean): Map<number, number> {
    const db = this.db;
    db.prepare(`DELETE FROM dataset_classes WHERE dataset = ?`).run(name);
    db.prepare(`DELETE FROM meta WHERE key = ?`).run(readSettingsKey(name));
    db.prepare(
      `INSERT INTO datasets (name, format, version, variant, root, annotation, loss, encoding, ignore_values, added_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (name) DO UPDATE SET format = excluded.format, version = excluded.version, variant = excluded.variant, root = excluded.root, annotation = excluded.annotation,
         loss = excluded.loss, encoding = excluded.encoding, ignore_values = excluded.ignore_values, added_at = excluded.added_at`,
    ).run(name, opened.format, opened.version, opened.variant, path.resolve(root), opened.annotation, opened.loss, opened.encoding.kind, JSON.stringify(opened.ignoreValues), new Date().toISOString());
    const lut = this.writeClasses(name, opened, keepUnmapped);
    db.prepare(`DELETE FROM labels WHERE origin = ? AND id NOT IN (SELECT label_id FROM dataset_classes WHERE label_id IS NOT NULL)`).run(`unmapped:${name}`);
    return lut;
  }

  /** How a dataset of the manifest was read (null: not recorded; manifests merged before read settings were kept). */
  private storedReadSettings(name: string): ReadSettings | null {
    const value = this.db.prepare(`SELECT value FROM meta WHERE key = ?`).pluck().get(readSettingsKey(name)) as string | undefined;
    return value === undefined ? null : (JSON.parse(value) as ReadSettings);
  }

  /**
   * The manifest's rows of a dataset, for --update: which image ids it holds, and the signatures
   * they were read with (none when `keep` is false: every image is read again).
   */
  private oldRows(name: string, keep: boolean): OldRows {
    const db = this.db;
    // An image id is a digest of the dataset's name with the image's split and path (image-id.ts): an
    // id found in image_sources is this dataset's image, so one lookup by id answers.
    const signatureOf = db.prepare(`SELECT signature FROM image_sources WHERE image_id = ?`).pluck();
    const exists = db.prepare(`SELECT 1 FROM images WHERE id = ? AND dataset = ?`).pluck();
    return {
      hasProblems: db.prepare(`SELECT 1 FROM problems WHERE dataset = ? LIMIT 1`).get(name) !== undefined,
      has: (id) => exists.get(id, name) !== undefined,
      signature: (id) => (keep ? ((signatureOf.get(id) as string | undefined) ?? null) : null),
    };
  }

  /**
   * Copies a complete staging file into the manifest in one transaction, replacing the dataset's
   * old rows; returns, against those old rows, the images added, changed (re-read) and removed.
   * With --update the images the staging file lists as kept keep their rows where they are (and the
   * problem rows of their files): only the rows of changed and removed images are deleted, and only
   * those of changed and added ones inserted, so an update costs what changed, not the dataset's size.
   * A manifest written before images_in_sample_order gets it in the same transaction (built after the
   * rows are in: one sort, not a million random inserts), so no reader sees it half-indexed.
   */
  private install(
    name: string,
    root: string,
    opened: OpenedDataset,
    keepUnmapped: boolean,
    lut: Map<number, number>,
    file: string,
    update: boolean,
    settings: ReadSettings,
  ): { added: number; changed: number; removed: number; keptProblems: number; indexedSampleOrder: boolean } {
    const db = this.db;
    db.prepare(`ATTACH DATABASE ? AS staged`).run(file);
    boundCache(db, 'staged');
    try {
      db.exec('BEGIN IMMEDIATE');
      try {
        const count = (sql: string, ...params: string[]) => db.prepare(sql).pluck().get(...params) as number;
        let changes = { added: 0, changed: 0, removed: 0 };
        let keptProblems = 0;
        if (update) {
          // Every image of the manifest's dataset is kept, changed (re-read) or removed; every staged image is changed or added.
          const kept = count(`SELECT COUNT(*) FROM staged.kept`);
          const changed = count(`SELECT COUNT(*) FROM staged.changed`);
          const before = count(`SELECT COUNT(*) FROM images WHERE dataset = ?`, name);
          changes = { added: count(`SELECT COUNT(*) FROM staged.images`) - changed, changed, removed: before - kept - changed };
          // The images not kept, found once (each delete below then looks them up by id).
          db.exec(`CREATE TEMP TABLE gone (id INTEGER PRIMARY KEY)`);
          db.prepare(`INSERT INTO temp.gone (id) SELECT id FROM images WHERE dataset = ? AND id NOT IN (SELECT image_id FROM staged.kept)`).run(name);
          this.deleteImages(`SELECT id FROM temp.gone`);
          db.exec(`DROP TABLE temp.gone`);
          db.prepare(`DELETE FROM problems WHERE dataset = ? AND file NOT IN (SELECT file FROM staged.kept_files)`).run(name);
          keptProblems = count(`SELECT COUNT(*) FROM problems WHERE dataset = ?`, name);
        } else {
          this.deleteImages(`SELECT id FROM images WHERE dataset = ?`, name);
          db.prepare(`DELETE FROM problems WHERE dataset = ?`).run(name);
        }
        const written = this.writeDatasetRows(name, root, opened, keepUnmapped);
        if (JSON.stringify([...written]) !== JSON.stringify([...lut])) throw new Error(`the label ids of ${name} changed while it was merged`);
        db.prepare(`INSERT INTO images (id, dataset, split, image_path, mask_path, width, height) SELECT id, ?, split, image_path, mask_path, width, height FROM staged.images ORDER BY id`).run(name);
        db.exec(`INSERT INTO image_labels (image_id, label_id, pixels) SELECT image_id, label_id, pixels FROM staged.image_labels ORDER BY rowid`);
        db.exec(`INSERT INTO segments (image_id, segment_id, source_id) SELECT image_id, segment_id, source_id FROM staged.segments ORDER BY rowid`);
        db.exec(`INSERT INTO boxes (image_id, source_id, x, y, w, h) SELECT image_id, source_id, x, y, w, h FROM staged.boxes ORDER BY rowid`);
        db.exec(`INSERT INTO instance_masks (image_id, source_id, mask_path) SELECT image_id, source_id, mask_path FROM staged.instance_masks ORDER BY rowid`);
        db.exec(`INSERT INTO image_sources (image_id, signature) SELECT image_id, signature FROM staged.image_sources ORDER BY image_id`);
        db.prepare(`INSERT INTO problems (dataset, file, reason) SELECT ?, file, reason FROM staged.problems ORDER BY rowid`).run(name);
        db.prepare(`INSERT OR REPLACE INTO meta (key, value) VALUES ('updated_at', ?)`).run(new Date().toISOString());
        db.prepare(`INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)`).run(readSettingsKey(name), JSON.stringify(settings));
        const indexedSampleOrder = db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?`).get(SAMPLE_ORDER_INDEX) === undefined;
        if (indexedSampleOrder) db.exec(SAMPLE_ORDER_SQL);
        db.exec('COMMIT');
        return { ...changes, keptProblems, indexedSampleOrder };
      } catch (err) {
        if (db.inTransaction) db.exec('ROLLBACK');
        throw err;
      }
    } finally {
      if (db.open) db.exec('DETACH DATABASE staged');
    }
  }

  /** Removes the images `ids` (a query of image ids, with `params` as its parameters) and every row that belongs to them. */
  private deleteImages(ids: string, ...params: string[]): void {
    const db = this.db;
    for (const table of ['image_labels', 'segments', 'boxes', 'instance_masks', 'image_sources']) db.prepare(`DELETE FROM ${table} WHERE image_id IN (${ids})`).run(...params);
    db.prepare(`DELETE FROM images WHERE id IN (${ids})`).run(...params);
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
   * Stops, keeping what a run killed outright would leave, but closed: the staging file of the dataset
   * being written (its committed chunks), and a new manifest's partial file; an open transaction is
   * rolled back and every connection closed, so no -wal/-shm file is left. The same command continues
   * from them. Returns the partial file (new manifest) and staging file kept, if any.
   */
  suspend(): { partial: string | null; staging: string | null } {
    const staging = this.staging?.file ?? null;
    this.staging?.close();
    this.staging = null;
    this.suspended = true;
    if (this.db.open) {
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
      this.db.close();
    }
    return { partial: this.isNew ? this.file : null, staging };
  }

  /**
   * Gives up: an open transaction is rolled back and the connection closed (its last close removes
   * -wal/-shm); a new manifest's partial file is removed, an existing one keeps its committed
   * datasets. Safe to call twice, and from a signal handler between two awaits.
   */
  abandon(): void {
    if (this.suspended) return;
    this.staging?.remove();
    this.staging = null;
    if (this.db.open) {
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
      this.db.close();
    }
    if (this.isNew) removeWithSidecars(this.file);
  }
}
