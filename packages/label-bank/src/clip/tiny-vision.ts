import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { FLOAT, GraphBuilder } from './onnx-graph.js';

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
  const P = opts.projectionDim ?? 48;
  const N = (S / p) * (S / p);
  const g = new GraphBuilder(opts.seed ?? 0);
  const patches = g.op('Conv', ['pixel_values', g.randomTensor('patch_embedding', [H, 3, p, p], 0.02)], [g.attr('strides', [p, p], 'ints'), g.attr('kernel_shape', [p, p], 'ints')]);
  const tokens = g.op('Transpose', [g.op('Reshape', [patches, g.intTensor('patch_shape', [3], [0, H, -1])])], [g.attr('perm', [0, 2, 1], 'ints')]);
  const batch = g.op('Slice', [g.op('Shape', ['pixel_values']), g.intTensor('start_0', [1], [0]), g.intTensor('end_1', [1], [1])]);
  const clsShape = g.op('Concat', [batch, g.intTensor('one_h', [2], [1, H])], [g.attr('axis', 0, 'int')]);
  const cls = g.op('Expand', [g.randomTensor('class_embedding', [1, 1, H], 0.02), clsShape]);
  const embedded = g.op('Add', [g.op('Concat', [cls, tokens], [g.attr('axis', 1, 'int')]), g.randomTensor('position_embedding', [N + 1, H], 0.01)]);
  const x = g.transformerBlocks(g.layerNorm(embedded, 'pre_layrnorm', H), { layers: opts.layers ?? 2, hidden: H, heads: opts.heads ?? 4, intermediate: 4 * H });
  g.op('Identity', [x], [], 'last_hidden_state');
  const pooled = g.layerNorm(g.op('Gather', [x, g.intTensor('cls_index', [], [0])], [g.attr('axis', 1, 'int')]), 'post_layernorm', H);
  g.op('MatMul', [pooled, g.randomTensor('visual_projection', [H, P], 1 / Math.sqrt(H))], [], 'image_embeds');
  return g.encode(
    'tiny_clip_vision_model',
    [['pixel_values', FLOAT, ['batch_size', 3, S, S]]],
    [
      ['image_embeds', FLOAT, ['batch_size', P]],
      ['last_hidden_state', FLOAT, ['batch_size', N + 1, H]],
    ],
  );
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
