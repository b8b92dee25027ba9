/** The CLIP text tower: label texts to L2-normalised vectors (tower.ts holds what it shares with the vision tower). */
import { CLIPTextModelWithProjection, Tensor, type PreTrainedModel } from '@huggingface/transformers';
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { LabelBankError } from '../errors.js';
import { ClipTokenizer, loadClipTokenizer } from '../encoder/clip-tokenizer.js';
import type { HubOptions } from '../encoder/hub.js';
import type { SentenceEncoder, Truncation } from '../encoder/sentence-encoder.js';
import { l2Normalise, loadLocally, resolveTower, towerModelId } from './tower.js';

const MODEL_FILES = [
  { file: 'text_model.onnx', dtype: 'fp32' },
  { file: 'text_model_fp16.onnx', dtype: 'fp16' },
  { file: 'text_model_quantized.onnx', dtype: 'q8' },
] as const;

/** Checks a folder is a CLIP text encoder in transformers.js layout; returns its weights file. */
export function inspectModelFolder(folder: string): { onnxFile: string; dtype: 'fp32' | 'fp16' | 'q8'; config: Record<string, unknown> } {
  if (!existsSync(folder)) throw new LabelBankError('MODEL_MISSING', `model folder not found: ${folder}`);
  if (!statSync(folder).isDirectory()) throw new LabelBankError('NOT_A_TEXT_ENCODER', `not a model folder (a file): ${folder}`);
  const problems: string[] = [];
  let config: Record<string, unknown> = {};
  const configFile = path.join(folder, 'config.json');
  if (!existsSync(configFile)) problems.push('no config.json');
  else {
    try {
      config = JSON.parse(readFileSync(configFile, 'utf8')) as Record<string, unknown>;
      if (config.model_type !== 'clip' && config.model_type !== 'clip_text_model') {
        problems.push(`config.json model_type is "${String(config.model_type)}", not clip or clip_text_model`);
      }
    } catch (err) {
      problems.push(`config.json is not valid JSON (${(err as Error).message})`);
    }
  }
  if (!existsSync(path.join(folder, 'tokenizer.json'))) problems.push('no tokenizer.json');
  if (!existsSync(path.join(folder, 'tokenizer_config.json'))) problems.push('no tokenizer_config.json');
  const weights = MODEL_FILES.find((m) => existsSync(path.join(folder, 'onnx', m.file)));
  if (!weights) problems.push(`no onnx/${MODEL_FILES.map((m) => m.file).join(' | ')}`);
  if (problems.length > 0 || !weights) {
    throw new LabelBankError('NOT_A_TEXT_ENCODER', `not a CLIP text encoder in transformers.js layout (${problems.join('; ')}): ${folder}`);
  }
  return { onnxFile: path.join(folder, 'onnx', weights.file), dtype: weights.dtype, config };
}

class ClipTextEncoder implements SentenceEncoder {
  readonly modelId: string;
  readonly location: string;
  readonly maxTokens: number;
  private readonly tokenizer: ClipTokenizer;
  /** Its tokenizer, for CLIP token counts (token-counter.ts). */
  get clipTokenizer(): ClipTokenizer {
    return this.tokenizer;
  }
  private readonly model: PreTrainedModel;
  private readonly batchSize: number;

  constructor(modelId: string, location: string, tokenizer: ClipTokenizer, model: PreTrainedModel, batchSize: number) {
    this.modelId = modelId;
    this.location = location;
    this.tokenizer = tokenizer;
    this.model = model;
    this.maxTokens = tokenizer.maxTokens;
    this.batchSize = batchSize;
  }

  countTokens(text: string): number {
    return this.tokenizer.count(text);
  }

  async encode(texts: string[]): Promise<{ vectors: Float32Array[]; truncated: Truncation[] }> {
    const vectors: Float32Array[] = [];
    const truncated: Truncation[] = [];
    for (let start = 0; start < texts.length; start += this.batchSize) {
      const batch = texts.slice(start, start + this.batchSize);
      const encoded = batch.map((text) => {
        const { ids, truncatedFrom } = this.tokenizer.windowIds(text);
        if (truncatedFrom !== null) truncated.push({ text, tokens: truncatedFrom });
        return ids;
      });
      const width = Math.max(...encoded.map((ids) => ids.length));
      const ids = new BigInt64Array(batch.length * width).fill(BigInt(this.tokenizer.padId));
      const mask = new BigInt64Array(batch.length * width);
      encoded.forEach((row, r) => {
        row.forEach((id, c) => {
          ids[r * width + c] = BigInt(id);
          mask[r * width + c] = 1n;
        });
      });
      const inputs = {
        input_ids: new Tensor('int64', ids, [batch.length, width]),
        attention_mask: new Tensor('int64', mask, [batch.length, width]),
      };
      const output = (await this.model(inputs)) as { text_embeds?: Tensor };
      const embeds = output.text_embeds;
      if (!embeds || embeds.dims.length !== 2) {
        throw new LabelBankError('NOT_A_TEXT_ENCODER', `model gave no text_embeds [batch, dim] output: ${this.location}`);
      }
      const dim = embeds.dims[1] as number;
      const data = embeds.data as Float32Array;
      for (let r = 0; r < batch.length; r++) {
        const vec = Float32Array.from(data.subarray(r * dim, (r + 1) * dim));
        const norm = l2Normalise(vec);
        if (!(norm > 0) || !Number.isFinite(norm)) throw new LabelBankError('NOT_A_TEXT_ENCODER', `model gave a zero or non-finite embedding: ${this.location}`);
        vectors.push(vec);
      }
    }
    return { vectors, truncated };
  }

  async dispose(): Promise<void> {
    await this.model.dispose();
  }
}

export interface LoadEncoderOptions {
  batchSize?: number;
  /** Where hub ids are cached and how they are downloaded. */
  hub?: HubOptions;
}

/**
 * Loads a CLIP text tower through @huggingface/transformers: a local folder in transformers.js
 * layout (nothing touches the network) or a hub id `ORG/NAME[@REVISION]`, downloaded into the model
 * cache on first use (see hub.ts) and loaded from there. The id of a local folder is
 * `local:<folder name>@<sha256 of its weights, 16 hex>`; of a hub model
 * `hf:ORG/NAME@REVISION#<sha256 of its weights, 16 hex>`.
 */
export async function loadClipTextEncoder(model: string, options: LoadEncoderOptions = {}): Promise<SentenceEncoder> {
  const batchSize = options.batchSize ?? 32;
  const source = await resolveTower(model, 'text', options.hub);
  const { folder } = source;
  const { onnxFile, dtype } = inspectModelFolder(folder);
  const modelId = await towerModelId(source, onnxFile);
  try {
    return await loadLocally(async () => {
      const tokenizer = await loadClipTokenizer(folder);
      const loaded = await CLIPTextModelWithProjection.from_pretrained(folder, { dtype, device: 'cpu', local_files_only: true });
      return new ClipTextEncoder(modelId, source.location, tokenizer, loaded, batchSize);
    });
  } catch (err) {
    if (err instanceof LabelBankError) throw err;
    throw new LabelBankError('NOT_A_TEXT_ENCODER', `cannot load CLIP text encoder (${(err as Error).message}): ${folder}`, { cause: err });
  }
}
