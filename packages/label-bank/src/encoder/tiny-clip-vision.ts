import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import onnxProto from 'onnx-proto';
import type { onnx } from 'onnx-proto';
import { seededNormal } from '../rng.js';

const proto = onnxProto.onnx;
const FLOAT = proto.TensorProto.DataType.FLOAT;
const INT64 = proto.TensorProto.DataType.INT64;

export interface TinyClipVisionOptions {
  imageSize?: number;
  patchSize?: number;
  hiddenSize?: number;
  layers?: number;
  heads?: number;
  projectionDim?: number;
  seed?: number;
}

/**
 * The ONNX graph of a CLIP vision transformer (patch convolution, class token, position
 * embeddings, pre-LayerNorm, pre-norm blocks with quick-GELU MLPs, post-LayerNorm of the class
 * token, linear projection) with seeded random weights. Input pixel_values [batch, 3, S, S];
 * outputs image_embeds [batch, projection] and last_hidden_state, as transformers.js expects of
 * CLIPVisionModelWithProjection.
 */
export function buildTinyClipVisionGraph(opts: TinyClipVisionOptions = {}): Uint8Array {
  const S = opts.imageSize ?? 32;
  const p = opts.patchSize ?? 8;
  const H = opts.hiddenSize ?? 32;
  const L = opts.layers ?? 2;
  const nH = opts.heads ?? 4;
  const P = opts.projectionDim ?? 48;
  const dh = H / nH;
  const N = (S / p) * (S / p);
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
  const randomTensor = (name: string, dims: number[], std: number): string =>
    floatTensor(name, dims, Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => normal() * std));
  const filled = (name: string, dims: number[], value: number): string => floatTensor(name, dims, new Float32Array(dims.reduce((a, b) => a * b, 1)).fill(value));
  const attr = (name: string, value: number | number[], kind: 'int' | 'float' | 'ints'): onnx.IAttributeProto => {
    if (kind === 'int') return { name, type: proto.AttributeProto.AttributeType.INT, i: value as number };
    if (kind === 'float') return { name, type: proto.AttributeProto.AttributeType.FLOAT, f: value as number };
    return { name, type: proto.AttributeProto.AttributeType.INTS, ints: value as number[] };
  };
  const op = (opType: string, inputs: string[], attributes: onnx.IAttributeProto[] = [], output = tmp(opType.toLowerCase())): string => {
    nodes.push({ opType, input: inputs, output: [output], attribute: attributes, name: output });
    return output;
  };
  const linear = (x: string, prefix: string, inDim: number, outDim: number): string =>
    op('Add', [op('MatMul', [x, randomTensor(`${prefix}.weight`, [inDim, outDim], 1 / Math.sqrt(inDim))]), filled(`${prefix}.bias`, [outDim], 0)]);
  const layerNorm = (x: string, prefix: string, output?: string): string =>
    op('LayerNormalization', [x, filled(`${prefix}.weight`, [H], 1), filled(`${prefix}.bias`, [H], 0)], [attr('axis', -1, 'int'), attr('epsilon', 1e-5, 'float')], output);

  const patches = op('Conv', ['pixel_values', randomTensor('patch_embedding', [H, 3, p, p], 0.02)], [attr('strides', [p, p], 'ints'), attr('kernel_shape', [p, p], 'ints')]);
  const tokens = op('Transpose', [op('Reshape', [patches, intTensor('patch_shape', [3], [0, H, -1])])], [attr('perm', [0, 2, 1], 'ints')]);
  const batch = op('Slice', [op('Shape', ['pixel_values']), intTensor('start_0', [1], [0]), intTensor('end_1', [1], [1])]);
  const clsShape = op('Concat', [batch, intTensor('one_h', [2], [1, H])], [attr('axis', 0, 'int')]);
  const cls = op('Expand', [randomTensor('class_embedding', [1, 1, H], 0.02), clsShape]);
  let x = op('Add', [op('Concat', [cls, tokens], [attr('axis', 1, 'int')]), randomTensor('position_embedding', [N + 1, H], 0.01)]);
  x = layerNorm(x, 'pre_layrnorm');
  const headShape = intTensor('head_shape', [4], [0, 0, nH, dh]);
  const mergedShape = intTensor('merged_shape', [3], [0, 0, H]);
  const scale = floatTensor('attention_scale', [], new Float32Array([1 / Math.sqrt(dh)]));
  const geluScale = floatTensor('quick_gelu_scale', [], new Float32Array([1.702]));
  for (let l = 0; l < L; l++) {
    const pre = `layers.${l}`;
    const h = layerNorm(x, `${pre}.layer_norm1`);
    const heads = (name: string, perm: number[]) => op('Transpose', [op('Reshape', [linear(h, `${pre}.self_attn.${name}`, H, H), headShape])], [attr('perm', perm, 'ints')]);
    const q = heads('q_proj', [0, 2, 1, 3]);
    const k = heads('k_proj', [0, 2, 3, 1]);
    const v = heads('v_proj', [0, 2, 1, 3]);
    const attended = op('MatMul', [op('Softmax', [op('Mul', [op('MatMul', [q, k]), scale])], [attr('axis', -1, 'int')]), v]);
    const merged = op('Reshape', [op('Transpose', [attended], [attr('perm', [0, 2, 1, 3], 'ints')]), mergedShape]);
    x = op('Add', [x, linear(merged, `${pre}.self_attn.out_proj`, H, H)]);
    const fc1 = linear(layerNorm(x, `${pre}.layer_norm2`), `${pre}.mlp.fc1`, H, 4 * H);
    x = op('Add', [x, linear(op('Mul', [fc1, op('Sigmoid', [op('Mul', [fc1, geluScale])])]), `${pre}.mlp.fc2`, 4 * H, H)]);
  }
  op('Identity', [x], [], 'last_hidden_state');
  const pooled = layerNorm(op('Gather', [x, intTensor('cls_index', [], [0])], [attr('axis', 1, 'int')]), 'post_layernorm');
  op('MatMul', [pooled, randomTensor('visual_projection', [H, P], 1 / Math.sqrt(H))], [], 'image_embeds');
  const dim = (v: string | number): onnx.TensorShapeProto.IDimension => (typeof v === 'string' ? { dimParam: v } : { dimValue: v });
  const valueInfo = (name: string, shape: (string | number)[]): onnx.IValueInfoProto => ({ name, type: { tensorType: { elemType: FLOAT, shape: { dim: shape.map(dim) } } } });
  const model = proto.ModelProto.create({
    irVersion: 8,
    producerName: 'sentseg-label-bank',
    producerVersion: '0.1.0',
    opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: 'tiny_clip_vision_model',
      node: nodes,
      initializer: initializers,
      input: [valueInfo('pixel_values', ['batch_size', 3, S, S])],
      output: [valueInfo('image_embeds', ['batch_size', P]), valueInfo('last_hidden_state', ['batch_size', N + 1, H])],
    },
  });
  return proto.ModelProto.encode(model).finish();
}

