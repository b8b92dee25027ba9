import { AutoTokenizer, CLIPTokenizer, type PreTrainedTokenizer } from '@huggingface/transformers';
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { LabelBankError } from '../errors.js';

/** CLIP's context window: 77 tokens, start and end tokens included. */
export const CLIP_MAX_TOKENS = 77;

const CLIP_SPECIAL_TOKENS = {
  model_max_length: CLIP_MAX_TOKENS,
  bos_token: '<|startoftext|>',
  eos_token: '<|endoftext|>',
  unk_token: '<|endoftext|>',
  pad_token: '<|endoftext|>',
};

/** A CLIP tokenizer with the token arithmetic label-bank needs. */
export class ClipTokenizer {
  readonly inner: PreTrainedTokenizer;
  readonly maxTokens: number;

  constructor(inner: PreTrainedTokenizer, maxTokens = CLIP_MAX_TOKENS) {
    this.inner = inner;
    this.maxTokens = maxTokens;
  }

  /** Token ids with start and end tokens, not truncated. */
  ids(text: string): number[] {
    return this.inner.encode(text);
  }

  count(text: string): number {
    return this.ids(text).length;
  }

  /** Token ids cut to the window; the end-of-text token is kept last, as CLIP pools there. */
  windowIds(text: string): { ids: number[]; truncatedFrom: number | null } {
    const ids = this.ids(text);
    if (ids.length <= this.maxTokens) return { ids, truncatedFrom: null };
    const eos = ids[ids.length - 1] as number;
    return { ids: [...ids.slice(0, this.maxTokens - 1), eos], truncatedFrom: ids.length };
  }

  /** Pad id (CLIP pads with end-of-text). */
  get padId(): number {
    return this.inner.pad_token_id ?? this.inner.eos_token_id;
  }
}

/**
 * Loads a CLIP tokenizer from a model folder (tokenizer.json + tokenizer_config.json) or from a
 * bare tokenizer.json file / a folder with only tokenizer.json (CLIP's special tokens assumed).
 */
export async function loadClipTokenizer(location: string): Promise<ClipTokenizer> {
  const isDir = existsSync(location) && statSync(location).isDirectory();
  const jsonFile = isDir ? path.join(location, 'tokenizer.json') : location;
  if (!existsSync(jsonFile)) throw new LabelBankError('MODEL_MISSING', `no tokenizer.json at ${location}`);
  if (isDir && existsSync(path.join(location, 'tokenizer_config.json'))) {
    const inner = await AutoTokenizer.from_pretrained(path.resolve(location), { local_files_only: true });
    const max = Number(inner.model_max_length);
    return new ClipTokenizer(inner, Number.isFinite(max) && max > 0 && max < 100_000 ? max : CLIP_MAX_TOKENS);
  }
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(jsonFile, 'utf8'));
  } catch (err) {
    throw new LabelBankError('NOT_A_TEXT_ENCODER', `tokenizer.json is not valid JSON (${(err as Error).message}): ${jsonFile}`);
  }
  return new ClipTokenizer(new CLIPTokenizer(json as object, CLIP_SPECIAL_TOKENS));
}
