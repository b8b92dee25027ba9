import { describe, expect, it } from 'vitest';
import { lossHD } from '../src/losses/hd.js';
import { cosineSimilarities, headPixelLosses, pixelLosses } from '../src/losses/cosine.js';
import { foldHead, headCosineSimilarities } from '../src/losses/head-cosine.js';
import { maxDiff } from './tensors.js';
import { dropCount, dropHardest, lossLD, lowLossMask } from '../src/losses/ld.js';
import { lossWD, roiPoolWeights, type MapBox } from '../src/losses/wd.js';
import { batchLosses, chooseLosses } from '../src/losses/table.js';
import { TrainerError } from '../src/errors.js';
import type { DatasetInfo } from '@sentseg/dataset-tools';

type Trained = Pick<DatasetInfo, 'name' | 'annotation' | 'loss'>;
import { tf, type Tensor } from '../src/tf.js';
import { seededRandom } from '@sentseg/common';

await tf.setBackend('cpu');

const value = (t: Tensor) => (t.dataSync() as Float32Array)[0] as number;
// Hand-computed: logits (2, 0) → −log softmax at 0 = log(1 + e^−2); at 1 = log(1 + e^2); equal logits → log 2.
const L_EASY = Math.log(1 + Math.exp(-2));
const L_HARD = Math.log(1 + Math.exp(2));
const L_EVEN = Math.log(2);
const LABELS = () => tf.tensor2d([[1, 0], [0, 1]]);
const TAU_HALF = () => tf.scalar(Math.log(0.5));

describe('L_HD', () => {
  it('is the mean cross-entropy of the cosine softmax over valid pixels, 255 ignored', () => {
    // pixel (1,0): cos 1 and 0 → logits 2, 0 at τ = 0.5; pixel (1,1): cos 1/√2 both → logits √2, √2.
    const emb = tf.tensor4d([[[[1, 0], [1, 1], [5, -3]]]]);
    const target = tf.tensor3d([[[0, 1, 255]]], undefined, 'int32');
    expect(value(lossHD(emb, LABELS(), target, TAU_HALF()))).toBeCloseTo((L_EASY + L_EVEN) / 2, 5);
  });

  it('does not depend on the embeddings\' length, only their direction', () => {
    const a = lossHD(tf.tensor4d([[[[1, 0], [1, 1]]]]), LABELS(), tf.tensor3d([[[1, 0]]], undefined, 'int32'), TAU_HALF());
    const b = lossHD(tf.tensor4d([[[[7, 0], [0.1, 0.1]]]]), LABELS(), tf.tensor3d([[[1, 0]]], undefined, 'int32'), TAU_HALF());
    expect(value(a)).toBeCloseTo((L_HARD + L_EVEN) / 2, 5);
    expect(value(b)).toBeCloseTo(value(a), 5);
  });

  it('is 0 (not NaN) when no pixel is valid', () => {
    expect(value(lossHD(tf.tensor4d([[[[1, 0]]]]), LABELS(), tf.tensor3d([[[255]]], undefined, 'int32'), TAU_HALF()))).toBe(0);
  });
});

