/** mulberry32: a small seeded PRNG, so generated weights, data and samples are the same on every run. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Standard normal samples from mulberry32 through Box–Muller: a pair of uniforms (u, v) gives
 * r·cos(2πv) and r·sin(2πv) with r = √(−2 ln u) (u floored at 1e-12). `'pairs'` returns both in
 * turn; `'cosine'` returns only r·cos(2πv), two uniforms per sample (the sequence the generated
 * model weights have always been drawn with, kept so they stay the same).
 */
export function seededNormal(seed: number, use: 'pairs' | 'cosine' = 'pairs'): () => number {
  const uniform = seededRandom(seed);
  let spare: number | null = null;
  return () => {
    if (spare !== null) {
      const s = spare;
      spare = null;
      return s;
    }
    const u = Math.max(uniform(), 1e-12);
    const theta = 2 * Math.PI * uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    if (use === 'pairs') spare = r * Math.sin(theta);
    return r * Math.cos(theta);
  };
}
