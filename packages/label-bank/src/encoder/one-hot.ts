import { createHash } from 'node:crypto';
import { LabelBankError } from '../errors.js';
import { wordTokens } from './lexical.js';
import type { SentenceEncoder, Truncation } from './sentence-encoder.js';

/**
 * One-hot "embeddings" over a fixed list of texts (the classic classifier's targets): text i of the
 * vocabulary is the unit vector e_i. A text outside the vocabulary has no embedding (an error):
 * a one-hot model can only be asked for the classes it was built with.
 */
export class OneHotEncoder implements SentenceEncoder {
  readonly modelId: string;
  readonly location: string;
  readonly maxTokens = Number.POSITIVE_INFINITY;
  private readonly index: Map<string, number>;

  constructor(vocabulary: string[]) {
    this.index = new Map(vocabulary.map((t, i) => [t, i]));
    if (this.index.size !== vocabulary.length) throw new LabelBankError('BAD_ARGUMENT', 'one-hot vocabulary has a text twice');
    const digest = createHash('sha256').update(vocabulary.join('\n')).digest('hex').slice(0, 16);
    this.location = `onehot:${vocabulary.length}`;
    this.modelId = `onehot:${vocabulary.length}@${digest}`;
  }

  get dim(): number {
    return this.index.size;
  }

  countTokens(text: string): number {
    return wordTokens(text).length;
  }

  async encode(texts: string[]): Promise<{ vectors: Float32Array[]; truncated: Truncation[] }> {
    const vectors = texts.map((text) => {
      const i = this.index.get(text);
      if (i === undefined) throw new LabelBankError('BAD_ARGUMENT', `"${text}" is not in the one-hot vocabulary (${this.index.size} texts)`);
      const v = new Float32Array(this.index.size);
      v[i] = 1;
      return v;
    });
    return { vectors, truncated: [] };
  }

  async dispose(): Promise<void> {}
}