describe('L_LD', () => {
  it('drops each image\'s ⌊30%⌋ hardest valid pixels, then divides by all valid pixels of the batch (eq. 5, as L_HD)', () => {
    // Image 1: losses easy, hard, even, even → the hard one is dropped (⌊0.3·4⌋ = 1).
    // Image 2: easy, hard, even + one ignored pixel → ⌊0.3·3⌋ = 0 dropped.
    // Six pixels kept, seven valid: M = 7 (dividing by the 6 kept gave 0.743371).
    const emb = tf.tensor4d([[[[1, 0], [1, 0], [1, 1], [1, 1]]], [[[1, 0], [1, 0], [1, 1], [0, 1]]]]);
    const target = tf.tensor3d([[[0, 1, 0, 1]], [[0, 1, 0, 255]]], undefined, 'int32');
    const expected = (L_EASY + 2 * L_EVEN + (L_EASY + L_HARD + L_EVEN)) / 7;
    expect(value(lossLD(emb, LABELS(), target, TAU_HALF()))).toBeCloseTo(expected, 5);
    // With nothing dropped it is L_HD.
    expect(value(lossLD(emb, LABELS(), target, TAU_HALF(), 0))).toBeCloseTo(value(lossHD(emb, LABELS(), target, TAU_HALF())), 6);
  });

  it('is equation (5) on one image of 10 valid pixels (the issue\'s example): 7 kept of loss log(1 + e^−2), 3 hard ones dropped', () => {
    // Labels (1,0) and (0,1), τ = 0.5: a pixel (1,0) has logits (2, 0). Target 0 → l = e²/(e² + 1),
    // −log l = log(1 + e^−2) = 0.126928; target 1 → −log l = log(1 + e²) = 2.126928 (the 3 hard ones).
    // L_LD = (7 · 0.126928 + 0 · 3 · 2.126928) / 10 = 0.888496 / 10 = 0.088850 (not / 7 = 0.126928).
    const emb = tf.tensor4d([[Array.from({ length: 10 }, () => [1, 0])]]);
    const target = tf.tensor3d([[[0, 0, 0, 0, 1, 0, 0, 1, 0, 1]]], undefined, 'int32');
    expect(value(lossLD(emb, LABELS(), target, TAU_HALF()))).toBeCloseTo(0.08885, 5);
  });

  it('is equation (5) on a 12-pixel image worked by hand: 2 ignored, 10 valid, the 3 hardest dropped, sum over 10', () => {
    // Labels V_0 = (1,0), V_1 = (0,1), τ = 0.5, so the logits are z/τ = 2·cos(e, V_i):
    //   e = (1,0) → (2, 0);  e = (0,1) → (0, 2);  e = (1,1) → (√2, √2);
    //   e = (3,4) → cos (0.6, 0.8) → (1.2, 1.6);  e = (4,3) → (1.6, 1.2).
    // −log l_j with two labels is log(1 + e^(z_other − z_true)):
    //  j  e      target  −log l_j
    //  1  (1,0)  0       log(1 + e^−2)   = 0.126928
    //  2  (1,0)  0       log(1 + e^−2)   = 0.126928
    //  3  (0,1)  1       log(1 + e^−2)   = 0.126928
    //  4  (1,1)  0       log 2           = 0.693147
    //  5  (1,1)  1       log 2           = 0.693147
    //  6  (3,4)  1       log(1 + e^−0.4) = 0.513015
    //  7  (4,3)  0       log(1 + e^−0.4) = 0.513015
    //  8  (3,4)  0       log(1 + e^0.4)  = 0.913015  dropped
    //  9  (1,0)  1       log(1 + e^2)    = 2.126928  dropped
    // 10  (0,1)  0       log(1 + e^2)    = 2.126928  dropped
    // 11  (1,0)  255     ignored (w = 0, not counted in M)
    // 12  (5,−3) 255     ignored
    // M = 10 valid, ⌊0.3 · 10⌋ = 3 dropped (w = 0): the three largest, pixels 10, 9, 8.
    // Σ w_j (−log l_j) = 3 · 0.126928 + 2 · 0.693147 + 2 · 0.513015 = 0.380784 + 1.386294 + 1.026031 = 2.793109
    // L_LD = 2.793109 / 10 = 0.279311 (dividing by the 7 kept would give 0.399016).
    const emb = tf.tensor4d([[
      [[1, 0], [1, 0], [0, 1], [1, 1]],
      [[1, 1], [3, 4], [4, 3], [3, 4]],
      [[1, 0], [0, 1], [1, 0], [5, -3]],
    ]]);
    const target = tf.tensor3d([[[0, 0, 1, 0], [1, 1, 0, 0], [1, 0, 255, 255]]], undefined, 'int32');
    expect(value(lossLD(emb, LABELS(), target, TAU_HALF()))).toBeCloseTo(0.279311, 5);
    // L_HD of the same pixels divides the same 10 into all of them: (2.793109 + 0.913015 + 2 · 2.126928) / 10 = 0.795998.
    expect(value(lossHD(emb, LABELS(), target, TAU_HALF()))).toBeCloseTo(0.795998, 5);
  });

  it('ranks per image, not across the batch', () => {
    const losses = new Float32Array([9, 8, 7, 6, 5, 1, 1, 1, 1, 1]);
    const valid = new Float32Array(10).fill(1);
    // ⌊0.3·5⌋ = 1 dropped in each image: its largest, whatever the other image holds; among equal
    // losses the first pixel goes, so exactly one is dropped.
    expect([...lowLossMask(losses, valid, 2)]).toEqual([0, 1, 1, 1, 1, 0, 1, 1, 1, 1]);
  });
});

