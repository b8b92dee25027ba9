/**
 * label-bank as a new user meets it in the first hour (issue 11): the wrong file given as --bank,
 * a Wikipedia that does not answer, a fetch that could not refresh everything, `--help`, and
 * `--json` read through a pipe. Every check runs the built bin in a child process.
 */
import Database from 'better-sqlite3';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LabelBank } from '@sentseg/label-bank';
import { REPO, tempDir } from './utils.js';
import { closedApiUrl, startFakeWiki, startSilentServer, type FakeWiki, type SilentServer } from './mediawiki-server.js';
import { BIN, runCli } from './run-cli.js';

const LABEL_BANK = path.join(REPO, 'packages', 'label-bank', 'dist', 'cli.js');
const dir = tempDir('sentseg-label-bank-first-hour-');

const run = (args: string[], cwd = dir) => runCli(BIN.labelBank, args, { cwd });

const sha = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

/** The files of a folder: a command that left -wal, -shm or -journal files behind shows here. */
const filesIn = (folder: string) => readdirSync(folder).sort();

describe('a file of the wrong kind given as --bank', () => {
  const folder = path.join(dir, 'wrong-kind');
  mkdirSync(folder);
  // What merge-datasets writes, as far as telling kinds apart goes: WAL mode, a meta table with
  // schema_version 1 (the version a label bank has too), and the manifest's own tables.
  const manifest = path.join(folder, 'manifest.sqlite');
  const db = new Database(manifest);
  db.pragma('journal_mode = WAL');
  db.exec(`CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    INSERT INTO meta (key, value) VALUES ('schema_version', '1');
    CREATE TABLE datasets (name TEXT PRIMARY KEY, root TEXT NOT NULL);
    CREATE TABLE dataset_classes (dataset TEXT NOT NULL, source_id INTEGER NOT NULL, label TEXT);
    CREATE TABLE images (id INTEGER PRIMARY KEY, dataset TEXT NOT NULL, path TEXT NOT NULL);`);
  db.close();
  const other = path.join(folder, 'notes.db');
  const o = new Database(other);
  o.exec(`CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT); INSERT INTO notes (text) VALUES ('keep me');`);
  o.close();
  const text = path.join(folder, 'labels.csv');
  writeFileSync(text, 'name,description\nbus,A bus is a road vehicle.\n');

  it.each([
    ['a manifest', manifest, 'is a sentseg manifest \\(merge-datasets\\)'],
    ["another program's SQLite file", other, 'is a SQLite database of another program'],
    ['a file that is not SQLite', text, 'is not a SQLite database'],
  ])('%s is refused with its path and what it is, and left byte-identical with no -wal/-shm', async (_what, file, kind) => {
    const before = sha(file);
    const listing = filesIn(folder);
    for (const args of [['list', '--json'], ['use', '--source', 'shipped'], ['fetch', '--source', 'wordnet'], ['report', '--out', path.join(dir, 'no-report')]]) {
      const r = await run([...args, '--bank', file]);
      expect(r.code, `${args[0]}: ${r.stderr}`).toBe(2);
      const escaped = file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      expect(r.stderr).toMatch(new RegExp(`^error: ${escaped} ${kind}, not a sentseg label bank \\(label-bank\\); it was left unchanged\\n$`));
      expect(r.stdout).toBe('');
      expect(sha(file)).toBe(before);
      expect(filesIn(folder)).toEqual(listing);
    }
  });
});

