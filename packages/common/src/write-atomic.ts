import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * The one name of a temp file (or folder) that becomes `target` by a rename: in the same folder
 * (so the rename never crosses file systems), hidden, and marked with the writing process's pid.
 */
export function tempPathFor(target: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.${process.pid}.tmp`);
}

/**
 * Builds `target` at its temp path with `build(tmp)` and renames it into place, so readers see the
 * old file or the whole new one, never half of it. On failure the temp file (or folder) is removed
 * and the old target is left as it was.
 */
export function replaceAtomic<T>(target: string, build: (tmp: string) => T): T {
  const tmp = tempPathFor(target);
  rmSync(tmp, { recursive: true, force: true });
  try {
    const result = build(tmp);
    renameSync(tmp, target);
    return result;
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
}

/** Writes a file through a temp file and a rename (creating its folder), so readers never see half of it. */
export function writeAtomic(file: string, data: string | Uint8Array): void {
  mkdirSync(path.dirname(file), { recursive: true });
  replaceAtomic(file, (tmp) => writeFileSync(tmp, data));
}
