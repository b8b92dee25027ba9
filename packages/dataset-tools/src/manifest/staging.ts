/**
 * A dataset being merged is written to its own SQLite file beside the manifest,
 * `<out>.merging-<name>`, committed every few thousand samples with a resume marker (how many items
 * of the dataset's stable sample order are written). Only when the dataset is complete are its rows
 * copied into the manifest, in one transaction: readers of the manifest never see half a dataset,
 * and a run killed outright (SIGKILL, a crash, power loss) leaves the staging file, from which the
 * same command continues.
 */
import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { DatasetError } from '../errors.js';
import { isAlive, removeWithSidecars } from './partial.js';
import { boundCache } from '../sqlite-cache.js';

export const STAGING_SQL = `
CREATE TABLE resume (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE images (id INTEGER PRIMARY KEY, split TEXT NOT NULL, image_path TEXT NOT NULL, mask_path TEXT, width INTEGER NOT NULL, height INTEGER NOT NULL);
CREATE TABLE image_labels (image_id INTEGER NOT NULL, label_id INTEGER NOT NULL, pixels INTEGER NOT NULL, PRIMARY KEY (image_id, label_id));
CREATE TABLE segments (image_id INTEGER NOT NULL, segment_id INTEGER NOT NULL, source_id INTEGER NOT NULL, PRIMARY KEY (image_id, segment_id));
CREATE TABLE boxes (image_id INTEGER NOT NULL, source_id INTEGER NOT NULL, x REAL NOT NULL, y REAL NOT NULL, w REAL NOT NULL, h REAL NOT NULL);
CREATE TABLE instance_masks (image_id INTEGER NOT NULL, source_id INTEGER NOT NULL, mask_path TEXT NOT NULL);
CREATE TABLE problems (file TEXT NOT NULL, reason TEXT NOT NULL);
CREATE TABLE image_sources (image_id INTEGER PRIMARY KEY, signature TEXT NOT NULL);
CREATE TABLE changed (image_id INTEGER PRIMARY KEY);
-- --update: the manifest's images whose files did not change (their rows stay where they are), and
-- those files (their problem rows stay too).
CREATE TABLE kept (image_id INTEGER PRIMARY KEY);
CREATE TABLE kept_files (file TEXT PRIMARY KEY);
`;

/** Where a dataset of `target` is staged: the name is kept readable, with a digest when it had to be changed. */
export function stagingPath(target: string, dataset: string): string {
  const safe = dataset.replace(/[^A-Za-z0-9_.-]/g, '_');
  const suffix = safe === dataset ? safe : `${safe}-${createHash('sha256').update(dataset).digest('hex').slice(0, 8)}`;
  return `${target}.merging-${suffix}`;
}

/** Where a staging file stands: items of the sample order written, images and problem rows among them. */
export interface StagedProgress {
  items: number;
  images: number;
  problems: number;
  firstProblem: { file: string; reason: string } | null;
}

export class Staging {
  readonly file: string;
  readonly db: Database.Database;
  /** What an interrupted run had written (null: a fresh start). */
  readonly resumed: StagedProgress | null;
  /** Why an existing staging file was not continued (other arguments, another format version), or null. */
  readonly discarded: string | null;
  private readonly setValue: Database.Statement;

  private constructor(file: string, db: Database.Database, resumed: StagedProgress | null, discarded: string | null) {
    this.file = file;
    this.db = db;
    this.resumed = resumed;
    this.discarded = discarded;
    this.setValue = db.prepare(`INSERT OR REPLACE INTO resume (key, value) VALUES (?, ?)`);
  }

  /**
   * Opens the staging file of `dataset`: continues it when it was left by a process that is no
   * longer alive with the same `fingerprint` (the dataset's format, folder, taxonomy and merge
   * options), else starts it afresh. A staging file of a live process is refused: another
   * merge-datasets is writing the same dataset into the same manifest.
   */
  static open(target: string, dataset: string, fingerprint: string): Staging {
    const file = stagingPath(target, dataset);
    let discarded: string | null = null;
    if (existsSync(file)) {
      let state: Map<string, string> | null = null;
      try {
        const db = new Database(file, { fileMustExist: true });
        try {
          state = new Map((db.prepare(`SELECT key, value FROM resume`).all() as { key: string; value: string }[]).map((r) => [r.key, r.value]));
        } finally {
          db.close();
        }
      } catch {
        discarded = 'it could not be read';
      }
      const owner = Number(state?.get('pid'));
      if (state && owner !== process.pid && Number.isInteger(owner) && owner > 0 && isAlive(owner)) {
        throw new DatasetError('MANIFEST', `another merge-datasets (pid ${owner}) is writing ${dataset} into ${target} (${file}); wait for it, or stop it first`);
      }
      if (state && state.get('fingerprint') === fingerprint && state.get('items') !== undefined) {
        const db = Staging.connect(file);
        db.prepare(`INSERT OR REPLACE INTO resume (key, value) VALUES ('pid', ?)`).run(String(process.pid));
        const first = state.get('first_problem');
        const resumed: StagedProgress = {
          items: Number(state.get('items')),
          images: Number(state.get('images')),
          problems: Number(state.get('problems')),
          firstProblem: first ? (JSON.parse(first) as { file: string; reason: string }) : null,
        };
        return new Staging(file, db, resumed, null);
      }
      discarded ??= 'it was written with other arguments';
      removeWithSidecars(file);
    }
    const db = Staging.connect(file);
    db.exec(STAGING_SQL);
    db.prepare(`INSERT INTO resume (key, value) VALUES ('fingerprint', ?), ('pid', ?)`).run(fingerprint, String(process.pid));
    return new Staging(file, db, null, discarded);
  }

  private static connect(file: string): Database.Database {
    const db = new Database(file);
    db.pragma('journal_mode = WAL');
    // A chunk lost to a power cut is read again; the file stays consistent either way.
    db.pragma('synchronous = NORMAL');
    boundCache(db);
    return db;
  }

  /** Records how far the sample order is written; called inside the chunk's transaction. */
  mark(progress: StagedProgress): void {
    this.setValue.run('items', String(progress.items));
    this.setValue.run('images', String(progress.images));
    this.setValue.run('problems', String(progress.problems));
    if (progress.firstProblem) this.setValue.run('first_problem', JSON.stringify(progress.firstProblem));
  }

  /** Closes the connection, keeping the file (to continue from). */
  close(): void {
    if (!this.db.open) return;
    if (this.db.inTransaction) this.db.exec('ROLLBACK');
    this.db.pragma('wal_checkpoint(TRUNCATE)');
    this.db.close();
  }

  /** Closes and removes the file and its sidecars. */
  remove(): void {
    if (this.db.open) {
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
      this.db.close();
    }
    removeWithSidecars(this.file);
  }

  get name(): string {
    return path.basename(this.file);
  }
}
