import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { listFiles, walkFiles } from '../src/paths.js';
import { tempDir } from '../../../tests/utils.js';

describe('walkFiles (the listing of folder-layout datasets, one folder in memory at a time)', () => {
  const dir = tempDir('sentseg-walk-');
  // Names where sorting folders by their bare name would give another order than sorting whole paths:
  // "a-b.png" sorts before "a/x.png" ("-" < "/") but the folder "a" before the file "a-b.png".
  const files = ['a/x.png', 'a/y/z.png', 'a-b.png', 'a.png', 'ab/c.png', 'b.png', 'b.txt', 'B.png', 'é.png', 'a/b-c/d.png', 'a/b/d.png', 'a/b.png'];
  for (let i = 0; i < 40; i++) files.push(`big/${String((i * 37) % 40).padStart(3, '0')}.png`);
  for (const f of files) {
    mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    writeFileSync(path.join(dir, f), '');
  }
  const png = (n: string) => n.endsWith('.png');
  const sortedPngs = files.filter(png).sort();

  it('yields every path in the order of the sorted whole paths, like listFiles', () => {
    expect([...walkFiles(dir, png)]).toEqual(sortedPngs);
    expect([...walkFiles(dir, png)]).toEqual(listFiles(dir, png));
  });

  it('gives the same order when folders are sorted in a temporary file (more entries than the spill threshold)', () => {
    expect([...walkFiles(dir, png, true, 3)]).toEqual(sortedPngs);
  });

  it('reads only the top folder when not recursive', () => {
    expect([...walkFiles(dir, png, false)]).toEqual(['B.png', 'a-b.png', 'a.png', 'b.png', 'é.png']);
    expect([...walkFiles(path.join(dir, 'missing'), png)]).toEqual([]);
  });
});
