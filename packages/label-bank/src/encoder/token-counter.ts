/**
 * Token counts are CLIP's whatever the bank's encoder: a description is refused by its CLIP token
 * count (77 at most), so a text a lexical or imported encoder accepts never truncates later under
 * CLIP. A CLIP encoder counts with its own tokenizer; any other with a CLIP tokenizer.json found
 * by `findClipTokenizer`.
 */
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { LabelBankError } from '../errors.js';
import type { SentenceEncoder } from './sentence-encoder.js';
import type { ClipTokenizer } from './clip-tokenizer.js';
import { modelCacheDir } from './hub.js';

/** The environment variable naming a CLIP tokenizer.json (as --tokenizer does). */
export const CLIP_TOKENIZER_ENV = 'SENTSEG_CLIP_TOKENIZER';

export interface TokenCounter {
  count(text: string): number;
  maxTokens: number;
  /** Where the tokenizer came from, for messages. */
  source: string;
}

/**
 * A CLIP tokenizer.json: `explicit` (--tokenizer), else $SENTSEG_CLIP_TOKENIZER, else
 * `<model cache>/clip-tokenizer/tokenizer.json`, else the tokenizer of a hub text model in the
 * model cache (every CLIP shares one vocabulary). Undefined when there is none.
 */
export function findClipTokenizer(explicit?: string, cacheDir?: string): string | undefined {
  if (explicit) return explicit;
  const fromEnv = process.env[CLIP_TOKENIZER_ENV];
  if (fromEnv) return fromEnv;
  const cache = modelCacheDir(cacheDir);
  const own = path.join(cache, 'clip-tokenizer', 'tokenizer.json');
  if (existsSync(own)) return own;
  const list = (d: string) => (existsSync(d) ? readdirSync(d, { withFileTypes: true }).filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => path.join(d, e.name)) : []);
  for (const org of list(cache)) for (const name of list(org)) for (const revision of list(name)) {
    const file = path.join(revision, 'tokenizer.json');
    if (existsSync(file) && existsSync(path.join(revision, 'onnx', 'text_model.onnx'))) return file;
  }
  return undefined;
}

/** The CLIP token counter for `encoder`: its own tokenizer when it is CLIP, else a CLIP tokenizer.json. */
export async function clipTokenCounter(encoder: SentenceEncoder, options: { tokenizer?: string; cacheDir?: string } = {}): Promise<TokenCounter> {
  const own = (encoder as { clipTokenizer?: ClipTokenizer }).clipTokenizer;
  if (own && options.tokenizer === undefined) return { count: (t) => own.count(t), maxTokens: own.maxTokens, source: `${encoder.modelId}'s tokenizer` };
  const file = findClipTokenizer(options.tokenizer, options.cacheDir);
  if (file === undefined) {
    throw new LabelBankError(
      'MODEL_MISSING',
      `${encoder.modelId} is not CLIP, and descriptions are counted in CLIP tokens (77 at most) whatever the encoder: ` +
        `give a CLIP tokenizer.json with --tokenizer FILE or ${CLIP_TOKENIZER_ENV}, or embed once with a hub CLIP (its tokenizer is then found in the model cache)`,
    );
  }
  const { loadClipTokenizer } = await import('./clip-tokenizer.js');
  const tokenizer = await loadClipTokenizer(file);
  return { count: (t) => tokenizer.count(t), maxTokens: tokenizer.maxTokens, source: file };
}