describe('L_LD\'s threshold on the device (tf.topk, no host round trip)', () => {
  it('weighs exactly as lowLossMask on batches with ties and ignored pixels, value and gradient, on cpu and wasm', async () => {
    const random = seededRandom(5);
    const n = 3;
    const perImage = 37;
    // Losses on a grid of quarters (many ties); ignored pixels have loss 0, as pixelLosses gives them.
    const valid = Float32Array.from({ length: n * perImage }, (_, i) => (i % perImage < 7 || random() > 0.2 ? 1 : 0));
    const losses = Float32Array.from(valid, (v) => (v ? Math.round(random() * 8) / 4 : 0));
    const keep = lowLossMask(losses, valid, n, 0.3);
    const m = valid.reduce((a, b) => a + b, 0);
    const expected = losses.reduce((a, l, i) => a + l * (keep[i] as number), 0) / m;
    for (const backend of ['wasm', 'cpu']) {
      await tf.setBackend(backend);
      const l = tf.tensor1d(losses);
      const v = tf.tensor1d(valid);
      expect(value(dropHardest(l, v, n, 0.3))).toBeCloseTo(expected, 6);
      const g = tf.grad((x: Tensor) => dropHardest(x, v, n, 0.3))(l).dataSync() as Float32Array;
      expect(Array.from(g, (x) => Math.round(x * m))).toEqual(Array.from(keep));
    }
  });

  it('drops ⌊0.3 · 30⌋ = 9 of 30 valid pixels on both paths (0.3 · 30 is 8.999999999999998 in double)', () => {
    expect(dropCount(30, 0.3)).toBe(9);
    expect(dropCount(10, 0.3)).toBe(3);
    expect(dropCount(3, 0.3)).toBe(0);
    const losses = Float32Array.from({ length: 30 }, (_, i) => i + 1);
    const valid = new Float32Array(30).fill(1);
    expect(lowLossMask(losses, valid, 1).reduce((a, b) => a + b, 0)).toBe(21);
    // Kept: losses 1..21, sum 231, over 30 valid.
    expect(value(dropHardest(tf.tensor1d(losses), tf.tensor1d(valid), 1, 0.3))).toBeCloseTo(231 / 30, 5);
  });
});

describe('L_WD', () => {
  it('RoI-pools the projected map over each box (partial pixels by area) and takes the L1 distance of unit vectors', () => {
    // 2×2 map: (y0,x0) (1,0) (y0,x1) (0,1) (y1,x0) (1,0) (y1,x1) (1,0); identity 1×1 conv.
    const emb = tf.tensor4d([[[[1, 0], [0, 1]], [[1, 0], [1, 0]]]]);
    const conv = { w: tf.tensor2d([[1, 0], [0, 1]]), b: tf.tensor1d([0, 0]) };
    const boxes: MapBox[] = [
      { image: 0, x0: 0, y0: 0, x1: 1, y1: 2 }, // left column: mean (1,0)
      { image: 0, x0: 0.5, y0: 0, x1: 1.5, y1: 1 }, // half of each top pixel: mean (.5,.5)
    ];
    expect([...roiPoolWeights(boxes, 1, 2, 2)]).toEqual([0.5, 0, 0.5, 0, 0.5, 0.5, 0, 0]);
    const clip = tf.tensor2d([[0, 3], [2, 0]]); // unit: (0,1) and (1,0)
    // Box 1: ‖(0,1) − (1,0)‖₁ = 2. Box 2: ‖(1,0) − (√½,√½)‖₁ = (1 − √½) + √½ = 1.
    expect(value(lossWD(emb, boxes, clip, conv))).toBeCloseTo(1.5, 5);
  });

  it('is 0 without boxes and refuses a mismatched number of CLIP embeddings', () => {
    const emb = tf.zeros([1, 2, 2, 2]);
    const conv = { w: tf.eye(2), b: tf.zeros([2]) };
    expect(value(lossWD(emb, [], tf.zeros([0, 2]), conv))).toBe(0);
    expect(() => lossWD(emb, [{ image: 0, x0: 0, y0: 0, x1: 1, y1: 1 }], tf.zeros([2, 2]), conv)).toThrow(/1 boxes but 2 CLIP/);
  });
});

