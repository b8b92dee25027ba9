// `label-bank report --reference` and `label-bank check-encoder` as a user runs them: the real
// CLIP ViT-B/32 reference of ../shared (Detic's "a {name}" vectors), generated tiny CLIP models in
// the real ONNX layout (random weights: they must NOT match it), a reference written from a tiny
// model's own outputs (it must match), and a hub stand-in for hub ids.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, runCli } from '../../../tests/run-cli.js';
import { loadClipTextEncoder } from '../src/clip/text.js';
import { writeTinyClipTextModel } from '../src/clip/tiny-text.js';
import { HAS_TOKENIZER, SHARED, tempDir, TOKENIZER_JSON } from '../../../tests/utils.js';
import { startFakeHub, type FakeHub } from '../../../tests/hub-server.js';

const REFERENCE = path.join(SHARED, 'models', 'clip-vit-b32-anchors', 'sentseg-labels-word.json');
const HAS_REFERENCE = existsSync(REFERENCE);
const dir = tempDir('sentseg-check-encoder-');

const lb = (args: string[], env: Record<string, string | undefined> = {}) => runCli(BIN.labelBank, args, { cwd: dir, env: { HF_TOKEN: undefined, HF_HUB_OFFLINE: undefined, ...env } });
/** One error line (download progress lines of a hub id aside), no stack. */
const oneLineError = (stderr: string) => {
  const lines = stderr.trim().split('\n').filter((l) => !l.startsWith('download: '));
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^error: /);
};

