import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { LabelBankError } from '../errors.js';
import { FLOAT, GraphBuilder, INT32, INT64 } from './onnx-graph.js';

/** Sizes of a generated CLIP-architecture text encoder. */
export interface TinyClipOptions {
  /** The real CLIP tokenizer.json (byte-level BPE, 49,408 tokens). */
  tokenizerJson: string;
  hiddenSize?: number;
  layers?: number;
  heads?: number;
  intermediateSize?: number;
  projectionDim?: number;
  seed?: number;
}

const MAX_POSITIONS = 77;

/**
 * Builds the ONNX graph of a CLIP text transformer (token + position embeddings, pre-norm blocks
 * with causal multi-head attention and quick-GELU MLP, final LayerNorm, pooling at the first
 * end-of-text token, linear projection) with seeded random weights. Inputs: input_ids [batch, seq];
 * outputs: text_embeds [batch, projection] and last_hidden_state [batch, seq, hidden], the names
 * transformers.js expects of CLIPTextModelWithProjection.
 */
export function buildTinyClipTextGraph(vocabSize: number, opts: Omit<TinyClipOptions, 'tokenizerJson'> = {}): Uint8Array {
  const H = opts.hiddenSize ?? 32;
  const L = opts.layers ?? 2;
  const nH = opts.heads ?? 4;
  const F = opts.intermediateSize ?? 4 * H;
  const P = opts.projectionDim ?? 64;
  if (H % nH !== 0) throw new LabelBankError('BAD_ARGUMENT', `hidden size ${H} is not divisible by ${nH} heads`);
  const g = new GraphBuilder(opts.seed ?? 0);

  // Embeddings.
  const tokens = g.op('Gather', [g.randomTensor('token_embedding', [vocabSize, H], 0.02), 'input_ids']);
  const one = g.intTensor('const_one', [], [1]);
  const zero = g.intTensor('const_zero', [], [0]);
  const seqLen = g.op('Gather', [g.op('Shape', ['input_ids']), one], [g.attr('axis', 0, 'int')]);
  const positions = g.op('Gather', [g.randomTensor('position_embedding', [MAX_POSITIONS, H], 0.01), g.op('Range', [zero, seqLen, one])]);
  const x = g.op('Add', [tokens, positions]);

  // Causal mask, cut to the sequence length.
  const maskValues = new Float32Array(MAX_POSITIONS * MAX_POSITIONS);
  for (let i = 0; i < MAX_POSITIONS; i++) for (let j = i + 1; j < MAX_POSITIONS; j++) maskValues[i * MAX_POSITIONS + j] = -1e9;
  const seqLen1d = g.op('Unsqueeze', [seqLen, g.intTensor('axes_zero', [1], [0])]);
  const mask = g.op('Slice', [g.floatTensor('causal_mask', [MAX_POSITIONS, MAX_POSITIONS], maskValues), g.intTensor('starts_00', [2], [0, 0]), g.op('Concat', [seqLen1d, seqLen1d], [g.attr('axis', 0, 'int')]), g.intTensor('axes_01', [2], [0, 1])]);
  const hidden = g.layerNorm(g.transformerBlocks(x, { layers: L, hidden: H, heads: nH, intermediate: F, mask }), 'final_layer_norm', H, 'last_hidden_state');

  // Pool at the first end-of-text token (the highest id in CLIP's vocabulary), then project.
  const eos = g.op('ArgMax', [g.op('Cast', ['input_ids'], [g.attr('to', INT32, 'int')])], [g.attr('axis', 1, 'int'), g.attr('keepdims', 1, 'int')]);
  const pooled = g.op('GatherND', [hidden, eos], [g.attr('batch_dims', 1, 'int')]);
  g.op('MatMul', [pooled, g.randomTensor('text_projection', [H, P], 1 / Math.sqrt(H))], [], 'text_embeds');
  return g.encode(
    'tiny_clip_text_model',
    [['input_ids', INT64, ['batch_size', 'sequence_length']]],
    [
      ['text_embeds', FLOAT, ['batch_size', P]],
      ['last_hidden_state', FLOAT, ['batch_size', 'sequence_length', H]],
    ],
  );
}

/**
 * Writes a random-weight CLIP-architecture text encoder in transformers.js layout
 * (config.json, tokenizer.json, tokenizer_config.json, onnx/text_model.onnx). It exercises the real
 * loading path; its embeddings carry no meaning.
 */
export function writeTinyClipTextModel(dir: string, options: TinyClipOptions): { dir: string; projectionDim: number } {
  let tokenizerText: string;
  try {
    tokenizerText = readFileSync(options.tokenizerJson, 'utf8');
  } catch (err) {
    throw new LabelBankError('MODEL_MISSING', `cannot read CLIP tokenizer (${(err as Error).message}): ${options.tokenizerJson}`);
  }
  const tokenizer = JSON.parse(tokenizerText) as { model?: { vocab?: Record<string, number> }; added_tokens?: { id: number }[] };
  const ids = [...Object.values(tokenizer.model?.vocab ?? {}), ...(tokenizer.added_tokens ?? []).map((t) => t.id)];
  if (ids.length === 0) throw new LabelBankError('NOT_A_TEXT_ENCODER', `tokenizer has no vocabulary: ${options.tokenizerJson}`);
  const vocabSize = Math.max(...ids) + 1;
  const hiddenSize = options.hiddenSize ?? 32;
  const projectionDim = options.projectionDim ?? 64;
  const layers = options.layers ?? 2;
  const heads = options.heads ?? 4;
  mkdirSync(path.join(dir, 'onnx'), { recursive: true });
  writeFileSync(path.join(dir, 'onnx', 'text_model.onnx'), buildTinyClipTextGraph(vocabSize, { ...options, hiddenSize, projectionDim, layers, heads }));
  writeFileSync(path.join(dir, 'tokenizer.json'), tokenizerText);
  const config = {
    model_type: 'clip_text_model',
    architectures: ['CLIPTextModelWithProjection'],
    vocab_size: vocabSize,
    hidden_size: hiddenSize,
    intermediate_size: options.intermediateSize ?? 4 * hiddenSize,
    num_hidden_layers: layers,
    num_attention_heads: heads,
    projection_dim: projectionDim,
    max_position_embeddings: MAX_POSITIONS,
    bos_token_id: 49406,
    eos_token_id: 49407,
    pad_token_id: 49407,
    sentseg: { generated: true, random_weights: true, seed: options.seed ?? 0 },
  };
  writeFileSync(path.join(dir, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
  const tokenizerConfig = {
    tokenizer_class: 'CLIPTokenizer',
    model_max_length: MAX_POSITIONS,
    bos_token: '<|startoftext|>',
    eos_token: '<|endoftext|>',
    unk_token: '<|endoftext|>',
    pad_token: '<|endoftext|>',
    do_lower_case: true,
  };
  writeFileSync(path.join(dir, 'tokenizer_config.json'), `${JSON.stringify(tokenizerConfig, null, 2)}\n`);
  return { dir, projectionDim };
}
