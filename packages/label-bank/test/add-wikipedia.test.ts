// `label-bank add NAME --wikipedia TITLE` against a local MediaWiki stand-in: --timeout bounds each
// request and --deadline the whole command, as for fetch; a lookup that does not finish adds
// nothing and leaves the bank byte-identical.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, runCli } from '../../../tests/run-cli.js';
import { LabelBank } from '../src/store/bank.js';
import { HAS_TOKENIZER, tempDir, TOKENIZER_JSON } from '../../../tests/utils.js';
import { startFakeWiki, type FakeWiki } from '../../../tests/mediawiki-server.js';

const dir = tempDir('sentseg-add-wikipedia-');
let wiki: FakeWiki;
let bank: string;

beforeAll(async () => {
  wiki = await startFakeWiki({
    articles: { Tram: { pageid: 5001, extract: 'A tram (also known as a streetcar) is a rail vehicle that runs on tramway tracks along public streets. Trams are old.' } },
    hanging: ['Necktie'],
  });
  bank = path.join(dir, 'bank.sqlite');
  LabelBank.open(bank).close();
});
afterAll(async () => wiki?.close());

const add = (args: string[]) =>
  runCli(BIN.labelBank, ['add', ...args, '--bank', bank, '--api-url', wiki.apiUrl, '--model', 'lexical', '--tokenizer', TOKENIZER_JSON], { cwd: dir });

/** The bank's bytes, and that SQLite left no journal beside it. */
const snapshot = () => ({ bytes: readFileSync(bank), wal: existsSync(`${bank}-wal`), shm: existsSync(`${bank}-shm`) });

describe('label-bank add --wikipedia --timeout --deadline', () => {
  it('--timeout cancels each request: exit 2, one line, the bank byte-identical', async () => {
    const before = snapshot();
    const run = await add(['necktie2', '--wikipedia', 'Necktie', '--timeout', '300', '--retries', '1', '--backoff', '10']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^error: no description from Wikipedia article "Necktie" at http:\/\/127\.0\.0\.1:\d+\/w\/api\.php \(no answer within 300 ms after 2 tries\); nothing was added\n$/);
    expect(snapshot()).toEqual(before);
  }, 60_000);

  it('--deadline ends the whole command, whatever --timeout allows: exit 2, the bank byte-identical', async () => {
    const before = snapshot();
    const run = await add(['necktie3', '--wikipedia', 'Necktie', '--timeout', '600000', '--deadline', '1']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^error: no description from Wikipedia article "Necktie" at .* \(the --deadline of 1 s passed\); nothing was added\n$/);
    expect(snapshot()).toEqual(before);
  }, 60_000);

  it('refuses a --timeout or --deadline that is not a positive number (usage, exit 2)', async () => {
    for (const flags of [['--timeout', '0'], ['--deadline', '-1'], ['--deadline', 'soon']]) {
      const run = await add(['x', '--wikipedia', 'Tram', ...flags]);
      expect(run.code, flags.join(' ')).toBe(2);
      expect(run.stderr).toMatch(new RegExp(`^error: ${flags[0]} must be a (whole )?number above 0`));
    }
  }, 60_000);

  it.runIf(HAS_TOKENIZER)('with the flags and an answering server it adds the label as before', async () => {
    const run = await add(['tram', '--wikipedia', 'Tram', '--timeout', '5000', '--deadline', '120']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^added tram \(id 238, \d+ CLIP tokens\): An image of tram\. A tram is a rail vehicle that runs on tramway tracks along public streets\.$/m);
  }, 120_000);
});
