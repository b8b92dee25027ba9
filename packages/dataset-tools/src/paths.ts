import { opendirSync, readdirSync, type Dirent } from 'node:fs';
import { TempIndex } from './temp-index.js';
import path from 'node:path';

/** `rel` resolved inside `root`, or null when it points outside it (../../etc/passwd, absolute paths). */
export function insideRoot(root: string, rel: string): string | null {
  if (path.isAbsolute(rel)) return null;
  const abs = path.resolve(root, rel);
  const back = path.relative(root, abs);
  return back === '' || back.startsWith('..') || path.isAbsolute(back) ? null : abs;
}

/** Relative paths (with /) of the files under `dir` whose names pass `keep`, sorted; [] if dir is missing. */
export function listFiles(dir: string, keep: (name: string) => boolean, recursive = true): string[] {
  const out: string[] = [];
  const walk = (sub: string) => {
    let entries: Dirent[];
    try {
      entries = readdirSync(path.join(dir, sub), { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const rel = sub === '' ? e.name : `${sub}/${e.name}`;
      if (e.isDirectory()) {
        if (recursive) walk(rel);
      } else if (keep(e.name)) out.push(rel);
    }
  };
  walk('');
  return out.sort();
}

/** Directories with more entries than this are sorted in a temporary SQLite file rather than in memory. */
const SPILL_ENTRIES = 50_000;

/**
 * The same paths in the same order as listFiles, yielded one at a time with bounded memory: each
 * folder is read and sorted on its own (a sub-folder sorts as its name followed by "/", so the
 * order is that of the whole relative paths), and a folder of more than 50,000 entries is sorted in
 * a temporary SQLite file (byte order of UTF-8, the same as JavaScript's for every name without
 * characters above U+FFFF). Memory is bounded by one folder's names, not by the dataset's.
 */
export function* walkFiles(dir: string, keep: (name: string) => boolean, recursive = true, spillAt = SPILL_ENTRIES): Generator<string> {
  yield* walkFolder(dir, '', keep, recursive, spillAt);
}

function* walkFolder(dir: string, sub: string, keep: (name: string) => boolean, recursive: boolean, spillAt: number): Generator<string> {
  let handle: ReturnType<typeof opendirSync>;
  try {
    handle = opendirSync(path.join(dir, sub), { bufferSize: 256 });
  } catch {
    return;
  }
  // Keys: a file's name, or a folder's name followed by "/".
  let keys: string[] = [];
  let spill: TempIndex | null = null;
  try {
    for (let e = handle.readSync(); e !== null; e = handle.readSync()) {
      const key = e.isDirectory() ? (recursive ? `${e.name}/` : null) : keep(e.name) ? e.name : null;
      if (key === null) continue;
      keys.push(key);
      if (keys.length >= spillAt) {
        spill ??= new TempIndex('walk', 'CREATE TABLE k (key TEXT PRIMARY KEY) WITHOUT ROWID');
        const insert = spill.db.prepare('INSERT INTO k (key) VALUES (?)');
        spill.db.transaction(() => keys.forEach((k) => insert.run(k)))();
        keys = [];
      }
    }
  } finally {
    handle.closeSync();
  }
  const emit = function* (key: string): Generator<string> {
    const rel = sub === '' ? key : `${sub}/${key}`;
    if (key.endsWith('/')) yield* walkFolder(dir, rel.slice(0, -1), keep, recursive, spillAt);
    else yield rel;
  };
  if (spill === null) {
    keys.sort();
    for (const key of keys) yield* emit(key);
    return;
  }
  try {
    const insert = spill.db.prepare('INSERT INTO k (key) VALUES (?)');
    spill.db.transaction(() => keys.forEach((k) => insert.run(k)))();
    keys = [];
    const page = spill.db.prepare('SELECT key FROM k WHERE key > ? ORDER BY key LIMIT 1000').pluck();
    let after = '';
    for (;;) {
      const batch = page.all(after) as string[];
      if (batch.length === 0) break;
      after = batch[batch.length - 1] as string;
      for (const key of batch) yield* emit(key);
    }
  } finally {
    spill.close();
  }
}

export const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png'];
export const isImage = (name: string) => IMAGE_EXTENSIONS.includes(path.extname(name).toLowerCase());
export const stem = (file: string) => path.basename(file, path.extname(file));
