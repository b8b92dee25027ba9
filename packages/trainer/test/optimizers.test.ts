import { describe, expect, it } from 'vitest';
import { Optimizer, type OptimizerConfig } from '../src/optim/optimizers.js';
import { tf, type Variable } from '../src/tf.js';

await tf.setBackend('cpu');

const base: OptimizerConfig = { kind: 'adamw', weightDecay: 0, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, momentum: 0.9 };

function step(opt: Optimizer, w: Variable, grad: number[], lr: number, decays = true): number[] {
  opt.apply([['layer/w', w]], { [w.name]: tf.tensor1d(grad) }, lr, () => decays, (v) => v.name);
  return Array.from(w.dataSync());
}

describe('AdamW', () => {
  it('first step moves each weight by lr against the sign of its gradient, after decoupled decay', () => {
    const w = tf.variable(tf.tensor1d([1, -2, 0.5]));
    const opt = new Optimizer({ ...base, weightDecay: 0.1 });
    // m̂ = g, v̂ = g² → update g/(|g| + ε) ≈ sign(g); w ← w·(1 − lr·wd) − lr·sign(g).
    const after = step(opt, w, [0.3, -4, 0], 0.01);
    expect(after[0]).toBeCloseTo(1 * (1 - 0.001) - 0.01, 6);
    expect(after[1]).toBeCloseTo(-2 * (1 - 0.001) + 0.01, 6);
    expect(after[2]).toBeCloseTo(0.5 * (1 - 0.001), 6);
    expect(opt.step).toBe(1);
  });

  it('second step follows the bias-corrected moments', () => {
    const w = tf.variable(tf.tensor1d([0]));
    const opt = new Optimizer(base);
    step(opt, w, [1], 0.1);
    const after = step(opt, w, [3], 0.1);
    const m = 0.9 * 0.1 + 0.1 * 3;
    const v = 0.999 * 0.001 + 0.001 * 9;
    const mHat = m / (1 - 0.9 ** 2);
    const vHat = v / (1 - 0.999 ** 2);
    expect(after[0]).toBeCloseTo(-0.1 - 0.1 * (mHat / (Math.sqrt(vHat) + 1e-8)), 6);
  });
});

describe('SGD with momentum', () => {
  it('accumulates velocity with L2 weight decay in the gradient', () => {
    const w = tf.variable(tf.tensor1d([2]));
    const opt = new Optimizer({ ...base, kind: 'sgd', weightDecay: 0.5, momentum: 0.9 });
    // buf = g + wd·w = 1 + 1 = 2 → w = 2 − 0.1·2 = 1.8
    expect(step(opt, w, [1], 0.1)[0]).toBeCloseTo(1.8, 6);
    // buf = 0.9·2 + (1 + 0.5·1.8) = 3.7 → w = 1.8 − 0.37 = 1.43
    expect(step(opt, w, [1], 0.1)[0]).toBeCloseTo(1.43, 6);
  });

  it('restores its state exactly', () => {
    const w = tf.variable(tf.tensor1d([2]));
    const opt = new Optimizer({ ...base, kind: 'sgd', weightDecay: 0, momentum: 0.9 });
    step(opt, w, [1], 0.1);
    const copy = new Optimizer(opt.config);
    copy.restore(opt.step, new Map([...opt.state()].map(([k, t]) => [k, t.clone()])));
    const w2 = tf.variable(w.clone());
    expect(step(copy, w2, [1], 0.1)).toEqual(step(opt, w, [1], 0.1));
  });
});

describe('memory of an update', () => {
  it('holds one weight\'s temporaries at a time, not a dozen copies of all the weights', () => {
    // 24 weights of 16,384 floats: 1.5 MiB in all.
    const weights = Array.from({ length: 24 }, (_, i) => tf.variable(tf.fill([128, 128], i / 24), true, `w${i}`));
    const grads = Object.fromEntries(weights.map((w, i) => [w.name, tf.fill([128, 128], 0.01 * (i + 1))]));
    const opt = new Optimizer({ ...base, weightDecay: 0.05 });
    const params = weights.map((w) => [`layer${w.name}/w`, w] as [string, Variable]);
    const perWeight = 128 * 128 * 4;
    for (const step of [1, 2]) {
      const before = tf.memory().numBytes;
      const { peakBytes } = tfProfileSync(() => opt.apply(params, grads, 0.01, () => true, (v) => v.name));
      // The first step also creates the two moments of every weight (2 × 24 weights).
      const slots = step === 1 ? 2 * 24 * perWeight : 0;
      // One weight's temporaries (17 of its size here) at a time; the whole update's at once were 17 × 24.
      expect(peakBytes - before - slots).toBeLessThan(24 * perWeight);
      expect(tf.memory().numBytes - before).toBe(slots);
    }
  });
});

/** tf.profile for a synchronous function: its peak bytes above what was live before. */
function tfProfileSync(f: () => void): { peakBytes: number } {
  const start = tf.memory().numBytes;
  let peak = start;
  const engine = tf.engine() as unknown as { state: { numBytes: number }; runKernel: (...args: unknown[]) => unknown };
  const run = engine.runKernel;
  engine.runKernel = (...args: unknown[]) => {
    const out = run.apply(engine, args);
    peak = Math.max(peak, engine.state.numBytes);
    return out;
  };
  try {
    f();
  } finally {
    engine.runKernel = run;
  }
  return { peakBytes: peak };
}
