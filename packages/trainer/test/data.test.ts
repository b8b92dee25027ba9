import { describe, expect, it } from 'vitest';
import { cropLabels, planAugment, transformBox, type AugmentConfig } from '../src/data/augment.js';
import { BalancedSampler } from '../src/data/sampler.js';
import { ConfigError, parseOverride, resolveConfig } from '../src/config.js';
import { learningRate } from '../src/optim/schedule.js';
import { downsampleTarget } from '../src/train.js';
import { denseLabels, NOT_A_CLASS, strayLabelReason } from '../src/data/load-sample.js';

describe('dataset-balanced sampler', () => {
  const datasets = [
    { name: 'big', ids: Array.from({ length: 100 }, (_, i) => 1000 + i) },
    { name: 'small', ids: [1, 2, 3] },
    { name: 'mid', ids: Array.from({ length: 10 }, (_, i) => 500 + i) },
  ];

  it('puts about as many images of each dataset in every batch, whatever their sizes', () => {
    const sampler = new BalancedSampler(datasets, 4, 1);
    const perDataset = new Map<string, number>();
    for (let step = 0; step < 30; step++) {
      const batch = sampler.batch(step);
      expect(batch).toHaveLength(4);
      const counts = new Map<string, number>();
      for (const item of batch) counts.set(item.dataset, (counts.get(item.dataset) ?? 0) + 1);
      // 4 places over 3 datasets: each has 1 or 2.
      for (const d of datasets) expect(counts.get(d.name) ?? 0).toBeGreaterThanOrEqual(1);
      for (const [name, n] of counts) perDataset.set(name, (perDataset.get(name) ?? 0) + n);
    }
    expect([...perDataset.values()].sort()).toEqual([40, 40, 40]);
  });

  it('goes through each dataset in a fresh permutation per epoch', () => {
    const sampler = new BalancedSampler(datasets, 3, 5);
    const small: number[] = [];
    for (let step = 0; step < 6; step++) small.push(...sampler.batch(step).filter((b) => b.dataset === 'small').map((b) => b.imageId));
    expect(small.slice(0, 3).sort()).toEqual([1, 2, 3]);
    expect(small.slice(3, 6).sort()).toEqual([1, 2, 3]);
  });

  it('gives step t the same batch however it is reached (resume) and another batch for another seed', () => {
    const a = new BalancedSampler(datasets, 5, 9);
    const straight = Array.from({ length: 12 }, (_, s) => a.batch(s));
    const b = new BalancedSampler(datasets, 5, 9);
    expect(b.batch(11)).toEqual(straight[11]);
    expect(b.batch(7)).toEqual(straight[7]);
    const c = new BalancedSampler(datasets, 5, 10);
    expect(Array.from({ length: 12 }, (_, s) => c.batch(s))).not.toEqual(straight);
  });

  it('refuses an empty dataset by name', () => {
    expect(() => new BalancedSampler([{ name: 'void', ids: [] }, datasets[0]!], 2, 1)).toThrow(/no training images in dataset void/);
  });
});

