import type { EmbeddingMatrix } from './store/bank.js';

export interface Neighbour {
  name: string;
  cosine: number;
}

/** Cosine at or above which two labels will likely be confused at inference. */
export const CONFUSION_COSINE = 0.95;

function dot(a: Float32Array, b: Float32Array, offset: number): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] as number) * (b[offset + i] as number);
  return s;
}

/** The k labels of `matrix` nearest to `vector` by cosine (vectors are unit length), best first. */
export function nearestLabels(matrix: EmbeddingMatrix, vector: Float32Array, k = 5, exclude: string[] = []): Neighbour[] {
  const skip = new Set(exclude);
  const scored: Neighbour[] = [];
  matrix.labels.forEach((label, row) => {
    if (!skip.has(label.name)) scored.push({ name: label.name, cosine: dot(vector, matrix.data, row * matrix.dim) });
  });
  return scored.sort((a, b) => b.cosine - a.cosine || a.name.localeCompare(b.name)).slice(0, k);
}
