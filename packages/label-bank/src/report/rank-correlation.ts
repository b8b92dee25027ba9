/** Rank statistics for comparing two similarity matrices: pure functions, no I/O. */

/**
 * 1-based ranks of `values`, ascending; tied values share the mean of the ranks they span
 * ([10, 20, 20, 30] → [1, 2.5, 2.5, 4]), as Spearman's coefficient with ties needs.
 */
export function averageRanks(values: ArrayLike<number>): Float64Array {
  const n = values.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => (values[a] as number) - (values[b] as number));
  const ranks = new Float64Array(n);
  let start = 0;
  while (start < n) {
    let end = start + 1;
    while (end < n && values[order[end] as number] === values[order[start] as number]) end += 1;
    const rank = (start + 1 + end) / 2; // mean of ranks start+1 … end
    for (let k = start; k < end; k++) ranks[order[k] as number] = rank;
    start = end;
  }
  return ranks;
}

/** Pearson correlation of two equally long series; NaN when either is constant or shorter than 2. */
export function pearson(x: ArrayLike<number>, y: ArrayLike<number>): number {
  const n = x.length;
  if (n !== y.length) throw new Error(`pearson: series of ${n} and ${y.length} values`);
  if (n < 2) return NaN;
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) {
    mx += x[i] as number;
    my += y[i] as number;
  }
  mx /= n;
  my /= n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = (x[i] as number) - mx;
    const dy = (y[i] as number) - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  return sxx > 0 && syy > 0 ? sxy / Math.sqrt(sxx * syy) : NaN;
}

/**
 * Spearman's rank correlation: the Pearson correlation of the average ranks (exact with ties,
 * unlike 1 − 6Σd²/(n(n²−1)), which holds only without them). NaN when a series is constant.
 */
export function spearman(x: ArrayLike<number>, y: ArrayLike<number>): number {
  if (x.length !== y.length) throw new Error(`spearman: series of ${x.length} and ${y.length} values`);
  return pearson(averageRanks(x), averageRanks(y));
}

/** The entries above the diagonal of an n × n row-major matrix, row by row (each pair once). */
export function upperTriangle(sim: ArrayLike<number>, n: number): Float64Array {
  const out = new Float64Array((n * (n - 1)) / 2);
  let k = 0;
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) out[k++] = sim[i * n + j] as number;
  return out;
}

/** For each row of an n × n similarity matrix, the column of its highest value off the diagonal (lowest index on a tie). */
export function nearestNeighbours(sim: ArrayLike<number>, n: number): Int32Array {
  const out = new Int32Array(n).fill(-1);
  for (let i = 0; i < n; i++) {
    let best = -Infinity;
    for (let j = 0; j < n; j++) {
      const v = sim[i * n + j] as number;
      if (j !== i && v > best) {
        best = v;
        out[i] = j;
      }
    }
  }
  return out;
}
