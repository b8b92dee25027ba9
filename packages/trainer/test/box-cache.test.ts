import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { BOX_CACHE_SCHEMA_VERSION, BoxEmbeddingCache } from '../src/boxes/clip-boxes.js';
import { TrainerError } from '../src/errors.js';
import { tempDir } from '../../../tests/utils.js';
import { writeBank } from '../../../tests/training-world.js';

const dir = tempDir('sentseg-box-cache-');
const hash = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');
const leftovers = (file: string) => ['-wal', '-shm', '-journal'].map((s) => `${file}${s}`).filter((f) => existsSync(f));
const vector = Float32Array.from([0.6, 0.8]);

describe('the box-embedding cache', () => {
  it('is a versioned file: a meta table with its schema_version, like the manifest and the label bank', () => {
    const file = path.join(dir, 'new.sqlite');
    const cache = new BoxEmbeddingCache(file);
    cache.putMany('model', [{ key: 'a/1.jpg#0,0,4,4', vector }]);
    cache.close();
    const db = new Database(file, { readonly: true });
    expect(db.prepare(`SELECT value FROM meta WHERE key = 'schema_version'`).get()).toEqual({ value: String(BOX_CACHE_SCHEMA_VERSION) });
    db.close();
    const again = new BoxEmbeddingCache(file);
    expect(Array.from(again.get('model', 'a/1.jpg#0,0,4,4') ?? [])).toEqual(Array.from(vector));
    again.close();
    expect(leftovers(file)).toEqual([]);
  });

  it('refuses a label bank named as the cache before writing to it: the bank stays byte-identical', () => {
    const bank = path.join(dir, 'label-bank.sqlite');
    writeBank(bank, 4);
    const before = hash(bank);
    expect(() => new BoxEmbeddingCache(bank)).toThrow(
      new TrainerError(`box-embedding cache (boxCache): ${bank} is a sentseg label bank (label-bank), not a sentseg box-embedding cache (train); name another file with --set boxCache=FILE`),
    );
    expect(hash(bank)).toBe(before);
    expect(leftovers(bank)).toEqual([]);
  });

  it('refuses a SQLite file of another program, and a cache of another schema version', () => {
    const other = path.join(dir, 'other.sqlite');
    const db = new Database(other);
    db.exec('CREATE TABLE notes (text TEXT)');
    db.close();
    const before = hash(other);
    expect(() => new BoxEmbeddingCache(other)).toThrow(`${other} is a SQLite database of another program, not a sentseg box-embedding cache (train)`);
    expect(hash(other)).toBe(before);

    const newer = path.join(dir, 'newer.sqlite');
    new BoxEmbeddingCache(newer).close();
    const w = new Database(newer);
    w.prepare(`UPDATE meta SET value = '2' WHERE key = 'schema_version'`).run();
    w.close();
    expect(() => new BoxEmbeddingCache(newer)).toThrow(`box-embedding cache ${newer} has schema 2, this trainer reads 1: delete it (it is recomputed) or name another file with --set boxCache=FILE`);
    expect(leftovers(newer)).toEqual([]);
  });

  it('upgrades a cache written before the meta table existed, keeping its embeddings', () => {
    const old = path.join(dir, 'old.sqlite');
    const db = new Database(old);
    db.exec(`CREATE TABLE box_embeddings (model_id TEXT NOT NULL, box_key TEXT NOT NULL, dim INTEGER NOT NULL, vector BLOB NOT NULL, PRIMARY KEY (model_id, box_key))`);
    db.prepare('INSERT INTO box_embeddings VALUES (?, ?, ?, ?)').run('model', 'k', 2, Buffer.from(vector.buffer));
    db.close();
    const cache = new BoxEmbeddingCache(old);
    expect(Array.from(cache.get('model', 'k') ?? [])).toEqual(Array.from(vector));
    expect(cache.count('model')).toBe(1);
    cache.close();
    const check = new Database(old, { readonly: true });
    expect(check.prepare(`SELECT value FROM meta WHERE key = 'schema_version'`).get()).toEqual({ value: '1' });
    check.close();
  });

  it('is closed when the process exits without closing it (a second Ctrl-C): no -wal/-shm left, the rows kept', () => {
    const file = path.join(dir, 'exit.sqlite');
    const module = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'boxes', 'clip-boxes.js');
    expect(existsSync(module), `${module}: run npm run build`).toBe(true);
    const script = `
      const { BoxEmbeddingCache } = await import(${JSON.stringify(module)});
      const cache = new BoxEmbeddingCache(${JSON.stringify(file)});
      cache.putMany('model', [{ key: 'k', vector: Float32Array.from([1, 0]) }]);
      process.exit(130);`;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(child.stderr).toBe('');
    expect(child.status).toBe(130);
    expect(leftovers(file)).toEqual([]);
    const db = new Database(file, { readonly: true });
    expect((db.prepare('SELECT COUNT(*) AS n FROM box_embeddings').get() as { n: number }).n).toBe(1);
    db.close();
  });
});
