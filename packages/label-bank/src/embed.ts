import type { SentenceEncoder } from './encoder/sentence-encoder.js';
import { labelText, type LabelBank, type LabelRow } from './store/bank.js';
import type { TextKind } from './text.js';

export interface EmbedProgress {
  done: number;
  total: number;
}

export interface EmbedTextsResult {
  vectors: Float32Array[];
  /** Texts that went through the encoder (the rest came from the cache). */
  encoded: number;
  truncated: { text: string; tokens: number }[];
}

/**
 * Embeds texts with the cache: texts already in the bank for this encoder are read back, the rest
 * are encoded in batches and stored (one transaction per batch, so an interrupted run keeps whole batches).
 */
export async function embedTexts(
  bank: LabelBank,
  encoder: SentenceEncoder,
  texts: string[],
  onProgress?: (p: EmbedProgress) => void,
  batchSize = 32,
): Promise<EmbedTextsResult> {
  const missing = bank.missingTexts(encoder.modelId, texts);
  const truncated: { text: string; tokens: number }[] = [];
  for (let start = 0; start < missing.length; start += batchSize) {
    const batch = missing.slice(start, start + batchSize);
    const result = await encoder.encode(batch);
    truncated.push(...result.truncated);
    const dim = result.vectors[0]?.length ?? 0;
    bank.registerModel(encoder.modelId, encoder.location, dim);
    bank.putEmbeddings(
      encoder.modelId,
      batch.map((text, i) => ({ text, vector: result.vectors[i] as Float32Array })),
    );
    onProgress?.({ done: Math.min(start + batchSize, missing.length), total: missing.length });
  }
  const vectors = texts.map((text) => {
    const vec = bank.embedding(encoder.modelId, text);
    if (!vec) throw new Error(`embedding of "${text}" vanished from ${bank.file}`);
    return vec;
  });
  return { vectors, encoded: missing.length, truncated };
}

export interface EmbedLabelsResult {
  modelId: string;
  labels: number;
  texts: number;
  encoded: number;
  cached: number;
  seconds: number;
  labelsPerSecond: number;
  truncated: { name: string; kind: TextKind; tokens: number }[];
}

/** Embeds the sentence and word-only text of every label (or the given ones). */
export async function embedLabels(
  bank: LabelBank,
  encoder: SentenceEncoder,
  options: { labels?: LabelRow[]; kinds?: TextKind[]; onProgress?: (p: EmbedProgress) => void } = {},
): Promise<EmbedLabelsResult> {
  const labels = options.labels ?? bank.labels();
  const kinds = options.kinds ?? ['sentence', 'word'];
  const owners = new Map<string, { name: string; kind: TextKind }[]>();
  for (const label of labels) {
    for (const kind of kinds) {
      const text = labelText(label, kind);
      owners.set(text, [...(owners.get(text) ?? []), { name: label.name, kind }]);
    }
  }
  const texts = [...owners.keys()];
  const started = performance.now();
  const result = await embedTexts(bank, encoder, texts, options.onProgress);
  const seconds = (performance.now() - started) / 1000;
  const truncated = result.truncated.flatMap(({ text, tokens }) => (owners.get(text) ?? []).map((o) => ({ ...o, tokens })));
  return {
    modelId: encoder.modelId,
    labels: labels.length,
    texts: texts.length,
    encoded: result.encoded,
    cached: texts.length - result.encoded,
    seconds,
    labelsPerSecond: seconds > 0 ? labels.length / seconds : Infinity,
    truncated,
  };
}
