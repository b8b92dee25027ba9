// Hub ids as users type them (ORG/NAME[@REVISION]), against a hub stand-in on 127.0.0.1 serving a
// generated tiny CLIP: downloaded once through transformers.js into the model cache, then used
// from there with the hub gone; failures exit 2 and leave nothing half-written in the cache.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, runCli } from '../../../tests/run-cli.js';
import { loadClipTextEncoder } from '../src/clip/text.js';
import { hubModelFolder, modelCacheDir, parseHubId, resolveHubModel } from '../src/encoder/hub.js';
import { writeTinyClipTextModel } from '../src/clip/tiny-text.js';
import { writeTinyClipVisionModel } from '../src/clip/tiny-vision.js';
import { LabelBank } from '../src/store/bank.js';
import { HAS_TOKENIZER, tempDir, TOKENIZER_JSON } from '../../../tests/utils.js';
import { startFakeHub, type FakeHub } from '../../../tests/hub-server.js';

const dir = tempDir('sentseg-hub-');

/** Every file under a folder, relative to it (what a user finds in the cache). */
function filesUnder(root: string): string[] {
  if (!existsSync(root)) return [];
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d)) {
      const full = path.join(d, e);
      if (statSync(full).isDirectory()) walk(full);
      else out.push(path.relative(root, full));
    }
  };
  walk(root);
  return out.sort();
}

describe('hub ids and the model cache folder', () => {
  it('reads ORG/NAME and ORG/NAME@REVISION; a bare word or a path is not a hub id', () => {
    expect(parseHubId('Xenova/clip-vit-base-patch32')).toEqual({ repo: 'Xenova/clip-vit-base-patch32', revision: 'main' });
    expect(parseHubId('openai/clip-vit-base-patch32@3d74acf')).toEqual({ repo: 'openai/clip-vit-base-patch32', revision: '3d74acf' });
    expect(parseHubId('lexical')).toBeNull();
    expect(parseHubId('./models/clip')).toBeNull();
    expect(parseHubId('/abs/clip')).toBeNull();
  });

  it('caches under --cache-dir, else SENTSEG_MODEL_CACHE, else XDG_CACHE_HOME/sentseg/models, never in node_modules', () => {
    const saved = { a: process.env.SENTSEG_MODEL_CACHE, b: process.env.XDG_CACHE_HOME };
    try {
      process.env.SENTSEG_MODEL_CACHE = '/tmp/from-env';
      process.env.XDG_CACHE_HOME = '/tmp/xdg';
      expect(modelCacheDir('/tmp/flag')).toBe('/tmp/flag');
      expect(modelCacheDir()).toBe('/tmp/from-env');
      delete process.env.SENTSEG_MODEL_CACHE;
      expect(modelCacheDir()).toBe('/tmp/xdg/sentseg/models');
      delete process.env.XDG_CACHE_HOME;
      expect(modelCacheDir()).toMatch(/\/\.cache\/sentseg\/models$/);
      expect(modelCacheDir()).not.toContain('node_modules');
    } finally {
      if (saved.a === undefined) delete process.env.SENTSEG_MODEL_CACHE;
      else process.env.SENTSEG_MODEL_CACHE = saved.a;
      if (saved.b === undefined) delete process.env.XDG_CACHE_HOME;
      else process.env.XDG_CACHE_HOME = saved.b;
    }
  });
});