describe('augmentation geometry', () => {
  const config: AugmentConfig = { shortEdge: 8, crop: 4, flip: true, colorJitter: 0, blurProbability: 0, noiseStd: 0 };

  it('resizes the short edge, crops inside the resized image and flips labels with the image', () => {
    // A 4×2 label map (values = x + 10·y) resized to 16×8, crop 4×4.
    const labels = Int32Array.from({ length: 8 }, (_, i) => (i % 4) + 10 * Math.floor(i / 4));
    for (let seed = 0; seed < 20; seed++) {
      const plan = planAugment(4, 2, config, seed);
      expect([plan.resizedWidth, plan.resizedHeight]).toEqual([16, 8]);
      expect(plan.left).toBeGreaterThanOrEqual(0);
      expect(plan.left).toBeLessThanOrEqual(12);
      expect(plan.top).toBeLessThanOrEqual(4);
      const out = cropLabels(labels, 4, 2, plan, 4, 255);
      for (let y = 0; y < 4; y++) {
        for (let x = 0; x < 4; x++) {
          const rx = plan.left + (plan.flip ? 3 - x : x);
          const ry = plan.top + y;
          expect(out[y * 4 + x]).toBe(Math.floor(rx / 4) + 10 * Math.floor(ry / 4));
        }
      }
    }
  });

  it('pads with the ignore value when the crop is larger than the image', () => {
    const plan = planAugment(2, 2, { ...config, shortEdge: 2, flip: false }, 1);
    expect(Array.from(cropLabels(Int32Array.from([1, 2, 3, 4]), 2, 2, plan, 4, 255))).toEqual([1, 2, 255, 255, 3, 4, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255]);
  });

  it('moves boxes with the resize, crop and flip, and drops those that leave the crop', () => {
    const plan = { resizedWidth: 20, resizedHeight: 10, left: 5, top: 0, flip: false, brightness: 1, contrast: 1, saturation: 1, blurSigma: 0, noiseSeed: 0 };
    expect(transformBox({ x: 4, y: 1, w: 2, h: 2 }, 10, 5, plan, 8)).toEqual({ x0: 3, y0: 2, x1: 7, y1: 6, visible: 1 });
    expect(transformBox({ x: 4, y: 1, w: 2, h: 2 }, 10, 5, { ...plan, flip: true }, 8)).toEqual({ x0: 1, y0: 2, x1: 5, y1: 6, visible: 1 });
    expect(transformBox({ x: 0, y: 0, w: 2, h: 2 }, 10, 5, plan, 8)).toBeNull();
  });

  it('says what share of a box the crop shows: 70% and 30% for boxes the crop\'s right edge cuts, before and after a flip', () => {
    // 100×100 image, no resize, crop 64 at (0, 0): its right edge is x = 64.
    const plan = { resizedWidth: 100, resizedHeight: 100, left: 0, top: 0, flip: false, brightness: 1, contrast: 1, saturation: 1, blurSigma: 0, noiseSeed: 0 };
    // x 50..70: 14 of 20 columns inside (70%); x 58..78: 6 of 20 (30%); rows 10..30 inside.
    expect(transformBox({ x: 50, y: 10, w: 20, h: 20 }, 100, 100, plan, 64)).toEqual({ x0: 50, y0: 10, x1: 64, y1: 30, visible: expect.closeTo(0.7, 12) });
    expect(transformBox({ x: 58, y: 10, w: 20, h: 20 }, 100, 100, plan, 64)).toEqual({ x0: 58, y0: 10, x1: 64, y1: 30, visible: expect.closeTo(0.3, 12) });
    // Flipped: the visible part mirrored to x 0..14 (resp. 0..6), the same share.
    expect(transformBox({ x: 50, y: 10, w: 20, h: 20 }, 100, 100, { ...plan, flip: true }, 64)).toEqual({ x0: 0, y0: 10, x1: 14, y1: 30, visible: expect.closeTo(0.7, 12) });
    // Cut on two sides (crop at (60, 20)): x 50..70 → 60..70 (half), y 10..30 → 20..30 (half): 25%.
    expect(transformBox({ x: 50, y: 10, w: 20, h: 20 }, 100, 100, { ...plan, left: 60, top: 20 }, 64)?.visible).toBeCloseTo(0.25, 12);
  });

  it('takes the label at the centre of each output cell', () => {
    const target = Int32Array.from({ length: 64 }, (_, i) => i);
    expect(Array.from(downsampleTarget(target, 8, 4))).toEqual([18, 22, 50, 54]);
  });
});

describe('mask ids that are neither a label nor ignored', () => {
  it('are counted per mask value, each with its pixels, unknown ids and ids past the labels alike', () => {
    // 10 labels. Source 3 → label 0, 7 → ignored, 9 → label 12 (past the labels); 300 and 1000 no class.
    const lut = new Int32Array(65_536).fill(NOT_A_CLASS);
    lut[3] = 0;
    lut[7] = 255;
    lut[9] = 12;
    const values = Int32Array.from([3, 300, 7, 1000, 300, 9, 3]);
    const labels = denseLabels(values, 'gray', [], lut, 255);
    expect(Array.from(labels)).toEqual([0, -1, 255, -1, -1, 12, 0]);
    expect(strayLabelReason(values, labels, 10, 'ds', 'gray')).toBe('mask ids that are neither a label nor ignored (255): 9 → label 12 (1 px), 300 (2 px), 1000 (1 px); 4 px in all (no class of dataset ds in the manifest, or a label id past its 10 labels)');
    const clean = Int32Array.from([3, 7, 3]);
    expect(strayLabelReason(clean, denseLabels(clean, 'gray', [], lut, 255), 10, 'ds', 'gray')).toBeNull();
  });
});

