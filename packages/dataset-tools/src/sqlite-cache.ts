/**
 * The page cache of every SQLite connection merge-datasets opens, and of the manifest reader's. better-sqlite3 builds SQLite with
 * a 16 MB default (cache_size -16000) for each connection and each attached file; a cache fills as
 * its file grows, so with the default a merge held ~16 MB more per file at 1M images than at 10k.
 * 4 MiB is full by ~10,000 images (the B-tree's inner pages stay cached); SQLite's sorter (index
 * builds, ORDER BY) spills to temporary files beyond the same size.
 */
import type Database from 'better-sqlite3';

/** Cache size in KiB (negative: SQLite reads it as KiB, not pages). */
export const CACHE_KIB = 4096;

/** Bounds the page cache of `db` (of its attached file `schema` when given). */
export function boundCache(db: Database.Database, schema?: string): void {
  db.pragma(`${schema ? `${schema}.` : ''}cache_size = -${CACHE_KIB}`);
}
