import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import onnxProto, { type onnx } from 'onnx-proto';
import { LabelBankError } from '../errors.js';
import { seededNormal } from '../rng.js';

const proto = onnxProto.onnx;

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
const FLOAT = proto.TensorProto.DataType.FLOAT;
const INT64 = proto.TensorProto.DataType.INT64;
const INT32 = proto.TensorProto.DataType.INT32;

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
  const dh = H / nH;
  const normal = seededNormal(opts.seed ?? 0);

  const initializers: onnx.ITensorProto[] = [];
  const nodes: onnx.INodeProto[] = [];
  let counter = 0;
  const tmp = (hint: string) => `${hint}_${counter++}`;

  const floatTensor = (name: string, dims: number[], values: Float32Array): string => {
    initializers.push({ name, dims, dataType: FLOAT, rawData: new Uint8Array(values.buffer, values.byteOffset, values.byteLength) });
    return name;
  };
  const intTensor = (name: string, dims: number[], values: number[]): string => {
    const data = BigInt64Array.from(values.map((v) => BigInt(v)));
    initializers.push({ name, dims, dataType: INT64, rawData: new Uint8Array(data.buffer) });
    return name;
  };
  const randomTensor = (name: string, dims: number[], std: number): string => {
    const size = dims.reduce((a, b) => a * b, 1);
    const values = new Float32Array(size);
    for (let i = 0; i < size; i++) values[i] = normal() * std;
    return floatTensor(name, dims, values);
  };
  const filled = (name: string, dims: number[], value: number): string =>
    floatTensor(name, dims, new Float32Array(dims.reduce((a, b) => a * b, 1)).fill(value));
  const attr = (name: string, value: number | number[], kind: 'int' | 'float' | 'ints'): onnx.IAttributeProto => {
    if (kind === 'int') return { name, type: proto.AttributeProto.AttributeType.INT, i: value as number };
    if (kind === 'float') return { name, type: proto.AttributeProto.AttributeType.FLOAT, f: value as number };
    return { name, type: proto.AttributeProto.AttributeType.INTS, ints: value as number[] };
  };
  const op = (opType: string, inputs: string[], attributes: onnx.IAttributeProto[] = [], output = tmp(opType.toLowerCase())): string => {
    nodes.push({ opType, input: inputs, output: [output], attribute: attributes, name: output });
    return output;
  };
  const linear = (x: string, prefix: string, inDim: number, outDim: number, bias = true): string => {
    const w = randomTensor(`${prefix}.weight`, [inDim, outDim], 1 / Math.sqrt(inDim));
    const y = op('MatMul', [x, w]);
    return bias ? op('Add', [y, filled(`${prefix}.bias`, [outDim], 0)]) : y;
  };
  const layerNorm = (x: string, prefix: string, output?: string): string =>
    op('LayerNormalization', [x, filled(`${prefix}.weight`, [H], 1), filled(`${prefix}.bias`, [H], 0)], [attr('axis', -1, 'int'), attr('epsilon', 1e-5, 'float')], output);

  // Embeddings.
  const tokens = op('Gather', [randomTensor('token_embedding', [vocabSize, H], 0.02), 'input_ids']);
  const one = intTensor('const_one', [], [1]);
  const zero = intTensor('const_zero', [], [0]);
  const seqLen = op('Gather', [op('Shape', ['input_ids']), one], [attr('axis', 0, 'int')]);
  const positions = op('Gather', [randomTensor('position_embedding', [MAX_POSITIONS, H], 0.01), op('Range', [zero, seqLen, one])]);
  let x = op('Add', [tokens, positions]);

  // Causal mask, cut to the sequence length.
  const maskValues = new Float32Array(MAX_POSITIONS * MAX_POSITIONS);
  for (let i = 0; i < MAX_POSITIONS; i++) for (let j = i + 1; j < MAX_POSITIONS; j++) maskValues[i * MAX_POSITIONS + j] = -1e9;
  const seqLen1d = op('Unsqueeze', [seqLen, intTensor('axes_zero', [1], [0])]);
  const mask = op('Slice', [floatTensor('causal_mask', [MAX_POSITIONS, MAX_POSITIONS], maskValues), intTensor('starts_00', [2], [0, 0]), op('Concat', [seqLen1d, seqLen1d], [attr('axis', 0, 'int')]), intTensor('axes_01', [2], [0, 1])]);
  const headShape = intTensor('head_shape', [4], [0, 0, nH, dh]);
  const mergedShape = intTensor('merged_shape', [3], [0, 0, H]);
  const scale = floatTensor('attention_scale', [], new Float32Array([1 / Math.sqrt(dh)]));
  const geluScale = floatTensor('quick_gelu_scale', [], new Float32Array([1.702]));

  for (let l = 0; l < L; l++) {
    const p = `layers.${l}`;
    const h = layerNorm(x, `${p}.layer_norm1`);
    const heads = (name: string, perm: number[]) =>
      op('Transpose', [op('Reshape', [linear(h, `${p}.self_attn.${name}`, H, H), headShape])], [attr('perm', perm, 'ints')]);
    const q = heads('q_proj', [0, 2, 1, 3]);
    const k = heads('k_proj', [0, 2, 3, 1]);
    const v = heads('v_proj', [0, 2, 1, 3]);
    const scores = op('Add', [op('Mul', [op('MatMul', [q, k]), scale]), mask]);
    const attended = op('MatMul', [op('Softmax', [scores], [attr('axis', -1, 'int')]), v]);
    const merged = op('Reshape', [op('Transpose', [attended], [attr('perm', [0, 2, 1, 3], 'ints')]), mergedShape]);
    x = op('Add', [x, linear(merged, `${p}.self_attn.out_proj`, H, H)]);
    const h2 = layerNorm(x, `${p}.layer_norm2`);
    const fc1 = linear(h2, `${p}.mlp.fc1`, H, F);
    const gelu = op('Mul', [fc1, op('Sigmoid', [op('Mul', [fc1, geluScale])])]);
    x = op('Add', [x, linear(gelu, `${p}.mlp.fc2`, F, H)]);
  }
  const hidden = layerNorm(x, 'final_layer_norm', 'last_hidden_state');

  // Pool at the first end-of-text token (the highest id in CLIP's vocabulary), then project.
  const eos = op('ArgMax', [op('Cast', ['input_ids'], [attr('to', INT32, 'int')])], [attr('axis', 1, 'int'), attr('keepdims', 1, 'int')]);
  const pooled = op('GatherND', [hidden, eos], [attr('batch_dims', 1, 'int')]);
  op('MatMul', [pooled, randomTensor('text_projection', [H, P], 1 / Math.sqrt(H))], [], 'text_embeds');

  const dim = (v: string | number): onnx.TensorShapeProto.IDimension => (typeof v === 'string' ? { dimParam: v } : { dimValue: v });
  const valueInfo = (name: string, elemType: number, shape: (string | number)[]): onnx.IValueInfoProto => ({
    name,
    type: { tensorType: { elemType, shape: { dim: shape.map(dim) } } },
  });
  const model = proto.ModelProto.create({
    irVersion: 8,
    producerName: 'sentseg-label-bank',
    producerVersion: '0.1.0',
    opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: 'tiny_clip_text_model',
      node: nodes,
      initializer: initializers,
      input: [valueInfo('input_ids', INT64, ['batch_size', 'sequence_length'])],
      output: [valueInfo('text_embeds', FLOAT, ['batch_size', P]), valueInfo('last_hidden_state', FLOAT, ['batch_size', 'sequence_length', H])],
    },
  });
  return proto.ModelProto.encode(model).finish();
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
