import { describe, expect, it } from 'vitest';
import { seededRandom } from '@sentseg/common';
import { lossHD } from '../src/losses/hd.js';
import { lossLD, lowLossMask } from '../src/losses/ld.js';
import { labelResolutionLoss } from '../src/losses/label-resolution.js';
import { tf, type Tensor } from '../src/tf.js';

await tf.setBackend('cpu');

const value = (t: Tensor) => (t.dataSync() as Float32Array)[0] as number;

function randomTensor(shape: number[], seed: number): Tensor {
  const random = seededRandom(seed);
  const size = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(Float32Array.from({ length: size }, () => random() * 2 - 1), shape);
}

/** −log softmax(logits)[t] in float64. */
function crossEntropy(logits: number[], t: number): number {
  const max = Math.max(...logits);
  const logSum = Math.log(logits.reduce((s, v) => s + Math.exp(v - max), 0)) + max;
  return logSum - (logits[t] as number);
}

/**
 * The reference: TensorFlow.js's own resizeBilinear kernel (half-pixel centres = PyTorch's
 * align_corners=False) on the cosine logits, then the per-pixel cross-entropy in float64.
 */
function referencePixelLosses(emb: Tensor, labels: Tensor, target: number[], size: [number, number], tau: number): { losses: number[]; valid: number[] } {
  const [n, h, w, d] = emb.shape as [number, number, number, number];
  const k = labels.shape[0] as number;
  const unit = (x: Tensor) => tf.div(x, tf.norm(x, 'euclidean', -1, true));
  const cos = tf.reshape(tf.matMul(tf.reshape(unit(emb), [-1, d]), unit(labels), false, true), [n, h, w, k]);
  const up = tf.image.resizeBilinear(cos as tf.Tensor4D, size, false, true).dataSync();
  const losses: number[] = [];
  const valid: number[] = [];
  for (let p = 0; p < target.length; p++) {
    const t = target[p] as number;
    const ok = t >= 0 && t < k;
    const logits = Array.from(up.subarray(p * k, (p + 1) * k), (v) => v / tau);
    losses.push(ok ? crossEntropy(logits, t) : 0);
    valid.push(ok ? 1 : 0);
  }
  return { losses, valid };
}