describe('a --bank or --api-url that cannot be right', () => {
  it.each(['list', 'fetch', 'embed'])('%s with --bank in a folder that does not exist: exit 2, one line, no folder made', async (command) => {
    const missing = path.join(dir, 'no-such-folder');
    const r = await run([command, '--bank', path.join(missing, 'label-bank.sqlite')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`error: the folder of the label bank does not exist: ${missing} (create it first: mkdir -p ${missing})\n`);
    expect(existsSync(missing)).toBe(false);
  });

  it.each([['not-a-url'], ['ftp://mirror.example/w/api.php']])('fetch --api-url %s is refused up front, before any label is looked up', async (url) => {
    const bank = path.join(dir, 'api-url.sqlite');
    const r = await run(['fetch', '--labels', 'bus,car', '--api-url', url, '--bank', bank]);
    expect(r.code).toBe(2);
    expect(r.stderr.split('\n')[0]).toBe(`error: --api-url must be an http(s) URL of a MediaWiki api.php, got "${url}"`);
    expect(r.stderr).not.toContain('bus');
    expect(existsSync(bank)).toBe(false);
  });
});

describe('label-bank fetch against a slow or silent server', () => {
  let wiki: FakeWiki;
  let silent: SilentServer;
  beforeAll(async () => {
    wiki = await startFakeWiki({
      articles: { Bus: { pageid: 1, extract: 'A bus is a large motor vehicle that carries passengers by road. It has seats.' } },
      hanging: ['Car'],
    });
    silent = await startSilentServer();
  });
  afterAll(async () => {
    await wiki.close();
    await silent.close();
  });

  it('reports each label on stderr as it finishes; --deadline cancels what is in flight, keeps what finished, lists the rest, exit 2', async () => {
    const bank = path.join(dir, 'deadline.sqlite');
    // One at a time: bus answers, car hangs (a 60 s timeout never fires), crib never starts.
    const r = await run(['fetch', '--bank', bank, '--api-url', wiki.apiUrl, '--labels', 'bus,car,crib', '--concurrency', '1', '--timeout', '60000', '--deadline', '3', '--json']);
    expect(r.code, r.stderr).toBe(2);
    expect(r.ms).toBeLessThan(8000);
    const report = JSON.parse(r.stdout) as { updated: { name: string }[]; notRefreshed: { name: string; reason: string }[] };
    expect(report.updated.map((u) => u.name)).toEqual(['bus']);
    expect(report.notRefreshed).toEqual([
      { name: 'car', reason: 'the --deadline of 3 s passed' },
      { name: 'crib', reason: 'the --deadline of 3 s passed' },
    ]);
    expect(r.stderr.split('\n')).toEqual([
      `fetch: 3 labels from ${wiki.apiUrl} (each request cancelled after 60000 ms, 3 retries; --deadline 3 s)`,
      'fetch: [1/3] bus: updated',
      'fetch: [2/3] car: not refreshed (the --deadline of 3 s passed)',
      'fetch: [3/3] crib: not refreshed (the --deadline of 3 s passed)',
      'error: 2 of 3 labels not refreshed (0 failed, 2 not looked up or cut short); their descriptions are unchanged: car, crib',
      '',
    ]);
    const after = LabelBank.open(bank, { readonly: true });
    expect(after.label('bus')?.source).toBe('wikipedia');
    expect(after.label('car')?.source).toBe('shipped');
    expect(after.label('crib')?.source).toBe('shipped');
    after.close();
    expect(filesIn(dir).filter((f) => f.startsWith('deadline.sqlite'))).toEqual(['deadline.sqlite']);
  });

  it('--timeout bounds each request to a server that accepts the connection and never answers; retries are shown', async () => {
    const bank = path.join(dir, 'silent.sqlite');
    const r = await run(['fetch', '--bank', bank, '--api-url', silent.apiUrl, '--labels', 'bus,car', '--timeout', '300', '--retries', '1', '--backoff', '10']);
    expect(r.code, r.stderr).toBe(2);
    expect(r.ms).toBeLessThan(6000);
    // Said before the first answer, so the wait is never silent.
    expect(r.stderr.split('\n')[0]).toBe(`fetch: 2 labels from ${silent.apiUrl} (each request cancelled after 300 ms, 1 retries; no --deadline)`);
    expect(r.stderr).toMatch(/^fetch: "Bus": no answer within 300 ms; try 2 in 10 ms$/m);
    expect(r.stderr).toMatch(/^fetch: \[\d\/2\] bus: failed \(no answer within 300 ms after 2 tries\)$/m);
    expect(r.stderr).toMatch(/^fetch: \[\d\/2\] car: failed \(no answer within 300 ms after 2 tries\)$/m);
    expect(r.stderr).toMatch(/^error: 2 of 2 labels not refreshed \(2 failed, 0 not looked up or cut short\); their descriptions are unchanged: bus, car$/m);
    expect(r.stdout).toMatch(/^ {2}FAILED bus: no answer within 300 ms after 2 tries$/m);
  });

  it('with no network it changes nothing, lists the labels it could not refresh, and exits 2', async () => {
    const bank = path.join(dir, 'offline.sqlite');
    LabelBank.open(bank).close();
    const before = sha(bank);
    const r = await run(['fetch', '--bank', bank, '--api-url', await closedApiUrl()]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stdout).toMatch(/^ {2}not refreshed {2}238$/m);
    expect(r.stdout).toMatch(/^ {2}NOT REFRESHED \(no network \(fetch failed \(connect ECONNREFUSED 127\.0\.0\.1:\d+\)\); descriptions unchanged\): backpack, umbrella, /m);
    expect(r.stderr).toMatch(/^error: 238 of 238 labels not refreshed \(0 failed, 238 not looked up or cut short\); their descriptions are unchanged: backpack, .* and 228 more$/m);
    expect(sha(bank)).toBe(before);
  });

  it('a fetch where every label was looked up exits 0', async () => {
    const r = await run(['fetch', '--bank', path.join(dir, 'ok.sqlite'), '--api-url', wiki.apiUrl, '--labels', 'bus,crib']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^fetch: \[\d\/2\] crib: kept \(no article "Infant bed"; kept the shipped text\)$/m);
  });
});

/**
 * The option lines of a `--help` page that have no description, and example lines that yargs'
 * wrapping broke (a command continued on a line of its own).
 */
function helpProblems(page: string): string[] {
  const problems: string[] = [];
  let section = '';
  for (const line of page.split('\n')) {
    if (line.trim() === '') section = '';
    else if (/^\S.*:$/.test(line)) section = line;
    else if (section === 'Options:' || section === 'Positionals:') {
      const start = section === 'Options:' ? /^ {2}(?:-\w, | {4})--[\w-]+(.*)$/.exec(line) : /^ {2}[\w-]+(.*)$/.exec(line);
      const rest = start?.[1]?.trim();
      if (rest !== undefined && (rest === '' || rest.startsWith('['))) problems.push(`no description: ${line.trim()}`);
    } else if (section === 'Examples:' && /^ {2}\S/.test(line) && !line.startsWith('  label-bank ')) {
      problems.push(`broken example line: ${line}`);
    }
  }
  return problems;
}

describe('label-bank --help', () => {
  it.each(['list', 'fetch', 'embed', 'report', 'add', 'show', 'use', 'tiny-encoder'])('label-bank %s --help: every option described, no broken lines', async (cmd) => {
    const r = await run([cmd, '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Options:$/m);
    expect(helpProblems(r.stdout)).toEqual([]);
  });
});

describe('--json through a pipe', () => {
  it('label-bank list --json | slow reader gets all 238 labels', async () => {
    const bank = path.join(dir, 'pipe.sqlite');
    const out = path.join(dir, 'list.json');
    const rc = path.join(dir, 'list.rc');
    // The reader sleeps first, so the 64 KiB pipe buffer fills and the writer must wait for it.
    const script = `{ "$1" "$2" list --json --bank "$3"; echo $? > "$4"; } | { sleep 1; cat > "$5"; }`;
    await new Promise<void>((resolve, reject) => {
      const child = spawn('sh', ['-c', script, 'sh', process.execPath, LABEL_BANK, bank, rc, out], { cwd: dir });
      child.on('error', reject);
      child.on('close', () => resolve());
    });
    expect(readFileSync(rc, 'utf8').trim()).toBe('0');
    const text = readFileSync(out, 'utf8');
    expect(text.length).toBeGreaterThan(65_536);
    const labels = JSON.parse(text) as { name: string }[];
    expect(labels).toHaveLength(238);
    expect(labels.at(-1)?.name).toBe('calculator');
  });
});
