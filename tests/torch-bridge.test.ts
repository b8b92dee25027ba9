/**
 * The PyTorch bridge (python/, sentseg-torch) against the TypeScript trainer: the same weights and
 * input give the same pixel embeddings (tiny, B0; cpu backend), the same batch the same L_HD, L_LD,
 * L_WD; a run trained in PyTorch is evaluated by `sentseg eval` and resumed by `sentseg train`; and
 * the package's own pytest suite (DDP on gloo included). Runs when /usr/bin/python3 has torch
 * (apt-get install -y python3-torch python3-numpy python3-pil python3-pytest libopenblas0-pthread);
 * otherwise every test is skipped and the file says why.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { REPO, tempDir } from './utils.js';
import { addBoxDataset, writeWorld, type World } from './training-world.js';
import { ManifestReader } from '@sentseg/dataset-tools';
import { writeTinyClipVisionModel } from '@sentseg/label-bank';
import { BalancedSampler, SegFormer, colourAndNormalise, loadWeights, lossHD, lossLD, lossWD, mixSeed, planAugment, tf, transformBox, type AugmentConfig, type MapBox, type SegFormerConfig } from '@sentseg/trainer';
import { BoxEmbeddingCache, boxKey } from '@sentseg/trainer/testing';
import { BIN, runProgram, startCli } from './run-cli.js';

type Tensor = tf.Tensor;

const PYTHON = '/usr/bin/python3';
const PYDIR = path.join(REPO, 'python');
const probe = existsSync(PYTHON) ? await runProgram(PYTHON, ['-c', 'import torch, numpy, PIL, pytest; print(torch.__version__)'], { cwd: PYDIR }) : null;
const hasTorch = probe?.code === 0;
const why = probe === null ? `${PYTHON} is missing` : `${PYTHON} cannot import torch, numpy, PIL and pytest (${probe.stderr.trim().split('\n').pop() ?? ''})`;
if (!hasTorch) console.warn(`tests/torch-bridge.test.ts SKIPPED: ${why}; install them with: apt-get install -y python3-torch python3-numpy python3-pil python3-pytest libopenblas0-pthread`);

const python = (args: string[], cwd = PYDIR) => runProgram(PYTHON, args, { cwd });
const dir = tempDir('sentseg-torch-bridge-');
const maxDiff = (a: Tensor, b: Tensor) => (tf.max(tf.abs(tf.sub(a, b))).dataSync() as Float32Array)[0] as number;

describe.skipIf(!hasTorch)('sentseg-torch (PyTorch) against the TypeScript trainer', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it.each(['tiny', 'b0'])('%s: the same seed gives the same initial weights, the same weights the same pixel embeddings (to 1e-4)', async (variant) => {
    const out = path.join(dir, `parity-${variant}`);
    const r = await python(['-m', 'sentseg_torch.parity', 'model', '--variant', variant, '--seed', '3', '--embed-dim', '32', '--size', '64', '--out', out]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const model = loadWeights(out, 'model');
    const config = (model.file.modelTopology as { config: SegFormerConfig }).config;
    const init = loadWeights(out, 'init');
    const ts = new SegFormer(config, 3);
    try {
      expect([...init.tensors.keys()]).toEqual(ts.params.names());
      let initDiff = 0;
      for (const [name, v] of ts.params.entries()) initDiff = Math.max(initDiff, maxDiff(v, init.tensors.get(name) as Tensor));
      expect(initDiff).toBeLessThan(1e-6);
      ts.params.assign(model.tensors, out);
      const io = loadWeights(out, 'io');
      const images = io.tensors.get('images') as Tensor;
      const expected = io.tensors.get('embeddings') as Tensor;
      const got = tf.tidy(() => ts.forward(images));
      expect(got.shape).toEqual(expected.shape);
      const diff = maxDiff(got, expected);
      const scale = (tf.max(tf.abs(expected)).dataSync() as Float32Array)[0] as number;
      console.log(`${variant}: max |TS − PyTorch| = ${diff.toExponential(2)} over embeddings of max |e| ${scale.toFixed(3)}`);
      expect(scale).toBeGreaterThan(0.1);
      expect(diff).toBeLessThan(1e-4);
      tf.dispose([got, ...model.tensors.values(), ...init.tensors.values(), ...io.tensors.values()]);
    } finally {
      ts.params.dispose();
    }
  }, 180_000);

  it('the same seed gives the same batches, crops, flips, jitter and noise', async () => {
    const out = path.join(dir, 'data');
    const r = await python(['-m', 'sentseg_torch.parity', 'data', '--out', out]);
    expect(r.code).toBe(0);
    type Plan = { resized_width: number; resized_height: number; left: number; top: number; flip: boolean; brightness: number; contrast: number; saturation: number; blur_sigma: number; noise_seed: number };
    const py = JSON.parse(readFileSync(path.join(out, 'data.json'), 'utf8')) as { plans: Plan[]; pixels: number[]; batches: [string, number, number][][] };
    const cfg = { shortEdge: 512, crop: 256, flip: true, colorJitter: 0.2, blurProbability: 0.5, noiseStd: 3 };
    const plans = Array.from({ length: 20 }, (_, s) => planAugment(1000 + 37 * s, 700 - 11 * s, cfg, mixSeed(7, s, s % 3, 0x5eed)));
    expect(py.plans.map((p) => [p.resized_width, p.resized_height, p.left, p.top, p.flip, p.noise_seed])).toEqual(plans.map((p) => [p.resizedWidth, p.resizedHeight, p.left, p.top, p.flip, p.noiseSeed]));
    expect(new Set(plans.map((p) => p.flip)).size).toBe(2);
    py.plans.forEach((p, i) => {
      const t = plans[i] as (typeof plans)[number];
      for (const [a, b] of [[p.brightness, t.brightness], [p.contrast, t.contrast], [p.saturation, t.saturation], [p.blur_sigma, t.blurSigma]] as const) expect(Math.abs(a - b)).toBeLessThan(1e-12);
    });
    const size = 16;
    const rgb = Uint8Array.from({ length: size * size * 3 }, (_, i) => (i * 37) % 256);
    const valid = Uint8Array.from({ length: size * size }, (_, i) => (i < (size - 3) * size ? 1 : 0));
    const pixels = colourAndNormalise(rgb, valid, planAugment(640, 480, cfg, 99), 3);
    expect(py.pixels.length).toBe(pixels.length);
    expect(Math.max(...py.pixels.map((v, i) => Math.abs(v - (pixels[i] as number))))).toBeLessThan(1e-5);
    const sampler = new BalancedSampler([{ name: 'a', ids: [10, 11, 12, 13, 14, 15, 16] }, { name: 'b', ids: [100, 101, 102] }, { name: 'c', ids: [500, 501] }], 5, 11);
    expect(py.batches).toEqual(Array.from({ length: 9 }, (_, t) => sampler.batch(t).map((b) => [b.dataset, b.imageId, b.slot])));
  });

  it('the same batch gives the same L_HD, L_LD and L_WD (to 1e-5)', async () => {
    const out = path.join(dir, 'losses');
    const r = await python(['-m', 'sentseg_torch.parity', 'losses', '--out', out]);
    expect(r.code).toBe(0);
    const { tensors: t } = loadWeights(out, 'losses');
    const get = (name: string) => t.get(name) as Tensor;
    const target = tf.cast(get('target'), 'int32');
    const boxRows = get('boxes').arraySync() as number[][];
    const boxes: MapBox[] = boxRows.map(([image, x0, y0, x1, y1]) => ({ image: image as number, x0: x0 as number, y0: y0 as number, x1: x1 as number, y1: y1 as number }));
    const hd = lossHD(get('emb'), get('labelEmb'), target, get('logTau')).dataSync()[0] as number;
    const ld = lossLD(get('emb'), get('labelEmb'), target, get('logTau'), 0.3).dataSync()[0] as number;
    const wd = lossWD(get('emb'), boxes, get('clip'), { w: get('wdW'), b: get('wdB') }).dataSync()[0] as number;
    const py = { hd: get('hd').dataSync()[0] as number, ld: get('ld').dataSync()[0] as number, wd: get('wd').dataSync()[0] as number };
    console.log(`losses TS ${hd} ${ld} ${wd}; PyTorch ${py.hd} ${py.ld} ${py.wd}`);
    expect(ld).not.toBeCloseTo(hd, 3); // L_LD dropped pixels: the two differ
    expect(Math.abs(hd - py.hd)).toBeLessThan(1e-5);
    expect(Math.abs(ld - py.ld)).toBeLessThan(1e-5);
    expect(Math.abs(wd - py.wd)).toBeLessThan(1e-5);
  });

  describe('round trip', () => {
    let world: World;
    beforeAll(async () => {
      world = await writeWorld(path.join(dir, 'world'));
    }, 120_000);

    it('5 steps in PyTorch → sentseg eval on the run → 2 more steps in the TypeScript trainer', async () => {
      const run = path.join(dir, 'torch-run');
      const trained = await python(['-m', 'sentseg_torch.train', '--manifest', world.manifest, '--label-bank', world.bank, '--out', run, '--steps', '5', '--nproc', '2', '--device', 'cpu',
        '--set', 'data.batchSize=4', '--set', 'data.shortEdge=64', '--set', 'data.crop=64', '--set', 'optimizer.lr=0.001', '--set', 'checkpointEvery=5']);
      expect(trained.stderr).toContain('2 process(es) on cpu (gloo)');
      expect(trained.code).toBe(0);
      const evaluated = await startCli(BIN.sentseg, ['eval', '--run', run, '--dataset', 'cityscapes', '--split', 'val', '--short-edge', '64', '--backend', 'wasm', '--json'], { cwd: dir }).done;
      expect(evaluated.stderr).not.toMatch(/error/i);
      expect(evaluated.code).toBe(0);
      const report = JSON.parse(evaluated.stdout) as { images: number; miou: number; step: number };
      expect(report.step).toBe(5);
      expect(report.images).toBe(2);
      expect(report.miou).toBeGreaterThanOrEqual(0);
      console.log(`sentseg eval of the PyTorch run (step ${report.step}): ${report.images} images, mIoU ${report.miou.toFixed(4)}`);
      const resumed = await startCli(BIN.sentseg, ['train', '--resume', run, '--steps', '7', '--backend', 'wasm'], { cwd: dir }).done;
      expect(resumed.stderr).toContain(`resumed from ${path.join(run, 'checkpoints', 'step-000005')} at step 5`);
      expect(resumed.code).toBe(0);
      const lines = readFileSync(path.join(run, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { step: number; loss: number; processes?: number });
      expect(lines.map((l) => l.step)).toEqual([1, 2, 3, 4, 5, 6, 7]);
      expect(lines.slice(0, 5).every((l) => l.processes === 2)).toBe(true);
      expect(lines.slice(5).every((l) => Number.isFinite(l.loss) && l.loss > 0)).toBe(true);
      console.log(`losses by step (1-5 PyTorch, 2 processes; 6-7 TypeScript): ${lines.map((l) => l.loss.toFixed(4)).join(' ')}`);
      // And back: the PyTorch bridge resumes the TypeScript trainer's checkpoint.
      const back = await python(['-m', 'sentseg_torch.train', '--resume', run, '--steps', '8', '--device', 'cpu']);
      expect(back.stderr).toContain(`resumed from ${path.join(run, 'checkpoints', 'step-000007')} at step 7`);
      expect(back.code).toBe(0);
      expect(readFileSync(path.join(run, 'metrics.jsonl'), 'utf8').trim().split('\n').length).toBe(8);
    }, 300_000);
  });

  describe('L_WD: the TypeScript trainer builds the box-embedding cache, the bridge trains on it', () => {
    let world: World;
    let vision: string;
    beforeAll(async () => {
      world = await writeWorld(path.join(dir, 'wd-world'));
      const { boxes } = await addBoxDataset(world.manifest, path.join(dir, 'wd-world', 'o365'), [{ id: 6, name: 'Car' }, { id: 1, name: 'Person' }]);
      expect(boxes).toBeGreaterThanOrEqual(4);
      vision = path.join(dir, 'tiny-clip-vision');
      writeTinyClipVisionModel(vision, { seed: 3, projectionDim: 24 });
    }, 120_000);

    it('refused without the cache (naming `sentseg-model box-embeddings`), then 2 steps whose L_WD equals the TypeScript loss on the same batch and targets (to 1e-5)', async () => {
      const run = path.join(dir, 'wd-run');
      const settings = ['--set', 'data.datasets=["cityscapes","o365-fixture"]', '--set', 'data.batchSize=4', '--set', 'data.shortEdge=64', '--set', 'data.crop=64', '--set', 'optimizer.lr=0.001', '--set', `clipVision=${vision}`];
      const trainArgs = ['--manifest', world.manifest, '--label-bank', world.bank, '--out', run, '--steps', '2', '--device', 'cpu', ...settings];
      const refused = await python(['-m', 'sentseg_torch.train', ...trainArgs]);
      expect(refused.code).toBe(2);
      expect(existsSync(run)).toBe(false);
      const named = /build it with `npx sentseg-model (box-embeddings [^`]*)`/.exec(refused.stderr);
      expect(named, refused.stderr).not.toBeNull();
      // The command as printed (shell-quoted), run as it is.
      const words = [...(named?.[1] ?? '').matchAll(/'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2] ?? '');
      const built = await startCli(BIN.sentsegModel, words, { cwd: dir }).done;
      expect(built.stderr).toBe('');
      expect(built.code).toBe(0);
      const cacheFile = `${world.manifest}.box-embeddings.sqlite`;
      expect(built.stdout).toContain(`box cache: ${cacheFile}`);
      const modelId = /\((local:tiny-clip-vision@[0-9a-f]{16}), 24-d\)/.exec(built.stdout)?.[1] as string;
      expect(modelId).toBeDefined();

      const out = path.join(dir, 'wd-steps');
      const trained = await python(['-m', 'sentseg_torch.parity', 'wd-steps', '--out', out, '--', ...trainArgs]);
      expect(trained.code, trained.stderr).toBe(0);
      expect(trained.stderr).toContain(`box embeddings (${modelId}, 24-d)`);
      const metrics = readFileSync(path.join(run, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { step: number; wd: number | null; wdBoxes: number });
      const steps = JSON.parse(readFileSync(path.join(out, 'wd-steps.json'), 'utf8')) as { step: number; images: [string, number, number][]; boxIds: number[] }[];
      expect(steps.map((s) => s.step)).toEqual([1, 2]);

      // Each step's boxes and targets, derived here from the manifest, the seed and the cache.
      const config = JSON.parse(readFileSync(path.join(run, 'config.json'), 'utf8')) as { seed: number; data: AugmentConfig; losses: { wdMinVisible: number } };
      const reader = ManifestReader.open(world.manifest);
      const cache = new BoxEmbeddingCache(cacheFile);
      try {
        for (const s of steps) {
          const boxes: MapBox[] = [];
          const targets: Float32Array[] = [];
          const ids: number[] = [];
          s.images.forEach(([dataset, imageId, slot], j) => {
            const sample = reader.sample(imageId);
            if (!sample) throw new Error(`no image ${imageId}`);
            const plan = planAugment(sample.width, sample.height, config.data, mixSeed(config.seed, s.step - 1, slot, 0x5eed));
            const lut = reader.lut(dataset);
            for (const box of reader.boxes(imageId)) {
              if (lut[box.sourceId] === reader.ignoreIndex()) continue;
              const moved = transformBox(box, sample.width, sample.height, plan, config.data.crop);
              if (!moved || moved.visible < config.losses.wdMinVisible) continue;
              boxes.push({ image: j, x0: moved.x0 / 4, y0: moved.y0 / 4, x1: moved.x1 / 4, y1: moved.y1 / 4 });
              targets.push(cache.get(modelId, boxKey(dataset, sample.image, reader.dataset(dataset).root, box)) as Float32Array);
              ids.push(box.boxId);
            }
          });
          const { tensors: t } = loadWeights(out, `wd-step-${s.step}`);
          const get = (name: string) => t.get(name) as Tensor;
          expect(ids).toEqual(s.boxIds);
          expect(boxes.length).toBeGreaterThan(0);
          const pyBoxes = get('boxes').arraySync() as number[][];
          expect(pyBoxes.length).toBe(boxes.length);
          boxes.forEach((b, i) => [b.image, b.x0, b.y0, b.x1, b.y1].forEach((v, k) => expect(Math.abs(v - (pyBoxes[i]?.[k] as number))).toBeLessThan(1e-5)));
          const clip = tf.tensor2d(Float32Array.from(targets.flatMap((v) => [...v])), [targets.length, 24]);
          expect(maxDiff(clip, get('clip'))).toBe(0);
          const ts = lossWD(get('emb'), boxes, clip, { w: get('wdW'), b: get('wdB') }).dataSync()[0] as number;
          const py = get('wd').dataSync()[0] as number;
          const logged = metrics.find((m) => m.step === s.step);
          console.log(`step ${s.step}: L_WD over ${boxes.length} boxes: TS ${ts}, PyTorch ${py} (metrics.jsonl ${logged?.wd})`);
          expect(Math.abs(ts - py)).toBeLessThan(1e-5);
          expect(Math.abs(ts - (logged?.wd as number))).toBeLessThan(1e-5);
          expect(logged?.wdBoxes).toBe(boxes.length);
          tf.dispose([clip, ...t.values()]);
        }
      } finally {
        cache.close();
        reader.close();
      }
    }, 300_000);
  });

  it('the package\'s pytest suite passes (readers, data, model, losses, checkpoints, 2-process gloo DDP)', async () => {
    const r = await python(['-m', 'pytest', '-q', '-p', 'no:cacheprovider', 'tests']);
    if (r.code !== 0) console.log(r.stdout.slice(-6000), r.stderr.slice(-3000));
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/\d+ passed/);
  }, 600_000);
});
