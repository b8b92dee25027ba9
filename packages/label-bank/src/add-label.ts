import { embedLabels } from './embed.js';
import type { SentenceEncoder } from './encoder/sentence-encoder.js';
import { clipTokenCounter, type TokenCounter } from './encoder/token-counter.js';
import { LabelBankError } from './errors.js';
import { CONFUSION_COSINE, nearestLabels, type Neighbour } from './neighbours.js';
import type { DescriptionSource, LabelBank, LabelRow } from './store/bank.js';
import { sentenceText, wordOnlyText } from './text.js';

export interface AddLabelResult {
  label: LabelRow;
  neighbours: Neighbour[];
  /** Neighbours at or above CONFUSION_COSINE. */
  confusable: Neighbour[];
  /** CLIP tokens of the description, start and end tokens included. */
  tokens: number;
}

/** "An image of {name}. {text}" unless the text already has that form. */
export function composeDescription(name: string, text: string): string {
  const trimmed = text.trim();
  return trimmed.toLowerCase().startsWith('an image of') ? trimmed : sentenceText(name, trimmed);
}

/**
 * Adds a zero-shot label: checks the text fits CLIP's 77-token window, counted by the CLIP tokenizer
 * whatever the encoder (refused otherwise), encodes the
 * sentence and word-only texts, and stores label and embeddings in one transaction.
 */
export async function addLabel(
  bank: LabelBank,
  encoder: SentenceEncoder,
  spec: { name: string; description: string; source: DescriptionSource; group?: string; wikipediaTitle?: string },
  options: { counter?: TokenCounter; tokenizer?: string; cacheDir?: string; signal?: AbortSignal } = {},
): Promise<AddLabelResult> {
  /** Refuses to go on once `signal` has aborted (add --deadline): nothing has been added then. */
  const stopIfAborted = () => {
    const reason: unknown = options.signal?.reason;
    if (options.signal?.aborted) throw new LabelBankError('DEADLINE', `label "${spec.name.trim()}" was not added: ${reason instanceof Error ? reason.message : String(reason)}`);
  };
  const name = spec.name.trim();
  if (name === '') throw new LabelBankError('BAD_ARGUMENT', 'a label needs a name');
  if (bank.label(name)) throw new LabelBankError('LABEL_EXISTS', `label "${name}" already exists in ${bank.file}; use label-bank show "${name}"`);
  if (spec.description.trim() === '') throw new LabelBankError('EMPTY_DESCRIPTION', `empty description for label "${name}"`);
  const description = composeDescription(name, spec.description);
  // CLIP's count whatever the encoder: a text any encoder accepts here fits CLIP's window later.
  const counter = options.counter ?? (await clipTokenCounter(encoder, options));
  const tokens = counter.count(description);
  if (tokens > counter.maxTokens) {
    throw new LabelBankError(
      'TOO_MANY_TOKENS',
      `description of "${name}" is ${tokens} CLIP tokens; CLIP's text encoder reads at most ${counter.maxTokens}: shorten it`,
    );
  }
  stopIfAborted();
  await embedLabels(bank, encoder);
  const existing = bank.embeddingMatrix('sentence', encoder.modelId);
  const texts = [description, wordOnlyText(name)];
  const { vectors } = await encoder.encode(texts);
  stopIfAborted();
  const label = bank.atomically(() => {
    const added = bank.addLabel({ name, group: spec.group ?? 'added', description, source: spec.source, wikipediaTitle: spec.wikipediaTitle });
    bank.putEmbeddings(encoder.modelId, texts.map((text, i) => ({ text, vector: vectors[i] as Float32Array })));
    return added;
  });
  const neighbours = nearestLabels(existing, vectors[0] as Float32Array, 5);
  return { label, neighbours, confusable: neighbours.filter((n) => n.cosine >= CONFUSION_COSINE), tokens };
}
