// --clip-vision ORG/NAME: the vision tower of L_WD downloaded from a hub stand-in into the model
// cache, its box-crop embeddings those of the folder the hub served, and loaded offline afterwards.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { writeTinyClipVisionModel } from '@sentseg/label-bank';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeHub, type FakeHub } from '../../../tests/hub-server.js';
import { loadClipVisionEncoder } from '../src/boxes/clip-boxes.js';
import { resolveConfig, withAbsolutePaths } from '../src/config.js';
import { tempDir } from '../../../tests/utils.js';

const dir = tempDir('sentseg-clip-hub-');

describe('train --clip-vision ORG/NAME[@REVISION]', () => {
  let hub: FakeHub;
  const served = path.join(dir, 'served');
  beforeAll(async () => {
    writeTinyClipVisionModel(served, { seed: 4, projectionDim: 16 });
    hub = await startFakeHub({ repos: { 'test-org/tiny-clip-vision': served } });
  });
  afterAll(() => hub?.close());

  it('downloads once, embeds crops as the served folder does, then loads from the cache with the hub gone', async () => {
    const cache = path.join(dir, 'cache');
    const crop = { rgb: new Uint8Array(40 * 30 * 3).map((_, i) => (i * 37) % 256), width: 40, height: 30 };
    const local = await loadClipVisionEncoder(served);
    const hubbed = await loadClipVisionEncoder('test-org/tiny-clip-vision', { cacheDir: cache, endpoint: hub.endpoint });
    expect(hubbed.modelId).toBe(local.modelId.replace(/^local:served@/, 'hf:test-org/tiny-clip-vision@main#'));
    expect(Array.from((await hubbed.embed([crop]))[0] as Float32Array)).toEqual(Array.from((await local.embed([crop]))[0] as Float32Array));
    const requests = hub.requests.length;
    const offline = await loadClipVisionEncoder('test-org/tiny-clip-vision', { cacheDir: cache, endpoint: 'http://127.0.0.1:9', offline: true });
    expect(offline.modelId).toBe(hubbed.modelId);
    expect(hub.requests.length).toBe(requests);
  }, 60_000);

  it('keeps a hub id as given in the run config; an existing folder of the same form is stored absolute', () => {
    mkdirSync(path.join(dir, 'models', 'clip'), { recursive: true });
    const config = resolveConfig([{ where: 'the command line', values: { manifest: 'm.sqlite', labelBank: 'b.sqlite', clipVision: 'test-org/tiny-clip-vision@v2' } }]);
    expect(withAbsolutePaths(config, dir).clipVision).toBe('test-org/tiny-clip-vision@v2');
    expect(withAbsolutePaths({ ...config, clipVision: 'models/clip' }, dir).clipVision).toBe(path.join(dir, 'models', 'clip'));
  });
});
