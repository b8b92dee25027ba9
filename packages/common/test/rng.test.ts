import { describe, expect, it } from 'vitest';
import { seededNormal, seededRandom } from '../src/rng.js';

const draws = (next: () => number, n: number) => Array.from({ length: n }, () => next());

describe('seededNormal', () => {
  for (const use of ['pairs', 'cosine'] as const) {
    it(`(${use}) gives the same sequence for the same seed and another for another seed`, () => {
      expect(draws(seededNormal(42, use), 101)).toEqual(draws(seededNormal(42, use), 101));
      expect(draws(seededNormal(43, use), 101)).not.toEqual(draws(seededNormal(42, use), 101));
    });

    it(`(${use}) has mean ≈ 0 and variance ≈ 1 over 10,000 draws`, () => {
      const x = draws(seededNormal(7, use), 10_000);
      const mean = x.reduce((a, b) => a + b, 0) / x.length;
      const variance = x.reduce((a, b) => a + (b - mean) ** 2, 0) / (x.length - 1);
      // Standard errors: 0.01 for the mean, about 0.014 for the variance.
      expect(Math.abs(mean)).toBeLessThan(0.04);
      expect(Math.abs(variance - 1)).toBeLessThan(0.06);
      expect(x.filter((v) => Math.abs(v) > 1.96).length / x.length).toBeCloseTo(0.05, 1);
    });
  }

  it('is Box–Muller on mulberry32: pairs gives cos then sin of each pair of uniforms, cosine only the cos', () => {
    const u = seededRandom(5);
    const expected: number[] = [];
    for (let i = 0; i < 4; i++) {
      const r = Math.sqrt(-2 * Math.log(Math.max(u(), 1e-12)));
      const theta = 2 * Math.PI * u();
      expected.push(r * Math.cos(theta), r * Math.sin(theta));
    }
    expect(draws(seededNormal(5), 8)).toEqual(expected);
    expect(draws(seededNormal(5, 'cosine'), 4)).toEqual(expected.filter((_, i) => i % 2 === 0));
  });
});