describe('the table of losses', () => {
  it('applies each loss to its slice of the batch and returns the parts by name', () => {
    // Image 0 (under hd): easy, hard, even, even → (L_EASY + L_HARD + 2 L_EVEN) / 4.
    // Image 1 (under ld): easy, hard, even, ignored → 3 valid, ⌊0.3·3⌋ = 0 dropped → (L_EASY + L_HARD + L_EVEN) / 3.
    const emb = tf.tensor4d([[[[1, 0], [1, 0], [1, 1], [1, 1]]], [[[1, 0], [1, 0], [1, 1], [0, 1]]]]);
    const target = tf.tensor3d([[[0, 1, 0, 1]], [[0, 1, 0, 255]]], undefined, 'int32');
    const context = { labelEmb: LABELS(), logTau: TAU_HALF(), ldDropFraction: 0.3, wdConv: null };
    const parts = batchLosses(emb, target, { hd: { start: 0, count: 1, boxes: [], clipBoxEmb: null }, ld: { start: 1, count: 1, boxes: [], clipBoxEmb: null } }, context);
    expect(Object.keys(parts)).toEqual(['hd', 'ld']);
    expect(value(parts.hd as Tensor)).toBeCloseTo((L_EASY + L_HARD + 2 * L_EVEN) / 4, 5);
    expect(value(parts.ld as Tensor)).toBeCloseTo((L_EASY + L_HARD + L_EVEN) / 3, 5);
    // The whole batch under ld: image 0 drops its hard pixel, M = 7 → (L_EASY + 2 L_EVEN + L_EASY + L_HARD + L_EVEN) / 7.
    const all = batchLosses(emb, target, { ld: { start: 0, count: 2, boxes: [], clipBoxEmb: null } }, context);
    expect(Object.keys(all)).toEqual(['ld']);
    expect(value(all.ld as Tensor)).toBeCloseTo((2 * L_EASY + 3 * L_EVEN + L_HARD) / 7, 5);
    // A wd slice without boxes has nothing to learn from: no part.
    expect(batchLosses(emb, target, { wd: { start: 0, count: 2, boxes: [], clipBoxEmb: null } }, context)).toEqual({});
  });

  it('takes the manifest\'s loss unless losses.byDataset names the dataset, and refuses what cannot work', () => {
    const trained: Trained[] = [
      { name: 'cityscapes', annotation: 'dense', loss: 'hd' },
      { name: 'oi', annotation: 'instance-masks', loss: 'ld' },
      { name: 'o365', annotation: 'boxes', loss: 'wd' },
    ];
    const all = ['cityscapes', 'oi', 'o365', 'ade20k'];
    const choose = (byDataset: Record<string, string>, datasets = trained) => Object.fromEntries(chooseLosses(datasets, byDataset, all, 'm.sqlite'));
    expect(choose({})).toEqual({ cityscapes: 'hd', oi: 'ld', o365: 'wd' });
    expect(choose({ cityscapes: 'ld', oi: 'hd' })).toEqual({ cityscapes: 'ld', oi: 'hd', o365: 'wd' });
    expect(() => choose({ mapillary: 'ld' })).toThrow(new TrainerError('losses.byDataset names dataset "mapillary", which is not in m.sqlite (has: cityscapes, oi, o365, ade20k)'));
    expect(() => choose({ ade20k: 'ld' })).toThrow(new TrainerError('losses.byDataset names dataset "ade20k", which this run does not train (data.datasets: cityscapes, oi, o365)'));
    expect(() => choose({ cityscapes: 'xd' })).toThrow(new TrainerError('losses.byDataset.cityscapes: unknown loss "xd" (one of hd, ld, wd)'));
    expect(() => choose({ cityscapes: 'wd' })).toThrow(new TrainerError('losses.byDataset.cityscapes=wd: L_WD needs boxes, and cityscapes has dense label masks; choose hd or ld'));
    expect(() => choose({ oi: 'wd' })).toThrow(new TrainerError('losses.byDataset.oi=wd: L_WD needs boxes, and oi has instance masks; choose hd or ld'));
    expect(() => choose({ o365: 'hd' })).toThrow(new TrainerError('losses.byDataset.o365=hd: L_HD needs label masks, and o365 has boxes only; choose wd'));
    expect(() => choose({ o365: 'ld' })).toThrow(new TrainerError('losses.byDataset.o365=ld: L_LD needs label masks, and o365 has boxes only; choose wd'));
    // A manifest whose own column does not fit the annotations (edited by hand) is refused as well.
    expect(() => choose({}, [{ name: 'cityscapes', annotation: 'dense', loss: 'wd' }])).toThrow(new TrainerError('m.sqlite gives dataset cityscapes loss wd: L_WD needs boxes, and cityscapes has dense label masks; choose hd or ld'));
  });
});

