import Database from 'better-sqlite3';
import { readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';

/**
 * A new manifest is built in `<out>.partial-<pid>` and renamed into place only when the whole merge
 * succeeded. A process killed outright (SIGKILL, power loss) cannot clean up after itself, so every
 * later run on the same `<out>` removes the partial files of processes that are no longer alive.
 */
export const partialPath = (target: string, pid = process.pid): string => `${target}.partial-${pid}`;

/** The file and the -wal, -shm and -journal files SQLite may keep beside it. */
export function removeWithSidecars(file: string): void {
  for (const f of [file, `${file}-wal`, `${file}-shm`, `${file}-journal`]) rmSync(f, { force: true });
}

/** Whether process `pid` exists (EPERM: it exists but belongs to someone else). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * A new manifest's merge killed outright leaves `<target>.partial-<pid>` with the datasets it had
 * finished: the next run takes the newest such file of a dead process that opens as a manifest of
 * `schemaVersion` and whose datasets it was asked for (`wanted`: the same names from the same
 * folders) as its own partial file (renamed to its pid), so those datasets are not merged again.
 * Returns the datasets it holds, or null when there was none to take.
 */
export function adoptStalePartial(target: string, schemaVersion: number, wanted: (datasets: { name: string; root: string }[]) => boolean): string[] | null {
  const candidates = partialFiles(target)
    .filter((f) => f.sidecar === '' && f.pid !== process.pid && !isAlive(f.pid))
    .map((f) => ({ file: f.file, mtime: statSync(f.file).mtimeMs }))
    .sort((a, b) => b.mtime - a.mtime);
  for (const { file } of candidates) {
    let datasets: string[] | null = null;
    try {
      // Read-write, so a -wal the killed process left is folded in (and removed) on close.
      const db = new Database(file, { fileMustExist: true });
      try {
        const version = db.prepare(`SELECT value FROM meta WHERE key = 'schema_version'`).pluck().get();
        const held = version === String(schemaVersion) ? (db.prepare(`SELECT name, root FROM datasets ORDER BY name`).all() as { name: string; root: string }[]) : null;
        if (held !== null && wanted(held)) datasets = held.map((d) => d.name);
      } finally {
        db.close();
      }
    } catch {
      datasets = null;
    }
    if (datasets === null) continue;
    removeWithSidecars(partialPath(target));
    renameSync(file, partialPath(target));
    removeWithSidecars(file);
    return datasets;
  }
  return null;
}

/** Removes `<target>.partial-<pid>` (and its sidecars) of dead processes and of this one; returns what it removed. */
export function removeStalePartials(target: string, keepOwn = false): string[] {
  const removed: string[] = [];
  for (const { file, pid } of partialFiles(target)) {
    if (pid === process.pid ? keepOwn : isAlive(pid)) continue;
    rmSync(file, { force: true });
    removed.push(file);
  }
  return removed;
}

/** The `<target>.partial-<pid>` files beside `target` and their SQLite sidecars (`sidecar` '' for the file itself). */
function partialFiles(target: string): { file: string; pid: number; sidecar: string }[] {
  const dir = path.dirname(target);
  const prefix = `${path.basename(target)}.partial-`;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const found: { file: string; pid: number; sidecar: string }[] = [];
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const match = /^(\d+)(-wal|-shm|-journal)?$/.exec(name.slice(prefix.length));
    if (match) found.push({ file: path.join(dir, name), pid: Number(match[1]), sidecar: match[2] ?? '' });
  }
  return found;
}
