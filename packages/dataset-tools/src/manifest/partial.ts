import { readdirSync, rmSync } from 'node:fs';
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

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes `<target>.partial-<pid>` (and its sidecars) of dead processes and of this one; returns what it removed. */
export function removeStalePartials(target: string): string[] {
  const dir = path.dirname(target);
  const prefix = `${path.basename(target)}.partial-`;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const match = /^(\d+)(-wal|-shm|-journal)?$/.exec(name.slice(prefix.length));
    if (!match) continue;
    const pid = Number(match[1]);
    if (pid !== process.pid && isAlive(pid)) continue;
    rmSync(path.join(dir, name), { force: true });
    removed.push(path.join(dir, name));
  }
  return removed;
}
