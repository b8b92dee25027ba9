/** The interface every text encoder of label-bank implements (CLIP's text tower, lexical, one-hot). */
/** A text that did not fit the window and was cut to it. */
export interface Truncation {
  text: string;
  tokens: number;
}

/** What label-bank needs of a text encoder. */
export interface SentenceEncoder {
  /** Cache key of the encoder: a hub id, or local:<folder name>@<hash of its weights>. */
  readonly modelId: string;
  /** Where it was loaded from. */
  readonly location: string;
  readonly maxTokens: number;
  countTokens(text: string): number;
  /** L2-normalised float32 vectors, one per text, in order. */
  encode(texts: string[]): Promise<{ vectors: Float32Array[]; truncated: Truncation[] }>;
  dispose(): Promise<void>;
}
