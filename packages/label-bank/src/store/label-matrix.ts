/**
 * The one place label names become an embedding matrix: one row per name (in the order given), the
 * text of each (its bank text of a kind, or a text the caller gives) embedded with one of the
 * bank's encoders. Train, eval and predict all read their label embeddings through it.
 */
import { embedTexts } from '../embed.js';
import type { SentenceEncoder } from '../encoder/sentence-encoder.js';
import { loadTextEncoder } from '../encoder/load.js';
import { LabelBankError } from '../errors.js';
import type { TextKind } from '../text.js';
import { labelText, missingEmbeddingsError, type LabelBank, type ModelRow } from './bank.js';

/**
 * What a name without an embedding becomes: an error; a zero row, listed in `missing` (a name the
 * bank lacks too); or an embedding made now with the bank's encoder (labelMatrix is then async).
 */
export type OnMissingEmbedding = 'error' | 'zero' | 'encode';

export interface LabelMatrixOptions {
  /** The encoder: its id or any name matchEncoder takes; the bank's only encoder when omitted. */
  encoder?: string;
  kind: TextKind;
  /** Default 'error'. */
  onMissing?: OnMissingEmbedding;
  /** The text to embed for a name in place of its bank text (a label described on the command line). */
  texts?: ReadonlyMap<string, string>;
  /** The error for names neither in the bank nor in `texts` (with 'error' and 'encode'); by default an UNKNOWN_LABEL that names them. */
  unknownError?: (names: string[]) => Error;
  /** With 'encode': the bank's encoder, loaded (default: loadTextEncoder of its location). */
  loadEncoder?: (model: ModelRow) => Promise<SentenceEncoder>;
}

/** names.length × dim, row-major; a row of a name in `missing` is zero. */
export interface LabelMatrix {
  names: string[];
  modelId: string;
  kind: TextKind;
  dim: number;
  data: Float32Array;
  /** Names without an embedding, left zero (onMissing 'zero'). */
  missing: string[];
  /** Names whose text was embedded in this call (onMissing 'encode'). */
  encoded: string[];
}

export function labelMatrix(bank: LabelBank, names: readonly string[], options: LabelMatrixOptions & { onMissing?: 'error' | 'zero' }): LabelMatrix;
export function labelMatrix(bank: LabelBank, names: readonly string[], options: LabelMatrixOptions & { onMissing: 'encode' }): Promise<LabelMatrix>;
export function labelMatrix(bank: LabelBank, names: readonly string[], options: LabelMatrixOptions): LabelMatrix | Promise<LabelMatrix> {
  const onMissing = options.onMissing ?? 'error';
  const texts = names.map((name) => {
    const given = options.texts?.get(name);
    if (given !== undefined) return given;
    const row = bank.label(name);
    return row ? labelText(row, options.kind) : undefined;
  });
  const unknown = names.filter((_, i) => texts[i] === undefined);
  if (unknown.length > 0 && onMissing !== 'zero') {
    throw options.unknownError?.(unknown) ?? new LabelBankError('UNKNOWN_LABEL', `${unknown.length} label(s) are not in ${bank.file}: ${shortList(unknown)} (label-bank add NAME adds one)`);
  }
  const model = bank.resolveModel(options.encoder);
  if (onMissing !== 'encode') return assemble(bank, names, texts, model, options.kind, onMissing, []);
  return (async () => {
    const missing = bank.missingTexts(model.modelId, texts as string[]);
    if (missing.length === 0) return assemble(bank, names, texts, model, options.kind, 'error', []);
    const encoder = await (options.loadEncoder ?? ((m: ModelRow) => loadTextEncoder(m.location)))(model);
    if (encoder.modelId !== model.modelId) {
      throw new LabelBankError('BAD_ARGUMENT', `the encoder at ${model.location} is now ${encoder.modelId}; ${bank.file} holds embeddings of ${model.modelId}`);
    }
    await embedTexts(bank, encoder, missing);
    const encoded = names.filter((_, i) => missing.includes(texts[i] as string));
    return assemble(bank, names, texts, model, options.kind, 'error', encoded);
  })();
}

function assemble(
  bank: LabelBank,
  names: readonly string[],
  texts: (string | undefined)[],
  model: ModelRow,
  kind: TextKind,
  onMissing: 'error' | 'zero',
  encoded: string[],
): LabelMatrix {
  const data = new Float32Array(names.length * model.dim);
  const missing: string[] = [];
  texts.forEach((text, i) => {
    const vec = text === undefined ? undefined : bank.embedding(model.modelId, text);
    if (vec) data.set(vec, i * model.dim);
    else missing.push(names[i] as string);
  });
  if (missing.length > 0 && onMissing === 'error') throw missingEmbeddingsError(kind, model.modelId, missing);
  return { names: [...names], modelId: model.modelId, kind, dim: model.dim, data, missing, encoded };
}

function shortList(names: string[]): string {
  return names.slice(0, 8).join(', ') + (names.length > 8 ? ', …' : '');
}
