/**
 * Does a loaded text encoder give the reference's vectors? It encodes the reference's own texts
 * ("a {name}" with each vector's source name) and compares each vector with the reference's by
 * cosine: a real CLIP ViT-B/32, loaded and tokenised right, gives about 1 for every name (fp16
 * storage of the reference costs about 0.001), so a mean cosine of MATCH_MEAN_COSINE or more is a
 * match. A model of another size of output cannot match and is told so, without encoding.
 */
import type { SentenceEncoder } from '../encoder/sentence-encoder.js';
import type { ReferenceEmbeddings } from './reference-file.js';

/** The mean cosine at or above which an encoder matches the reference. */
export const MATCH_MEAN_COSINE = 0.99;
/** How many of the least similar names a check reports. */
const WORST_SHOWN = 5;

export interface NameCosine {
  name: string;
  text: string;
  cosine: number;
}

export interface EncoderCheck {
  modelId: string;
  reference: string;
  matches: boolean;
  /** Names compared (the first `count` of the reference, or all). */
  names: number;
  dim: { model: number; reference: number };
  /** NaN when the sizes differ (nothing compared). */
  meanCosine: number;
  minCosine: number;
  /** The least similar names, worst first. */
  worst: NameCosine[];
}

/** Cosine of each (vector, reference row) pair; vectors need not be unit length. */
export function cosinesToReference(vectors: Float32Array[], reference: ReferenceEmbeddings): number[] {
  return vectors.map((v, r) => {
    let dot = 0;
    let norm = 0;
    for (let k = 0; k < reference.dim; k++) {
      dot += (v[k] as number) * (reference.vectors[r * reference.dim + k] as number);
      norm += (v[k] as number) ** 2;
    }
    return norm > 0 ? dot / Math.sqrt(norm) : 0;
  });
}

/** Encodes the first `count` (default all) of the reference's texts and compares them with its vectors. */
export async function checkEncoder(encoder: SentenceEncoder, reference: ReferenceEmbeddings, count = reference.names.length, batchSize = 32): Promise<EncoderCheck> {
  const n = Math.min(count, reference.names.length);
  const texts = reference.texts.slice(0, n);
  const base = { modelId: encoder.modelId, reference: reference.file, names: n };
  const probe = (await encoder.encode(texts.slice(0, 1))).vectors[0] as Float32Array;
  if (probe.length !== reference.dim) {
    return { ...base, matches: false, dim: { model: probe.length, reference: reference.dim }, meanCosine: NaN, minCosine: NaN, worst: [] };
  }
  const vectors: Float32Array[] = [];
  for (let start = 0; start < n; start += batchSize) vectors.push(...(await encoder.encode(texts.slice(start, start + batchSize))).vectors);
  const cosines = cosinesToReference(vectors, reference);
  const scored = cosines.map((cosine, i) => ({ name: reference.names[i] as string, text: texts[i] as string, cosine }));
  const meanCosine = cosines.reduce((s, c) => s + c, 0) / n;
  const worst = [...scored].sort((a, b) => a.cosine - b.cosine).slice(0, WORST_SHOWN);
  return { ...base, matches: meanCosine >= MATCH_MEAN_COSINE, dim: { model: reference.dim, reference: reference.dim }, meanCosine, minCosine: worst[0]?.cosine ?? NaN, worst };
}
