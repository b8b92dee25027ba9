/**
 * A throw-away SQLite file in the temp folder, for adapters that stream annotation files too large
 * to hold in memory (rows go in as they are read; samples come out in a stable order by query).
 */
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fullGc } from './full-gc.js';
import { boundCache } from './sqlite-cache.js';

export class TempIndex {
  readonly db: Database.Database;
  private readonly dir: string;
  private pending = 0;

  constructor(prefix: string, schema: string) {
    this.dir = mkdtempSync(path.join(os.tmpdir(), `sentseg-${prefix}-`));
    this.db = new Database(path.join(this.dir, 'index.sqlite'));
    this.db.pragma('journal_mode = OFF');
    this.db.pragma('synchronous = OFF');
    boundCache(this.db);
    this.db.exec(schema);
  }

  /** Starts a bulk load: inserts go into transactions of `every` rows (call row() after each). */
  begin(): void {
    this.db.exec('BEGIN');
    this.pending = 0;
  }

  row(every = 50_000): void {
    if (++this.pending >= every) {
      fullGc();
      this.db.exec('COMMIT');
      this.db.exec('BEGIN');
      this.pending = 0;
    }
  }

  commit(): void {
    if (this.db.inTransaction) this.db.exec('COMMIT');
  }

  rollback(): void {
    if (this.db.inTransaction) this.db.exec('ROLLBACK');
  }

  /** Closes and deletes the file. */
  close(): void {
    this.db.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
