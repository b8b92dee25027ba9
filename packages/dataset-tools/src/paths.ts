import { readdirSync, type Dirent } from 'node:fs';
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

export const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png'];
export const isImage = (name: string) => IMAGE_EXTENSIONS.includes(path.extname(name).toLowerCase());
export const stem = (file: string) => path.basename(file, path.extname(file));