describe.runIf(HAS_REFERENCE)('label-bank report --reference (real CLIP ViT-B/32 outputs)', () => {
  const bank = path.join(dir, 'lexical.sqlite');
  beforeAll(async () => {
    const embed = await lb(['embed', '--model', 'lexical', '--bank', bank]);
    expect(embed.code).toBe(0);
  }, 120_000);

  it('adds real CLIP\'s word-level matrix and prints each encoder\'s Spearman and nearest-label agreement', async () => {
    const run = await lb(['report', '--bank', bank, '--out', path.join(dir, 'rep'), '--reference', REFERENCE]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`reference ${REFERENCE}: 169 labels`);
    // Computed independently with NumPy from the same bank and file: 0.0637 (30 same), 0.1294 (43).
    expect(run.stdout).toMatch(/lexical:dim=512,seed=0,depth=4@v1 {2}word {8}0\.0637 {2}30 of 169/);
    expect(run.stdout).toMatch(/lexical:dim=512,seed=0,depth=4@v1 {2}sentence {4}0\.1294 {2}43 of 169/);
    expect(readdirSync(path.join(dir, 'rep')).sort()).toEqual(['block-scores.json', 'report.html', 'similarity-reference.png', 'similarity-sentence.png', 'similarity-word.png']);
  }, 120_000);

  it('a bad reference file exits 2 with one line naming it, and leaves an earlier report as it was', async () => {
    const out = path.join(dir, 'rep-kept');
    expect((await lb(['report', '--bank', bank, '--out', out])).code).toBe(0);
    const before = Object.fromEntries(readdirSync(out).map((f) => [f, readFileSync(path.join(out, f))]));
    const shape = path.join(dir, 'shape.json');
    writeFileSync(shape, JSON.stringify([{ name: 'bus', vector: [1, 2] }]));
    const other = path.join(dir, 'other.json');
    writeFileSync(other, JSON.stringify({ labels: { 'no such label': { vector: [1, 2] } } }));
    const dims = path.join(dir, 'dims.json');
    writeFileSync(dims, JSON.stringify({ labels: { bus: { vector: [1, 2] }, car: { vector: [1, 2, 3] } } }));
    for (const [file, reason] of [
      [path.join(dir, 'absent.json'), /absent\.json: does not exist/],
      [shape, /shape\.json: has no "labels" object/],
      [dims, /dims\.json: dimension mismatch: "car" has a 3-number vector, "bus" 2/],
      [other, /other\.json: no label overlaps the bank's 238/],
    ] as const) {
      const run = await lb(['report', '--bank', bank, '--out', out, '--reference', file]);
      expect(run.code, file).toBe(2);
      oneLineError(run.stderr);
      expect(run.stderr).toMatch(reason);
      expect(readdirSync(out).sort()).toEqual(Object.keys(before).sort());
      for (const [f, bytes] of Object.entries(before)) expect(readFileSync(path.join(out, f)).equals(bytes), f).toBe(true);
    }
  }, 120_000);
});

describe.runIf(HAS_TOKENIZER && HAS_REFERENCE)('label-bank check-encoder', () => {
  const tiny64 = path.join(dir, 'tiny-64');
  const tiny512 = path.join(dir, 'tiny-512');
  const own = path.join(dir, 'own-reference.json');
  let hub: FakeHub;
  beforeAll(async () => {
    writeTinyClipTextModel(tiny64, { tokenizerJson: TOKENIZER_JSON, seed: 3 });
    writeTinyClipTextModel(tiny512, { tokenizerJson: TOKENIZER_JSON, seed: 4, projectionDim: 512 });
    // A reference from tiny-512's own outputs, in the shared file's form (source names as Detic spells them).
    const names = [['trash can', 'trash_can'], ['stapler', 'Stapler'], ['bus', 'bus'], ['traffic light', 'traffic light'], ['dog', 'dog'], ['pool table', 'pool_table']];
    const encoder = await loadClipTextEncoder(tiny512);
    const { vectors } = await encoder.encode(names.map(([, source]) => `a ${source}`));
    await encoder.dispose();
    const labels = Object.fromEntries(names.map(([name, source], i) => [name, { source_name: source, vector: Array.from(vectors[i]!, (x) => Number(x.toFixed(6))) }]));
    writeFileSync(own, JSON.stringify({ prompt: 'a {name}', model: 'tiny-512 itself', labels }));
    hub = await startFakeHub({ repos: { 'test-org/tiny-512': tiny512 } });
  }, 120_000);
  afterAll(() => hub?.close());

  it('a random-weight CLIP does NOT match real CLIP ViT-B/32: mean and min cosine and the worst names, exit 1', async () => {
    const run = await lb(['check-encoder', tiny512, '--reference', REFERENCE]);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/^does NOT match: local:tiny-512@[0-9a-f]+: mean cosine -?0\.\d{4}, min -?0\.\d{4} over 169 names of .*sentseg-labels-word\.json \(a match needs a mean of at least 0\.99\)$/m);
    expect(run.stdout).toMatch(/^least similar:\n( +-?\d\.\d{4} {2}"a [^"]+" \([^)]+\)\n){5}$/m);
    expect(run.stderr).toBe('');
    const few = await lb(['check-encoder', tiny512, '--reference', REFERENCE, '--count', '7', '--json']);
    expect(few.code).toBe(1);
    expect(JSON.parse(few.stdout)).toMatchObject({ matches: false, names: 7, dim: { model: 512, reference: 512 } });
  }, 120_000);

  it('a model of another output size does NOT match, and says so', async () => {
    const run = await lb(['check-encoder', tiny64, '--reference', REFERENCE]);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/^does NOT match: local:tiny-64@[0-9a-f]+ gives 64-d vectors, .*sentseg-labels-word\.json holds 512-d ones$/m);
  }, 120_000);

  it('matches a reference of its own "a {name}" outputs (source names as written), exit 0; from a folder or a hub id, then offline', async () => {
    const local = await lb(['check-encoder', tiny512, '--reference', own]);
    expect(local.stdout).toMatch(/^matches: local:tiny-512@[0-9a-f]+: mean cosine 1\.0000, min 1\.0000 over 6 names of .*own-reference\.json$/m);
    expect(local.code).toBe(0);
    const cache = path.join(dir, 'cache');
    const env = { HF_ENDPOINT: hub.endpoint, SENTSEG_MODEL_CACHE: cache };
    const hubbed = await lb(['check-encoder', 'test-org/tiny-512', '--reference', own], env);
    expect(hubbed.stderr).toContain('download: test-org/tiny-512 onnx/text_model.onnx');
    expect(hubbed.stdout).toMatch(/^matches: hf:test-org\/tiny-512@main#[0-9a-f]{16}: mean cosine 1\.0000/m);
    expect(hubbed.code).toBe(0);
    const offline = await lb(['check-encoder', 'test-org/tiny-512', '--reference', own, '--offline'], { ...env, HF_ENDPOINT: 'http://127.0.0.1:9' });
    expect(offline.stderr).not.toContain('download:');
    expect(offline.code).toBe(0);
  }, 120_000);

  it('a missing folder, a 404 hub id, a bad reference or --count 0: exit 2, one line', async () => {
    const env = { HF_ENDPOINT: hub.endpoint, SENTSEG_MODEL_CACHE: path.join(dir, 'cache-bad') };
    const cases: [string[], RegExp][] = [
      [['check-encoder', path.join(dir, 'no-such-folder'), '--reference', own], /no-such-folder/],
      [['check-encoder', 'test-org/no-such-model', '--reference', own], /cannot download test-org\/no-such-model@main from .*404: no such model, revision or file/],
      [['check-encoder', tiny512, '--reference', path.join(dir, 'absent.json')], /reference file .*absent\.json: does not exist/],
    ];
    for (const [args, reason] of cases) {
      const run = await lb(args, env);
      expect(run.code, args.join(' ')).toBe(2);
      oneLineError(run.stderr);
      expect(run.stderr).toMatch(reason);
    }
    const zero = await lb(['check-encoder', tiny512, '--reference', own, '--count', '0']);
    expect(zero.code).toBe(2);
    expect(zero.stderr).toMatch(/^error: --count must be a whole number of at least 1, got 0$/m);
    // Nothing half-downloaded is left in the cache.
    const cache = path.join(dir, 'cache-bad');
    expect(existsSync(cache) ? readdirSync(cache, { recursive: true }) : []).toEqual([]);
  }, 120_000);
});