describe('config', () => {
  it('layers file values and overrides over the defaults', () => {
    const c = resolveConfig([
      { where: 'run.yaml', values: { steps: 50, optimizer: { kind: 'sgd', lr: 0.01 } } },
      { where: '--set', values: parseOverride('data.crop=256') },
      { where: '--set', values: parseOverride('data.datasets=[ade20k, coco]') },
    ]);
    expect(c.steps).toBe(50);
    expect(c.optimizer).toMatchObject({ kind: 'sgd', lr: 0.01, momentum: 0.9 });
    expect(c.data.crop).toBe(256);
    expect(c.data.datasets).toEqual(['ade20k', 'coco']);
    expect(c.data.batchSize).toBe(4);
  });

  it('names an unknown key, a wrong type and a bad value', () => {
    expect(() => resolveConfig([{ where: 'run.yaml', values: { optimiser: { lr: 1 } } }])).toThrow(new ConfigError('unknown config key "optimiser" in run.yaml (known here: seed, manifest, labelBank, encoder, labelText, backend, steps, checkpointEvery, keepCheckpoints, model, data, optimizer, losses, clipVision, boxCache)'));
    expect(() => resolveConfig([{ where: '--set data.cropp=3', values: parseOverride('data.cropp=3') }])).toThrow(/unknown config key "data.cropp" in --set data.cropp=3/);
    expect(() => resolveConfig([{ where: 'x', values: { steps: 'ten' } }])).toThrow(/"steps" in x must be number/);
    expect(() => resolveConfig([{ where: 'x', values: { data: { crop: 100 } } }])).toThrow(/data.crop must be a multiple of 32, got 100/);
  });

  it('takes any dataset name under losses.byDataset (from --set, a file, or both), and refuses a loss that is not hd, ld or wd', () => {
    const set = (s: string) => ({ where: `--set ${s}`, values: parseOverride(s) });
    const c = resolveConfig([
      { where: 'run.yaml', values: { losses: { byDataset: { ade20k: 'hd' } } } },
      set('losses.byDataset.cityscapes=ld'),
      set('losses.byDataset.coco.v2=ld'),
    ]);
    expect(c.losses).toEqual({ ldDropFraction: 0.3, byDataset: { ade20k: 'hd', cityscapes: 'ld', 'coco.v2': 'ld' }, resolution: 'output', wdMinVisible: 0.5 });
    expect(resolveConfig([]).losses.byDataset).toEqual({});
    expect(() => resolveConfig([set('losses.byDataset.cityscapes=xd')])).toThrow(new ConfigError('losses.byDataset.cityscapes must be one of hd, ld, wd, got "xd"'));
    expect(() => resolveConfig([set('losses.byDataset=ld')])).toThrow(/config key "losses.byDataset" in --set losses.byDataset=ld must be an object of name: value/);
    expect(() => resolveConfig([set('losses.byDatasets.cityscapes=ld')])).toThrow(/unknown config key "losses.byDatasets"/);
  });

  it('takes losses.resolution output or label and losses.wdMinVisible in [0, 1], naming a bad value', () => {
    const set = (s: string) => ({ where: `--set ${s}`, values: parseOverride(s) });
    expect(resolveConfig([set('losses.resolution=label')]).losses.resolution).toBe('label');
    expect(resolveConfig([{ where: 'run.yaml', values: { losses: { resolution: 'output', wdMinVisible: 0.25 } } }]).losses).toMatchObject({ resolution: 'output', wdMinVisible: 0.25 });
    expect(() => resolveConfig([set('losses.resolution=input')])).toThrow(new ConfigError('losses.resolution must be output or label, got "input"'));
    expect(() => resolveConfig([set('losses.wdMinVisible=1.5')])).toThrow(new ConfigError('losses.wdMinVisible must be in [0, 1], got 1.5'));
    expect(() => resolveConfig([set('losses.wdMinVisible=half')])).toThrow(/"losses.wdMinVisible" in --set losses.wdMinVisible=half must be number/);
  });
});

describe('learning-rate schedule', () => {
  it('warms up linearly, then decays polynomially to 0', () => {
    const s = { lr: 1, totalSteps: 100, polyPower: 1, warmupSteps: 10, warmupRatio: 0 };
    expect(learningRate(0, s)).toBe(0);
    expect(learningRate(5, s)).toBeCloseTo(0.5 * 0.95, 10);
    expect(learningRate(10, s)).toBeCloseTo(0.9, 10);
    expect(learningRate(100, s)).toBe(0);
    expect(learningRate(50, { ...s, polyPower: 0.9, warmupSteps: 0 })).toBeCloseTo(Math.pow(0.5, 0.9), 10);
  });
});
