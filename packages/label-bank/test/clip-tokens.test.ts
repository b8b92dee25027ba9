// Descriptions are counted in CLIP tokens whatever the bank's encoder: with the lexical encoder
// (which has no window of its own) a text over CLIP's 77 tokens is refused, and the counts printed
// are the CLIP tokenizer's.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { BIN, runCli } from '../../../tests/run-cli.js';
import { loadClipTokenizer, type ClipTokenizer } from '../src/encoder/clip-tokenizer.js';
import { HAS_TOKENIZER, tempDir, TOKENIZER_JSON } from '../../../tests/utils.js';

const dir = tempDir('sentseg-clip-tokens-');
const sha = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

// 57 words; CLIP splits the hyphenated words, numbers and punctuation into many more tokens.
const LONG =
  'A zebra crossing (also pedestrian-crossing, crosswalk or "zebra") is a road-crossing, 3.5-4.0 m wide, ' +
  'marked with alternating white-and-black stripes, Belisha beacons, zig-zag kerb-lines, tactile paving, ' +
  'push-button signals, count-down timers, raised tables, refuge islands, and anti-skid surfacing for pedestrians, ' +
  'cyclists, wheelchair-users and pram-pushers.';

describe.runIf(HAS_TOKENIZER)('label-bank add counts CLIP tokens with the lexical encoder', () => {
  const bank = path.join(dir, 'lexical.sqlite');
  const cache = path.join(dir, 'empty-cache');
  let tokenizer: ClipTokenizer;
  const cli = (args: string[], env: Record<string, string | undefined>) =>
    runCli(BIN.labelBank, [...args, '--bank', bank, '--cache-dir', cache], { cwd: dir, env: { SENTSEG_CLIP_TOKENIZER: undefined, ...env } });
  beforeAll(async () => {
    tokenizer = await loadClipTokenizer(TOKENIZER_JSON);
    const embed = await runCli(BIN.labelBank, ['embed', '--model', 'lexical', '--bank', bank], { cwd: dir });
    expect(embed.code).toBe(0);
  }, 120_000);

  it('refuses a description over 77 CLIP tokens, leaving the bank byte-identical', async () => {
    const text = `An image of zebra crossing. ${LONG}`;
    const clipTokens = tokenizer.count(text);
    expect(clipTokens).toBeGreaterThan(77);
    expect(text.split(/\s+/).length).toBeLessThan(77);
    const before = sha(bank);
    const run = await cli(['add', 'zebra crossing', '--description', LONG], { SENTSEG_CLIP_TOKENIZER: TOKENIZER_JSON });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`description of "zebra crossing" is ${clipTokens} CLIP tokens; CLIP's text encoder reads at most 77: shorten it`);
    expect(sha(bank)).toBe(before);
  }, 120_000);

  it('prints the CLIP count of what it adds (--tokenizer as the variable does)', async () => {
    const run = await cli(['add', 'automobile', '--description', 'A car with four wheels and an engine.', '--tokenizer', TOKENIZER_JSON], {});
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain(`added automobile (id 238, ${tokenizer.count('An image of automobile. A car with four wheels and an engine.')} CLIP tokens)`);
  }, 120_000);

  it('with no CLIP tokenizer to be found, says how to give one and adds nothing', async () => {
    const before = sha(bank);
    const run = await cli(['add', 'tram', '--description', 'A rail vehicle on street tracks.'], {});
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('descriptions are counted in CLIP tokens (77 at most) whatever the encoder: give a CLIP tokenizer.json with --tokenizer FILE or SENTSEG_CLIP_TOKENIZER');
    expect(sha(bank)).toBe(before);
  }, 120_000);
});