/** Central differences of f at a few coordinates of x, against tf's gradient. */
function checkGradient(f: (x: Tensor) => Tensor, x: Tensor, eps: number, coords: number[]): { analytic: number[]; numeric: number[] } {
  const grad = tf.grad(f)(x).dataSync();
  const base = x.dataSync().slice();
  const analytic: number[] = [];
  const numeric: number[] = [];
  for (const i of coords) {
    const plus = base.slice();
    const minus = base.slice();
    plus[i] = (plus[i] as number) + eps;
    minus[i] = (minus[i] as number) - eps;
    const fp = value(f(tf.tensor(plus, x.shape)));
    const fm = value(f(tf.tensor(minus, x.shape)));
    numeric.push((fp - fm) / (2 * eps));
    analytic.push(grad[i] as number);
  }
  return { analytic, numeric };
}

function randomTensor(shape: number[], seed: number): Tensor {
  const random = seededRandom(seed);
  const size = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(Float32Array.from({ length: size }, () => random() * 2 - 1), shape);
}

function expectClose(r: { analytic: number[]; numeric: number[] }, tolerance: number): void {
  r.analytic.forEach((a, i) => {
    const n = r.numeric[i] as number;
    expect(Math.abs(a - n)).toBeLessThan(tolerance * Math.max(1, Math.abs(n)));
  });
}

describe('gradients match finite differences', () => {
  const labels = () => randomTensor([5, 4], 11);
  const target = () => tf.tensor3d([[[0, 1, 2], [3, 4, 255]], [[4, 3, 2], [1, 0, 0]]], undefined, 'int32');
  const coords = [0, 3, 7, 12, 18, 25, 33, 40, 47];

  it('L_HD with respect to the pixel embeddings and log τ', () => {
    const emb = randomTensor([2, 2, 3, 4], 12);
    const logTau = tf.scalar(Math.log(0.3));
    expectClose(checkGradient((e) => lossHD(e, labels(), target(), logTau), emb, 1e-2, coords), 2e-3);
    expectClose(checkGradient((t) => lossHD(emb, labels(), target(), tf.reshape(t, [])), tf.tensor1d([Math.log(0.3)]), 1e-2, [0]), 2e-3);
  });

  it('L_LD with respect to the pixel embeddings', () => {
    const emb = randomTensor([2, 2, 3, 4], 13);
    const logTau = tf.scalar(Math.log(0.3));
    expectClose(checkGradient((e) => lossLD(e, labels(), target(), logTau), emb, 1e-3, coords), 5e-3);
  });

  it('L_WD with respect to the pixel embeddings and the 1×1 convolution', () => {
    const emb = randomTensor([2, 3, 3, 4], 14);
    const conv = { w: randomTensor([4, 3], 15), b: randomTensor([3], 16) };
    const boxes: MapBox[] = [
      { image: 0, x0: 0, y0: 0.5, x1: 2.5, y1: 3 },
      { image: 1, x0: 1, y0: 0, x1: 3, y1: 1.5 },
    ];
    const clip = randomTensor([2, 3], 17);
    expectClose(checkGradient((e) => lossWD(e, boxes, clip, conv), emb, 1e-2, [0, 5, 9, 20, 30, 41, 50, 60, 71]), 2e-3);
    expectClose(checkGradient((w) => lossWD(emb, boxes, clip, { w, b: conv.b }), conv.w, 1e-2, [0, 4, 8, 11]), 2e-3);
  });
});

