/** Pure functions behind the label-similarity report. */

/** Row order that puts labels of one group together: groups in the given order, then by id. */
export function groupOrder(groupsOfLabels: string[], groupNames: string[]): number[] {
  const rank = (g: string) => {
    const i = groupNames.indexOf(g);
    return i < 0 ? groupNames.length : i;
  };
  return groupsOfLabels.map((g, i) => ({ g, i })).sort((a, b) => rank(a.g) - rank(b.g) || a.g.localeCompare(b.g) || a.i - b.i).map((x) => x.i);
}

/**
 * n × n cosine similarities between the rows of a row-major n × dim matrix, rows taken in `order`.
 * Rows are normalised here, so unnormalised input is fine.
 */
export function cosineMatrix(data: Float32Array, dim: number, order: number[]): Float32Array {
  const n = order.length;
  const unit = order.map((row) => {
    const v = data.subarray(row * dim, (row + 1) * dim);
    let norm = 0;
    for (const x of v) norm += x * x;
    norm = Math.sqrt(norm) || 1;
    return Float32Array.from(v, (x) => x / norm);
  });
  const out = new Float32Array(n * n);
  for (let i = 0; i < n; i++) {
    const a = unit[i] as Float32Array;
    for (let j = i; j < n; j++) {
      const b = unit[j] as Float32Array;
      let s = 0;
      for (let k = 0; k < dim; k++) s += (a[k] as number) * (b[k] as number);
      out[i * n + j] = s;
      out[j * n + i] = s;
    }
  }
  return out;
}

export interface BlockScore {
  /** Mean cosine over pairs of different labels in the same group. */
  within: number;
  /** Mean cosine over pairs of labels in different groups. */
  across: number;
  /** within − across: how much the matrix shows group blocks. */
  score: number;
}

/** Block score of an n × n similarity matrix whose rows belong to `groups` (same order); cells without a value (NaN) are left out. */
export function blockScore(sim: Float32Array, groups: string[]): BlockScore {
  const n = groups.length;
  let withinSum = 0;
  let withinCount = 0;
  let acrossSum = 0;
  let acrossCount = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      if (i === j) continue;
      const v = sim[i * n + j] as number;
      if (Number.isNaN(v)) continue;
      if (groups[i] === groups[j]) {
        withinSum += v;
        withinCount += 1;
      } else {
        acrossSum += v;
        acrossCount += 1;
      }
    }
  }
  const within = withinCount > 0 ? withinSum / withinCount : NaN;
  const across = acrossCount > 0 ? acrossSum / acrossCount : NaN;
  return { within, across, score: within - across };
}
