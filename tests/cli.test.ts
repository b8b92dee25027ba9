import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HAS_TOKENIZER, MANIFESTS, REPO, tempDir, TOKENIZER_JSON } from './utils.js';
import { startFakeWiki, type FakeWiki } from './mediawiki-server.js';
import { runCli } from './run-cli.js';

const LABEL_BANK = path.join(REPO, 'packages', 'label-bank', 'dist', 'cli.js');
const SENTSEG = path.join(REPO, 'packages', 'cli', 'dist', 'cli.js');
const dir = tempDir('sentseg-cli-');

const run = (bin: string, args: string[], cwd = dir) => runCli(bin, args, { cwd });

const sha = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

describe('--help everywhere', () => {
  it('sentseg lists its commands', async () => {
    const r = await run(SENTSEG, ['--help']);
    expect(r.code).toBe(0);
    for (const cmd of ['merge-datasets', 'manifest', 'label-bank', 'demo', 'train', 'eval', 'predict']) expect(r.stdout).toMatch(new RegExp(`sentseg ${cmd} `));
  });

  it.each(['fetch', 'embed', 'report', 'add', 'show', 'list', 'use', 'tiny-encoder'])('label-bank %s --help', async (cmd) => {
    const r = await run(LABEL_BANK, [cmd, '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`label-bank ${cmd}`);
    expect(r.stdout).toContain('--bank');
  });

  it('an unknown command or option is a usage error (exit 2)', async () => {
    const r = await run(LABEL_BANK, ['embedd']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('error: unknown command or argument "embedd"\nrun label-bank --help for usage\n');
  });

  it('names an unknown option once, as typed (yargs lists --bogus-flag as "bogus-flag, bogusFlag" and --no-such as "such")', async () => {
    const a = await run(SENTSEG, ['eval', '--run', 'x', '--dataset', 'y', '--bogus-flag', '1']);
    expect(a.code).toBe(2);
    expect(a.stderr).toBe('error: unknown option --bogus-flag\nrun sentseg eval --help for usage\n');
    const b = await run(LABEL_BANK, ['fetch', '--no-such', '--otherThing=2']);
    expect(b.code).toBe(2);
    expect(b.stderr.split('\n')[0]).toBe('error: unknown options --no-such, --otherThing');
  });

  it.each([
    [SENTSEG, ['label-bank', 'embed', '--modle', 'x'], 'sentseg label-bank embed'],
    [SENTSEG, ['manifest', 'stats'], 'sentseg manifest stats'],
    [SENTSEG, ['train', '--stpes', '3'], 'sentseg train'],
    [SENTSEG, ['trian'], 'sentseg'],
    [LABEL_BANK, ['add', 'kayak', '--descripton', 'a boat'], 'label-bank add'],
  ])('a usage mistake points at the help of the command it was made in (%#)', async (bin, args, command) => {
    const r = await run(bin, args);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n').at(-1)).toBe(`run ${command} --help for usage`);
  });
});

describe('bad input gives a clear error and leaves the bank as it was', () => {
  it('unknown label', async () => {
    const r = await run(LABEL_BANK, ['show', 'trafic light', '--bank', path.join(dir, 'show.sqlite')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown label "trafic light"/);
  });

  it('a model folder that is missing or not a text encoder', async () => {
    const bank = path.join(dir, 'nomodel.sqlite');
    const missing = await run(LABEL_BANK, ['embed', '--bank', bank, '--model', path.join(dir, 'no-such-model')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/error: model folder not found: .*no-such-model/);
    expect(existsSync(bank)).toBe(false);
    const notEncoder = await run(LABEL_BANK, ['embed', '--bank', bank, '--model', dir]);
    expect(notEncoder.code).toBe(2);
    expect(notEncoder.stderr).toMatch(/not a CLIP text encoder in transformers\.js layout \(no config\.json/);
  });

  it('a corrupt label-bank.sqlite is refused byte-for-byte untouched', async () => {
    const bank = path.join(dir, 'corrupt.sqlite');
    writeFileSync(bank, Buffer.concat([Buffer.from('SQLite format 3\0'), Buffer.alloc(5000, 7)]));
    const before = sha(bank);
    for (const args of [['list'], ['fetch', '--source', 'wordnet'], ['show', 'bus']]) {
      const r = await run(LABEL_BANK, [...args, '--bank', bank]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/corrupt\.sqlite is a damaged SQLite database, not a sentseg label bank \(label-bank\); it was left unchanged/);
    }
    expect(sha(bank)).toBe(before);
  });
});

describe('label-bank fetch over HTTP', () => {
  let wiki: FakeWiki;
  beforeAll(async () => {
    wiki = await startFakeWiki({
      articles: { Bus: { pageid: 1, extract: 'A bus is a large motor vehicle that carries passengers by road. It has seats.' } },
      hanging: ['Car'],
    });
  });
  afterAll(async () => wiki.close());

  it('prints a summary, or JSON with --json, and exits 2 naming the label whose request hung', async () => {
    const bank = path.join(dir, 'fetch.sqlite');
    const r = await run(LABEL_BANK, ['fetch', '--bank', bank, '--api-url', wiki.apiUrl, '--labels', 'bus,car,crib', '--timeout', '1000', '--retries', '1', '--backoff', '10', '--json']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/error: 1 of 3 labels not refreshed \(1 failed, 0 not looked up or cut short\); their descriptions are unchanged: car\n/);
    const report = JSON.parse(r.stdout) as { updated: { name: string }[]; kept: { name: string }[]; failed: { name: string; reason: string }[] };
    expect(report.updated.map((u) => u.name)).toEqual(['bus']);
    expect(report.kept.map((k) => k.name)).toEqual(['crib']);
    expect(report.failed).toEqual([{ name: 'car', reason: 'no answer within 1000 ms after 2 tries' }]);
    const show = await run(LABEL_BANK, ['show', 'bus', '--bank', bank]);
    expect(show.stdout).toMatch(/description: An image of bus\. A bus is a large motor vehicle that carries passengers by road\./);
    expect(show.stdout).toMatch(/source: wikipedia, fetched /);
    const text = await run(LABEL_BANK, ['fetch', '--bank', bank, '--api-url', wiki.apiUrl, '--labels', 'bus']);
    expect(text.stdout).toMatch(/wikipedia: 1 labels looked up\n {2}updated {8}0\n {2}unchanged {6}1/);
  });
});

describe.runIf(HAS_TOKENIZER)('embed, report, add, show through the bins', () => {
  const model = path.join(dir, 'enc');
  const bank = path.join(dir, 'main.sqlite');

  it('tiny-encoder → embed → report → add → show', async () => {
    expect((await run(LABEL_BANK, ['tiny-encoder', model, '--tokenizer', TOKENIZER_JSON])).code).toBe(0);
    const embed = await run(SENTSEG, ['label-bank', 'embed', '--bank', bank, '--model', model, '--json']);
    expect(embed.code).toBe(0);
    expect(JSON.parse(embed.stdout)).toMatchObject({ labels: 238, texts: 476, encoded: 476 });
    const again = await run(LABEL_BANK, ['embed', '--bank', bank]);
    expect(again.stdout).toMatch(/238 labels, 476 texts: 0 encoded, 476 from cache\n.* labels\/s/);

    const report = await run(LABEL_BANK, ['report', '--bank', bank, '--out', path.join(dir, 'rep')]);
    expect(report.code).toBe(0);
    expect(report.stdout).toMatch(/block score word +-?\d\.\d{4} +\(within/);
    expect(report.stdout).toMatch(/block score sentence +-?\d\.\d{4}/);
    expect(existsSync(path.join(dir, 'rep', 'report.html'))).toBe(true);

    const before = sha(bank);
    const tooLong = await run(LABEL_BANK, ['add', 'ramble', '--bank', bank, '--description', 'words and more words '.repeat(30)]);
    expect(tooLong.code).toBe(2);
    expect(tooLong.stderr).toMatch(/description of "ramble" is \d+ CLIP tokens; CLIP.s text encoder reads at most 77: shorten it/);
    expect(sha(bank)).toBe(before);

    const dupText = readFileSync(path.join(MANIFESTS, 'labels.json'), 'utf8');
    const bus = (JSON.parse(dupText) as { labels: { name: string; description: string }[] }).labels.find((l) => l.name === 'bus')!;
    const add = await run(LABEL_BANK, ['add', 'coach', '--bank', bank, '--description', bus.description]);
    expect(add.code).toBe(0);
    expect(add.stdout).toMatch(/added coach \(id 238, \d+ CLIP tokens\)/);
    expect(add.stdout).toMatch(/nearest labels:\n {2}1\.0000 {2}bus\n/);
    expect(add.stderr).toMatch(/warning: "coach" is 1\.000 cosine from "bus": the two will likely be confused/);

    const show = await run(LABEL_BANK, ['show', 'coach', '--bank', bank, '--json']);
    expect(JSON.parse(show.stdout)).toMatchObject({ label: { name: 'coach', source: 'manual', origin: 'added' }, neighbours: [{ name: 'bus' }, {}, {}, {}, {}] });
  });
});