describe('cosines from the head\'s input (head-cosine.ts): the products without the [pixels × D] embeddings', () => {
  /** 29 rows of a head input of width 6 (one row zero: its embedding is b alone), a head 6 → 10, 7 labels. */
  const inputs = () => ({
    f: tf.concat([randomTensor([28, 6], 51), tf.zeros([1, 6])]),
    w: randomTensor([6, 10], 52),
    b: tf.mul(randomTensor([10], 53), 0.3),
    labels: randomTensor([7, 10], 54),
    t: tf.tensor1d(Array.from({ length: 29 }, (_, i) => (i % 9 === 8 ? 255 : (i * 3) % 7)), 'int32'),
    weights: randomTensor([29, 7], 55),
  });

  it.each(['cpu', 'wasm'])('equal the cosines of f·W + b: values and gradients by f, W and b to 1e-5 (%s)', async (backend) => {
    await tf.setBackend(backend);
    const { f, w, b, labels, weights } = inputs();
    const viaEmbeddings = (ff: Tensor, ww: Tensor, bb: Tensor) => tf.sum(tf.mul(cosineSimilarities(tf.add(tf.matMul(ff, ww), bb), labels), weights));
    const viaHead = (ff: Tensor, ww: Tensor, bb: Tensor) => tf.sum(tf.mul(headCosineSimilarities(ff, foldHead(ww, bb, labels)), weights));
    const expected = tf.valueAndGrads(viaEmbeddings)([f, w, b]);
    const got = tf.valueAndGrads(viaHead)([f, w, b]);
    const cos = headCosineSimilarities(f, foldHead(w, b, labels));
    expect(maxDiff(cos, cosineSimilarities(tf.add(tf.matMul(f, w), b), labels))).toBeLessThan(1e-5);
    expect(Math.abs(value(got.value) - value(expected.value))).toBeLessThan(1e-4);
    expected.grads.forEach((g, i) => {
      // Gradients large enough that an error would show.
      expect(value(tf.max(tf.abs(g)))).toBeGreaterThan(0.05);
      expect(maxDiff(got.grads[i] as Tensor, g)).toBeLessThan(1e-5 * Math.max(1, value(tf.max(tf.abs(g)))));
    });
    await tf.setBackend('cpu');
  });

  it('headPixelLosses gives pixelLosses of f·W + b, whole and in recomputed chunks, with their gradients', () => {
    const { f, w, b, labels, t } = inputs();
    const f4 = tf.reshape(f, [1, 29, 1, 6]);
    const t3 = tf.reshape(t, [1, 29, 1]);
    const logTau = tf.scalar(-1.2);
    const mean = (l: { losses: Tensor; valid: Tensor }) => tf.div(tf.sum(l.losses), tf.sum(l.valid));
    const plain = tf.valueAndGrads((ff: Tensor, ww: Tensor, bb: Tensor, lt: Tensor) => mean(pixelLosses(tf.add(tf.matMul(tf.reshape(ff, [29, 6]), ww), bb), labels, t3, lt)))([f4, w, b, logTau]);
    for (const chunk of [1 << 20, 7 * 5]) {
      const got = tf.valueAndGrads((ff: Tensor, ww: Tensor, bb: Tensor, lt: Tensor) => mean(headPixelLosses(ff, ww, bb, labels, t3, lt, chunk)))([f4, w, b, logTau]);
      expect(Math.abs(value(got.value) - value(plain.value))).toBeLessThan(1e-5);
      plain.grads.forEach((g, i) => expect(maxDiff(got.grads[i] as Tensor, g)).toBeLessThan(1e-5));
    }
  });
});