describe('losses at the label\'s resolution (losses.resolution = label)', () => {
  it('upsamples a 2×2 map to an 8×8 label bilinearly (align_corners = false) before the cross-entropy, worked by hand', () => {
    // Labels (1,0) and (0,1); the map's left column is (1,0), its right column (0,1): cosines
    // (1,0) and (0,1). Along x, 2 → 8 with half-pixel centres: source x = (X + 0.5)/4 − 0.5, clamped
    // to [0, 1], so the left column's weight is 1, 1, .875, .625, .375, .125, 0, 0 (rows alike).
    // At τ = 0.5 a pixel of weight a has logits (2a, 2(1 − a)).
    const emb = tf.tensor4d([[[[1, 0], [0, 1]], [[1, 0], [0, 1]]]]);
    const labels = tf.tensor2d([[1, 0], [0, 1]]);
    const left = [1, 1, 0.875, 0.625, 0.375, 0.125, 0, 0];
    // Label 0 everywhere but a right-hand band of label 1 in rows 0–3, and row 7 ignored.
    const target: number[] = [];
    for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) target.push(y === 7 ? 255 : y < 4 && x >= 6 ? 1 : 0);
    let sum = 0;
    let valid = 0;
    target.forEach((t, p) => {
      if (t === 255) return;
      const a = left[p % 8] as number;
      sum += crossEntropy([2 * a, 2 * (1 - a)], t);
      valid += 1;
    });
    expect(valid).toBe(56);
    const t = tf.tensor3d(target, [1, 8, 8], 'int32');
    const got = value(lossHD(emb, labels, t, tf.scalar(Math.log(0.5))));
    expect(got).toBeCloseTo(sum / 56, 5);
    // The same label sampled at the output's resolution would have been another loss: the upsampling matters.
    expect(Math.abs(got - value(lossHD(emb, labels, tf.tensor3d([0, 0, 0, 0], [1, 2, 2], 'int32'), tf.scalar(Math.log(0.5)))))).toBeGreaterThan(0.05);
  });

  it('matches TensorFlow.js\'s resizeBilinear kernel on a batch, in one band or in many (chunked)', () => {
    const emb = randomTensor([2, 3, 5, 6], 21);
    const labels = randomTensor([4, 6], 22);
    const random = seededRandom(23);
    const target = Array.from({ length: 2 * 12 * 20 }, () => (random() < 0.1 ? 255 : Math.floor(random() * 4)));
    const t = tf.tensor3d(target, [2, 12, 20], 'int32');
    const tau = 0.2;
    const ref = referencePixelLosses(emb, labels, target, [12, 20], tau);
    const m = ref.valid.reduce((a, b) => a + b, 0);
    const hd = ref.losses.reduce((a, b) => a + b, 0) / m;
    const logTau = tf.scalar(Math.log(tau));
    expect(value(labelResolutionLoss(emb, labels, t, logTau, 0))).toBeCloseTo(hd, 5);
    // Bands of one row (2 · 20 · 4 = 160 values each): the same sum.
    expect(value(labelResolutionLoss(emb, labels, t, logTau, 0, 160))).toBeCloseTo(hd, 5);
    // L_LD: each image's 30% hardest label pixels dropped, divided by all valid pixels.
    const keep = lowLossMask(Float32Array.from(ref.losses), Float32Array.from(ref.valid), 2, 0.3);
    const ld = ref.losses.reduce((s, v, i) => s + v * (keep[i] as number), 0) / m;
    expect(value(lossLD(emb, labels, t, logTau))).toBeCloseTo(ld, 5);
    expect(value(labelResolutionLoss(emb, labels, t, logTau, 0.3, 160))).toBeCloseTo(ld, 5);
  });

  it('has gradients that match finite differences, τ included, finite, the same in one band or in many', () => {
    const emb = randomTensor([2, 3, 4, 5], 31);
    const labels = randomTensor([3, 5], 32);
    const random = seededRandom(33);
    const target = Array.from({ length: 2 * 12 * 16 }, () => (random() < 0.1 ? 255 : Math.floor(random() * 3)));
    const t = tf.tensor3d(target, [2, 12, 16], 'int32');
    const logTau = Math.log(0.3);
    const grads = (chunk: number) => tf.grads((e: Tensor, lt: Tensor) => labelResolutionLoss(e, labels, t, lt, 0, chunk))([emb, tf.scalar(logTau)]).map((g) => Float32Array.from(g.dataSync()));
    const [ge, gt] = grads(1 << 20) as [Float32Array, Float32Array];
    expect(ge.every(Number.isFinite)).toBe(true);
    // Bands of one row (2 · 16 · 3 = 96 values): the same gradients.
    const [ce, ct] = grads(96) as [Float32Array, Float32Array];
    ge.forEach((g, i) => expect(ce[i]).toBeCloseTo(g, 6));
    expect(ct[0]).toBeCloseTo(gt[0] as number, 6);
    // Central differences.
    const base = emb.dataSync();
    const loss = (e: Float32Array, lt: number) => value(labelResolutionLoss(tf.tensor(e, emb.shape), labels, t, tf.scalar(lt), 0));
    for (const i of [0, 7, 33, 58, 80, 119]) {
      const plus = Float32Array.from(base);
      const minus = Float32Array.from(base);
      plus[i] = (plus[i] as number) + 1e-2;
      minus[i] = (minus[i] as number) - 1e-2;
      const numeric = (loss(plus, logTau) - loss(minus, logTau)) / 2e-2;
      expect(Math.abs((ge[i] as number) - numeric)).toBeLessThan(2e-3 * Math.max(1, Math.abs(numeric)) + 2e-5);
    }
    const numericTau = (loss(Float32Array.from(base), logTau + 1e-2) - loss(Float32Array.from(base), logTau - 1e-2)) / 2e-2;
    expect(Math.abs((gt[0] as number) - numericTau)).toBeLessThan(2e-3 * Math.max(1, Math.abs(numericTau)));
  });

  it('keeps memory bounded: the upsampled logits are held one band at a time, forward and backward, leaving no tensor behind', async () => {
    // 2 images, a 20×20 map → an 80×80 label, K = 238 labels: 3 M upsampled logits (12 MB), of
    // which autodiff would keep several tensors; in bands of 2^18 values (6 rows) they are not.
    const emb = tf.variable(randomTensor([2, 20, 20, 8], 41), true, 'emb-memory-test');
    const labels = randomTensor([238, 8], 42);
    const random = seededRandom(43);
    const t = tf.tensor3d(Int32Array.from({ length: 2 * 80 * 80 }, () => (random() < 0.05 ? 255 : Math.floor(random() * 238))), [2, 80, 80], 'int32');
    const before = tf.memory().numTensors;
    const peak = async (chunk: number): Promise<{ bytes: number; loss: number; grad: Float32Array }> => {
      let loss = Number.NaN;
      let grad = new Float32Array();
      const profile = await tf.profile(() => {
        tf.tidy(() => {
          const { value: v, grads } = tf.variableGrads(() => labelResolutionLoss(emb, labels, t, tf.scalar(Math.log(0.07)), 0.3, chunk) as tf.Scalar, [emb]);
          loss = value(v);
          grad = Float32Array.from((grads['emb-memory-test'] as Tensor).dataSync());
        });
      });
      return { bytes: profile.peakBytes, loss, grad };
    };
    const whole = await peak(Number.MAX_SAFE_INTEGER);
    const banded = await peak(2 ** 18);
    expect(banded.loss).toBeCloseTo(whole.loss, 5);
    expect(banded.grad.every(Number.isFinite)).toBe(true);
    banded.grad.forEach((g, i) => expect(g).toBeCloseTo(whole.grad[i] as number, 6));
    expect(banded.bytes).toBeLessThan(whole.bytes / 4);
    emb.dispose();
    t.dispose();
    labels.dispose();
    expect(tf.memory().numTensors).toBeLessThanOrEqual(before - 1);
  }, 120_000);
});
