import Database from 'better-sqlite3';
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { LabelBankError } from '../src/errors.js';
import { LabelBank } from '../src/store/bank.js';
import { tempDir } from '../../../tests/utils.js';

const dir = tempDir();
let n = 0;
const fresh = () => LabelBank.open(path.join(dir, `bank-${n++}.sqlite`));

function expectCode(fn: () => unknown, code: string, message?: RegExp): void {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(LabelBankError);
    expect((err as LabelBankError).code).toBe(code);
    if (message) expect((err as Error).message).toMatch(message);
    return;
  }
  throw new Error(`expected ${code}`);
}

describe('LabelBank', () => {
  it('is created from the shipped labels with nothing to fetch', () => {
    const bank = fresh();
    const labels = bank.labels();
    expect(labels).toHaveLength(238);
    expect(labels[180]).toMatchObject({ id: 180, name: 'bus', group: 'vehicles', source: 'shipped', origin: 'shipped', wikipediaTitle: 'Bus' });
    expect(bank.descriptions('bus')).toEqual([expect.objectContaining({ source: 'shipped', text: labels[180]?.description })]);
    bank.close();
  });

  it('refuses an empty description and leaves the label as it was', () => {
    const bank = fresh();
    const before = bank.label('car');
    expectCode(() => bank.setDescription('car', '   ', 'manual'), 'EMPTY_DESCRIPTION');
    expect(bank.label('car')).toEqual(before);
    bank.close();
  });

  it('names an unknown label and suggests close ones', () => {
    const bank = fresh();
    expectCode(() => bank.requireLabel('traffic'), 'UNKNOWN_LABEL', /unknown label "traffic".*did you mean: .*traffic light/);
    expectCode(() => bank.setDescription('no such thing', 'x', 'manual'), 'UNKNOWN_LABEL');
    bank.close();
  });

  it('keeps every source\'s text and switches between them', () => {
    const bank = fresh();
    const shipped = bank.label('dog')?.description;
    bank.setDescription('dog', 'An image of dog. A dog is a wolf that lives with people.', 'wikipedia');
    expect(bank.label('dog')).toMatchObject({ source: 'wikipedia' });
    expect(bank.descriptions('dog').map((d) => d.source)).toEqual(['shipped', 'wikipedia']);
    const switched = bank.useSource('shipped', ['dog', 'cat']);
    expect(switched).toEqual({ switched: ['dog', 'cat'], without: [] });
    expect(bank.label('dog')).toMatchObject({ source: 'shipped', description: shipped, fetchedAt: null });
    expect(bank.useSource('wordnet', ['dog'])).toEqual({ switched: [], without: ['dog'] });
    bank.close();
  });

  it('adds and removes zero-shot labels after the shipped ones', () => {
    const bank = fresh();
    const added = bank.addLabel({ name: 'zebra crossing', group: 'ground', description: 'An image of zebra crossing. Stripes.', source: 'manual' });
    expect(added).toMatchObject({ id: 238, origin: 'added', source: 'manual' });
    expectCode(() => bank.addLabel({ name: 'bus', group: 'g', description: 'x', source: 'manual' }), 'LABEL_EXISTS');
    expectCode(() => bank.removeLabel('bus'), 'BAD_ARGUMENT', /shipped/);
    bank.removeLabel('zebra crossing');
    expect(bank.labels()).toHaveLength(238);
    bank.close();
  });

  it('rolls back a transaction that fails half-way', () => {
    const bank = fresh();
    expect(() =>
      bank.atomically(() => {
        bank.addLabel({ name: 'half', group: 'g', description: 'An image of half. x.', source: 'manual' });
        bank.putEmbeddings('m', [{ text: 'x', vector: new Float32Array([1, 0]) }]);
        throw new Error('killed');
      }),
    ).toThrow('killed');
    expect(bank.label('half')).toBeUndefined();
    expect(bank.countEmbeddings()).toBe(0);
    bank.close();
  });

  it('stores float32 vectors byte-exact, keyed by model and text', () => {
    const bank = fresh();
    const v = new Float32Array([0.6, -0.8, 1e-7]);
    bank.registerModel('m', '/models/m', 3);
    bank.putEmbeddings('m', [{ text: 'An image of bus.', vector: v }]);
    expect(Array.from(bank.embedding('m', 'An image of bus.') ?? [])).toEqual(Array.from(v));
    expect(bank.embedding('other', 'An image of bus.')).toBeUndefined();
    expect(bank.missingTexts('m', ['An image of bus.', 'An image of car.', 'An image of car.'])).toEqual(['An image of car.']);
    expectCode(() => bank.registerModel('m', '/models/m', 4), 'BAD_ARGUMENT', /3-d/);
    bank.close();
  });
});

describe('opening a bad bank', () => {
  it('refuses a file that is not SQLite and does not touch it', () => {
    const file = path.join(dir, 'garbage.sqlite');
    writeFileSync(file, 'this is not a database at all, just some text that is long enough');
    const before = readFileSync(file);
    expectCode(() => LabelBank.open(file), 'NOT_A_BANK', /garbage\.sqlite is not a SQLite database, not a sentseg label bank/);
    expect(readFileSync(file)).toEqual(before);
  });

  it('refuses a truncated bank', () => {
    const good = path.join(dir, 'good.sqlite');
    LabelBank.open(good).close();
    const cut = path.join(dir, 'cut.sqlite');
    writeFileSync(cut, readFileSync(good).subarray(0, 4096 + 100));
    const before = readFileSync(cut);
    expect(() => LabelBank.open(cut)).toThrow(LabelBankError);
    expect(readFileSync(cut)).toEqual(before);
  });

  it('refuses a SQLite file that is not a label bank, and a bank of another schema version', () => {
    const other = path.join(dir, 'other.sqlite');
    const db = new Database(other);
    db.exec('CREATE TABLE t (x)');
    db.close();
    expectCode(() => LabelBank.open(other), 'NOT_A_BANK', /other\.sqlite is a SQLite database of another program, not a sentseg label bank/);
    const future = path.join(dir, 'future.sqlite');
    copyFileSync(path.join(dir, 'good.sqlite'), future);
    const f = new Database(future);
    f.prepare(`UPDATE meta SET value = '99' WHERE key = 'schema_version'`).run();
    f.close();
    expectCode(() => LabelBank.open(future), 'BANK_VERSION', /schema 99/);
  });

  it('does not create a bank when opened read-only', () => {
    const file = path.join(dir, 'absent.sqlite');
    expectCode(() => LabelBank.open(file, { readonly: true }), 'BANK_MISSING', /not found/);
    expect(existsSync(file)).toBe(false);
  });
});
