/**
 * eval and predict at real sizes on the default backend with the default model (issue 18): a
 * 2048×1024 Cityscapes image evaluated at short edge 1024 (too large for one forward pass within
 * the memory budget: a sliding window is chosen and named), and a 4000×3000 photo segmented (at
 * short edge 512) into a label map at its own resolution. Before, these aborted inside WebAssembly.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { PNG } from 'pngjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { mergeDatasets, parseDatasetSpecs } from '@sentseg/dataset-tools';
import { writeCityscapes } from '@sentseg/dataset-tools/testing';
import { tempDir } from './utils.js';
import { writeBank } from './training-world.js';
import { BIN, runCli } from './run-cli.js';

const dir = tempDir('sentseg-real-size-');
const run = path.join(dir, 'run');
const photo = path.join(dir, 'photos', 'street-4000x3000.jpg');

beforeAll(async () => {
  await writeCityscapes(path.join(dir, 'cityscapes'), { train: 1, val: 1 }, [2048, 1024]);
  const manifest = path.join(dir, 'manifest.sqlite');
  await mergeDatasets(manifest, parseDatasetSpecs([`cityscapes=${path.join(dir, 'cityscapes')}`]), { workers: 0 });
  const bank = path.join(dir, 'label-bank.sqlite');
  writeBank(bank, 32);
  // The default model (no model.variant set); one short step is enough to have a checkpoint.
  const r = await runCli(BIN.sentseg, ['train', '--manifest', manifest, '--label-bank', bank, '--out', run, '--steps', '1', '--backend', 'wasm', '--set', 'data.shortEdge=64', '--set', 'data.crop=64', '--set', 'data.batchSize=1'], { cwd: dir });
  if (r.code !== 0) throw new Error(`training failed: ${r.stderr}`);
  mkdirSync(path.dirname(photo), { recursive: true });
  // A 4000×3000 photo: gradients, a disc and a checkerboard.
  const [w, h] = [4000, 3000];
  const rgb = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const o = 3 * (y * w + x);
      rgb[o] = Math.floor((255 * x) / w);
      rgb[o + 1] = Math.floor((255 * y) / h);
      rgb[o + 2] = (x - 1300) ** 2 + (y - 1500) ** 2 < 1000 ** 2 ? 230 : (((x >> 5) + (y >> 5)) % 2) * 120;
    }
  }
  await sharp(rgb, { raw: { width: w, height: h, channels: 3 } }).jpeg().toFile(photo);
}, 180_000);

describe('eval and predict at real sizes, default backend and model', () => {
  it('eval of a 2048×1024 image at short edge 1024 runs as a sliding window and says so', async () => {
    const args = ['eval', '--run', run, '--dataset', 'cityscapes', '--split', 'val', '--backend', 'wasm'];
    const windowed = await runCli(BIN.sentseg, [...args, '--short-edge', '1024'], { cwd: dir });
    expect(windowed.stderr).not.toMatch(/Aborted|out of bounds|skipped/);
    expect(windowed.code).toBe(0);
    expect(windowed.stdout).toMatch(/^cityscapes val, 1 image, ss 1024, checkpoint step 1$/m);
    expect(windowed.stdout).toMatch(/^inference: sliding window for 1 image \(sliding window \d+, stride \d+, \d+ tiles at 2048×1024\)$/m);
    expect(windowed.stdout).toMatch(/^mIoU\s+\d+\.\d\d/m);
  }, 300_000);

  it('predict of a 4000×3000 photo writes its label map at 4000×3000', async () => {
    const out = path.join(dir, 'preds');
    const r = await runCli(BIN.sentseg, ['predict', '--run', run, '--input', photo, '--out', out, '--short-edge', '512', '--backend', 'wasm'], { cwd: dir });
    expect(r.stderr).not.toMatch(/Aborted|out of bounds|skipped/);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/street-4000x3000\.jpg: .+ \(whole image\)$/m);
    const labels = PNG.sync.read(readFileSync(path.join(out, 'street-4000x3000_labels.png')));
    expect([labels.width, labels.height]).toEqual([4000, 3000]);
  }, 300_000);
});
