import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import Database from 'better-sqlite3';

/**
 * What a SQLite file on disk is, told before anything writes to it: the manifest, the label bank
 * and the box-embedding cache all carry a `meta` table with a `schema_version`, so the version
 * alone cannot tell them apart (a label bank passed as `--out` of merge-datasets used to be opened
 * for writing and switched to WAL mode before the merge failed). Each kind is known by the tables
 * only it has.
 */
export type SqliteFileKind = 'missing' | 'directory' | 'empty' | 'not-sqlite' | 'damaged' | 'manifest' | 'label-bank' | 'box-embeddings' | 'other-sqlite';

/** Tables that only that kind of file has (all must be present). */
const KIND_TABLES: { kind: 'manifest' | 'label-bank' | 'box-embeddings'; tables: string[] }[] = [
  { kind: 'manifest', tables: ['meta', 'datasets', 'dataset_classes', 'images'] },
  { kind: 'label-bank', tables: ['meta', 'labels', 'embeddings'] },
  { kind: 'box-embeddings', tables: ['box_embeddings'] },
];

const KIND_NAMES: Record<SqliteFileKind, string> = {
  missing: 'a missing file',
  directory: 'a directory',
  empty: 'an empty file',
  'not-sqlite': 'not a SQLite database',
  damaged: 'a damaged SQLite database',
  manifest: 'a sentseg manifest (merge-datasets)',
  'label-bank': 'a sentseg label bank (label-bank)',
  'box-embeddings': 'a sentseg box-embedding cache (train)',
  'other-sqlite': 'a SQLite database of another program',
};

/** "a sentseg label bank (label-bank)": the kind in words, for error messages. */
export function describeSqliteKind(kind: SqliteFileKind): string {
  return KIND_NAMES[kind];
}

function hasSqliteHeader(file: string): boolean {
  const fd = openSync(file, 'r');
  try {
    const header = Buffer.alloc(16);
    return readSync(fd, header, 0, 16, 0) === 16 && header.toString('latin1') === 'SQLite format 3\u0000';
  } finally {
    closeSync(fd);
  }
}

/**
 * Reads which kind of file `file` is without changing it. The file is opened read-write but only
 * read: a read-only connection to a WAL-mode database leaves -wal/-shm files behind, a read-write
 * one removes them on close; neither writes the database itself. Falls back to read-only where the
 * file cannot be opened for writing.
 */
export function identifySqliteFile(file: string): SqliteFileKind {
  if (!existsSync(file)) return 'missing';
  const stat = statSync(file);
  if (stat.isDirectory()) return 'directory';
  if (stat.size === 0) return 'empty';
  if (!hasSqliteHeader(file)) return 'not-sqlite';
  let tables: Set<string>;
  try {
    tables = readTableNames(file, false);
  } catch {
    try {
      tables = readTableNames(file, true);
    } catch {
      return 'damaged';
    }
  }
  for (const { kind, tables: needed } of KIND_TABLES) if (needed.every((t) => tables.has(t))) return kind;
  return 'other-sqlite';
}

function readTableNames(file: string, readonly: boolean): Set<string> {
  const db = new Database(file, { readonly, fileMustExist: true });
  try {
    const rows = db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table'`).all() as { name: string }[];
    return new Set(rows.map((r) => r.name));
  } finally {
    db.close();
  }
}

/**
 * Null when `file` is of kind `expected` (or missing, when `missingIsFine`); otherwise one line
 * saying what it is instead, for the caller's own typed error: "label-bank.sqlite is a sentseg
 * label bank (label-bank), not a sentseg manifest (merge-datasets)".
 */
export function sqliteKindMismatch(file: string, expected: 'manifest' | 'label-bank' | 'box-embeddings', missingIsFine = false): string | null {
  const kind = identifySqliteFile(file);
  if (kind === expected || (kind === 'missing' && missingIsFine)) return null;
  return `${file} is ${describeSqliteKind(kind)}, not ${describeSqliteKind(expected)}`;
}
