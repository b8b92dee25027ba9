import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../../tests/utils.js';
import { replaceAtomic, tempPathFor, writeAtomic } from '../src/write-atomic.js';

const dir = tempDir();

describe('writeAtomic', () => {
  it('writes the file (and its folder) and leaves nothing beside it', () => {
    const file = path.join(dir, 'new', 'out.json');
    writeAtomic(file, '{"a":1}');
    expect(readFileSync(file, 'utf8')).toBe('{"a":1}');
    expect(readdirSync(path.dirname(file))).toEqual(['out.json']);
  });

  it('a write that fails halfway leaves the old file byte-identical and no temp file', () => {
    const folder = path.join(dir, 'half');
    mkdirSync(folder);
    const file = path.join(folder, 'weights.bin');
    const old = Uint8Array.from([0, 1, 2, 255, 254]);
    writeFileSync(file, old);
    expect(() =>
      replaceAtomic(file, (tmp) => {
        writeFileSync(tmp, 'half of the new');
        throw new Error('disk full');
      }),
    ).toThrow('disk full');
    expect(new Uint8Array(readFileSync(file))).toEqual(old);
    expect(readdirSync(folder)).toEqual(['weights.bin']);
  });

  it('a rename that fails leaves no temp file', () => {
    const folder = path.join(dir, 'rename');
    const target = path.join(folder, 'taken');
    mkdirSync(path.join(target, 'inside'), { recursive: true });
    expect(() => writeAtomic(target, 'data')).toThrow();
    expect(readdirSync(folder)).toEqual(['taken']);
    expect(readdirSync(target)).toEqual(['inside']);
  });

  it('names the temp file in the target\'s own folder', () => {
    expect(path.dirname(tempPathFor('/a/b/c.sqlite'))).toBe('/a/b');
    expect(tempPathFor('/a/b/c.sqlite')).not.toBe('/a/b/c.sqlite');
  });
});