describe.runIf(HAS_TOKENIZER)('label-bank embed --model ORG/NAME against a hub stand-in', () => {
  let hub: FakeHub;
  const text = path.join(dir, 'served', 'tiny-clip');
  const vision = path.join(dir, 'served', 'tiny-clip-vision');
  const broken = path.join(dir, 'served', 'no-weights');
  beforeAll(async () => {
    writeTinyClipTextModel(text, { tokenizerJson: TOKENIZER_JSON, seed: 5 });
    writeTinyClipVisionModel(vision, { seed: 6 });
    writeTinyClipTextModel(broken, { tokenizerJson: TOKENIZER_JSON, seed: 7 });
    const { rmSync } = await import('node:fs');
    rmSync(path.join(broken, 'onnx'), { recursive: true });
    hub = await startFakeHub({
      repos: { 'test-org/tiny-clip': text, 'test-org/tiny-clip-vision': vision, 'test-org/no-weights': broken, 'test-org/hangs': text, 'test-org/stalls': text, 'gated-org/tiny-clip': text },
      revisions: ['main', 'v1'],
      gated: { 'gated-org/tiny-clip': 'secret-token' },
      hanging: ['test-org/hangs/onnx/text_model.onnx'],
      stalling: ['test-org/stalls/onnx/text_model.onnx'],
    });
  });
  afterAll(() => hub?.close());

  const cli = (args: string[], cache: string, env: Record<string, string | undefined> = {}) =>
    runCli(BIN.labelBank, args, { cwd: dir, env: { HF_ENDPOINT: hub.endpoint, SENTSEG_MODEL_CACHE: cache, HF_TOKEN: undefined, HF_HUB_OFFLINE: undefined, ...env } });

  it('downloads into the cache with progress, records hub id, revision and weights sha256, then embeds from the cache with the hub stopped', async () => {
    const cache = path.join(dir, 'cache-a');
    const bank = path.join(dir, 'a.sqlite');
    const first = await cli(['embed', '--model', 'test-org/tiny-clip', '--bank', bank, '--labels', 'bus,car'], cache);
    expect(first.stderr).toContain('download: test-org/tiny-clip onnx/text_model.onnx');
    expect(first.code).toBe(0);
    const folder = hubModelFolder({ repo: 'test-org/tiny-clip', revision: 'main' }, cache);
    expect(filesUnder(cache)).toEqual(['config.json', 'onnx/text_model.onnx', 'tokenizer.json', 'tokenizer_config.json'].map((f) => path.relative(cache, path.join(folder, f))).sort());
    expect(readFileSync(path.join(folder, 'onnx', 'text_model.onnx')).equals(readFileSync(path.join(text, 'onnx', 'text_model.onnx')))).toBe(true);
    const { createHash } = await import('node:crypto');
    const sha = createHash('sha256').update(readFileSync(path.join(text, 'onnx', 'text_model.onnx'))).digest('hex').slice(0, 16);
    expect(first.stdout).toContain(`model hf:test-org/tiny-clip@main#${sha}`);
    const b = LabelBank.open(bank, { readonly: true });
    expect(b.models().map((m) => [m.modelId, m.location])).toEqual([[`hf:test-org/tiny-clip@main#${sha}`, 'test-org/tiny-clip@main']]);
    b.close();

    // The same vectors as the folder the hub served, loaded directly.
    const local = await loadClipTextEncoder(text);
    const hubbed = await loadClipTextEncoder('test-org/tiny-clip', { hub: { cacheDir: cache, offline: true } });
    const [x, y] = [(await local.encode(['An image of bus.'])).vectors[0], (await hubbed.encode(['An image of bus.'])).vectors[0]];
    expect(Array.from(y as Float32Array)).toEqual(Array.from(x as Float32Array));
    await local.dispose();
    await hubbed.dispose();

    const requestsBefore = hub.requests.length;
    // Hub gone (a port nothing listens on): new labels embed from the cached model.
    const offline = await cli(['embed', '--model', 'test-org/tiny-clip', '--bank', bank, '--labels', 'bus,car,road'], cache, { HF_ENDPOINT: 'http://127.0.0.1:9' });
    expect(offline.stderr).not.toContain('download:');
    expect(offline.code).toBe(0);
    expect(offline.stdout).toContain('2 encoded, 4 from cache');
    // The bank's own encoder (its location is the hub id) reloads from the cache too, also with --offline.
    const again = await cli(['embed', '--bank', bank, '--labels', 'sky', '--offline'], cache, { HF_ENDPOINT: 'http://127.0.0.1:9' });
    expect(again.code).toBe(0);
    expect(hub.requests.length).toBe(requestsBefore);
  }, 120_000);

  it('a revision downloads to its own folder, and the id names it', async () => {
    const cache = path.join(dir, 'cache-rev');
    const run = await cli(['embed', '--model', 'test-org/tiny-clip@v1', '--bank', path.join(dir, 'rev.sqlite'), '--labels', 'bus'], cache);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/model hf:test-org\/tiny-clip@v1#[0-9a-f]{16}/);
    expect(existsSync(path.join(hubModelFolder({ repo: 'test-org/tiny-clip', revision: 'v1' }, cache), 'onnx', 'text_model.onnx'))).toBe(true);
    expect(hub.requests).toContain('/test-org/tiny-clip/resolve/v1/onnx/text_model.onnx');
  }, 120_000);

  it('sends HF_TOKEN to HF_ENDPOINT for a gated model; without it, a clear error', async () => {
    const cache = path.join(dir, 'cache-gated');
    const denied = await cli(['embed', '--model', 'gated-org/tiny-clip', '--bank', path.join(dir, 'g.sqlite'), '--labels', 'bus'], cache);
    expect(denied.code).toBe(2);
    expect(denied.stderr).toMatch(/cannot download gated-org\/tiny-clip@main from http:\/\/127\.0\.0\.1:\d+: .*HF_TOKEN/);
    expect(filesUnder(cache)).toEqual([]);
    const allowed = await cli(['embed', '--model', 'gated-org/tiny-clip', '--bank', path.join(dir, 'g.sqlite'), '--labels', 'bus'], cache, { HF_TOKEN: 'secret-token' });
    expect(allowed.code).toBe(0);
    expect(hub.authorizations).toContain('Bearer secret-token');
  }, 120_000);

  it('a 404 model id, a missing weights file, --offline with an empty cache: exit 2, one line, nothing in the cache', async () => {
    const cache = path.join(dir, 'cache-bad');
    const bank = path.join(dir, 'bad.sqlite');
    const unknown = await cli(['embed', '--model', 'test-org/no-such-model', '--bank', bank], cache);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/cannot download test-org\/no-such-model@main from .*404: no such model, revision or file/);
    expect(unknown.stderr).not.toMatch(/\n\s+at /);
    const noWeights = await cli(['embed', '--model', 'test-org/no-weights', '--bank', bank], cache);
    expect(noWeights.code).toBe(2);
    expect(noWeights.stderr).toMatch(/no-weights\/resolve\/main\/onnx\/text_model\.onnx answered 404/);
    const offline = await cli(['embed', '--model', 'test-org/tiny-clip', '--bank', bank, '--offline'], cache);
    expect(offline.code).toBe(2);
    expect(offline.stderr).toContain('is not in the model cache');
    expect(filesUnder(cache)).toEqual([]);
    expect(existsSync(bank)).toBe(false);
  }, 120_000);

  it('a hub that accepts and never answers, or stops mid-file: given up after --hub-timeout, exit 2, nothing half-written', async () => {
    const cache = path.join(dir, 'cache-hang');
    for (const repo of ['test-org/hangs', 'test-org/stalls']) {
      const run = await cli(['embed', '--model', repo, '--bank', path.join(dir, 'hang.sqlite'), '--hub-timeout', '1'], cache);
      expect(run.code).toBe(2);
      expect(run.stderr).toMatch(new RegExp(`cannot download ${repo}@main from .*no answer from .*onnx/text_model\\.onnx for 1 s`));
      expect(filesUnder(cache)).toEqual([]);
    }
  }, 120_000);

  it('resolves a vision tower (the trainer\'s --clip-vision) the same way', async () => {
    const cache = path.join(dir, 'cache-vision');
    const folder = await resolveHubModel({ repo: 'test-org/tiny-clip-vision', revision: 'main' }, 'vision', { cacheDir: cache, endpoint: hub.endpoint });
    expect(filesUnder(folder)).toEqual(['config.json', 'onnx/vision_model.onnx', 'preprocessor_config.json']);
    const requests = hub.requests.length;
    expect(await resolveHubModel({ repo: 'test-org/tiny-clip-vision', revision: 'main' }, 'vision', { cacheDir: cache, endpoint: 'http://127.0.0.1:9' })).toBe(folder);
    expect(hub.requests.length).toBe(requests);
  }, 120_000);
});