/**
 * Writes a random-weight CLIP-architecture vision encoder in transformers.js layout (config.json,
 * preprocessor_config.json, onnx/vision_model.onnx). It exercises the real loading path of box-crop
 * embeddings; its embeddings carry no meaning.
 */
export function writeTinyClipVisionModel(dir: string, options: TinyClipVisionOptions = {}): { dir: string; projectionDim: number } {
  const imageSize = options.imageSize ?? 32;
  const projectionDim = options.projectionDim ?? 48;
  mkdirSync(path.join(dir, 'onnx'), { recursive: true });
  writeFileSync(path.join(dir, 'onnx', 'vision_model.onnx'), buildTinyClipVisionGraph({ ...options, imageSize, projectionDim }));
  const config = {
    model_type: 'clip_vision_model',
    architectures: ['CLIPVisionModelWithProjection'],
    image_size: imageSize,
    patch_size: options.patchSize ?? 8,
    hidden_size: options.hiddenSize ?? 32,
    num_hidden_layers: options.layers ?? 2,
    num_attention_heads: options.heads ?? 4,
    projection_dim: projectionDim,
    sentseg: { generated: true, random_weights: true, seed: options.seed ?? 0 },
  };
  writeFileSync(path.join(dir, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
  const preprocessor = {
    image_processor_type: 'CLIPImageProcessor',
    do_resize: true,
    size: { shortest_edge: imageSize },
    resample: 3,
    do_center_crop: true,
    crop_size: { height: imageSize, width: imageSize },
    do_rescale: true,
    rescale_factor: 1 / 255,
    do_normalize: true,
    image_mean: [0.48145466, 0.4578275, 0.40821073],
    image_std: [0.26862954, 0.26130258, 0.27577711],
    do_convert_rgb: true,
  };
  writeFileSync(path.join(dir, 'preprocessor_config.json'), `${JSON.stringify(preprocessor, null, 2)}\n`);
  return { dir, projectionDim };
}
