/**
 * SegFormer (Xie et al., 2021): a Mix Transformer encoder (overlapping patch embeddings,
 * efficient self-attention with spatial reduction, Mix-FFN with a 3×3 depthwise convolution) and
 * the all-MLP decoder. The head projects every pixel to the label-embedding dimension, and the
 * temperature τ of the cosine softmax is a learned scalar kept as log τ.
 */
import { tf, type Tensor, type Variable } from '../tf.js';
import { kernels } from './kernels.js';
import { addKeepingNothing, batchMatMulFast, convOut, gelu, layerNorm, linear, matMulFast } from './ops.js';
import { ParamStore } from './params.js';
import { recompute, recomputeParts } from './recompute.js';
import { CHUNK_ELEMENTS, decodeRows, decoderBandRows } from './segformer-inference.js';

/** Reads a weight by name. */
type Get = (name: string) => Tensor;

type Four = [number, number, number, number];

export interface SegFormerConfig {
  variant: string;
  channels: Four;
  depths: Four;
  heads: Four;
  srRatios: Four;
  mlpRatio: number;
  decoderDim: number;
  /** Output dimension: the label embeddings' (512 for CLIP ViT-B/32). */
  embedDim: number;
  /** L_WD's 1×1 convolution from the embeddings to the CLIP image-embedding size (absent: none). */
  boxProjectionDim?: number;
}

export const PATCH_KERNELS: Four = [7, 3, 3, 3];
export const PATCH_STRIDES: Four = [4, 2, 2, 2];
/** The input is padded to a multiple of this (the coarsest stage's stride). */
export const INPUT_MULTIPLE = 32;
/** Predictions come out at 1/4 of the input resolution. */
export const OUTPUT_STRIDE = 4;

/** The published sizes (MiT-B0..B5) plus `tiny`, a CPU-friendly variant of ours. */
export const SEGFORMER_VARIANTS: Record<string, Omit<SegFormerConfig, 'embedDim'>> = {
  tiny: { variant: 'tiny', channels: [16, 32, 64, 128], depths: [1, 1, 1, 1], heads: [1, 1, 2, 4], srRatios: [8, 4, 2, 1], mlpRatio: 4, decoderDim: 64 },
  b0: { variant: 'b0', channels: [32, 64, 160, 256], depths: [2, 2, 2, 2], heads: [1, 2, 5, 8], srRatios: [8, 4, 2, 1], mlpRatio: 4, decoderDim: 256 },
  b1: { variant: 'b1', channels: [64, 128, 320, 512], depths: [2, 2, 2, 2], heads: [1, 2, 5, 8], srRatios: [8, 4, 2, 1], mlpRatio: 4, decoderDim: 256 },
  b2: { variant: 'b2', channels: [64, 128, 320, 512], depths: [3, 4, 6, 3], heads: [1, 2, 5, 8], srRatios: [8, 4, 2, 1], mlpRatio: 4, decoderDim: 768 },
  b3: { variant: 'b3', channels: [64, 128, 320, 512], depths: [3, 4, 18, 3], heads: [1, 2, 5, 8], srRatios: [8, 4, 2, 1], mlpRatio: 4, decoderDim: 768 },
  b4: { variant: 'b4', channels: [64, 128, 320, 512], depths: [3, 8, 27, 3], heads: [1, 2, 5, 8], srRatios: [8, 4, 2, 1], mlpRatio: 4, decoderDim: 768 },
  b5: { variant: 'b5', channels: [64, 128, 320, 512], depths: [3, 6, 40, 3], heads: [1, 2, 5, 8], srRatios: [8, 4, 2, 1], mlpRatio: 4, decoderDim: 768 },
};

export function segformerConfig(variant: string, embedDim: number): SegFormerConfig {
  const base = SEGFORMER_VARIANTS[variant];
  if (!base) throw new Error(`unknown model variant "${variant}" (known: ${Object.keys(SEGFORMER_VARIANTS).join(', ')})`);
  return { ...base, embedDim };
}

/** τ = 0.07 at the start, as CLIP's. */
export const INITIAL_TAU = 0.07;

export class SegFormer {
  readonly config: SegFormerConfig;
  readonly params: ParamStore;
  /**
   * Training at large crops: recompute the encoder's segments (each half-block, each patch
   * embedding and stage norm) in the backward pass instead of keeping their intermediates (less
   * memory, about one more encoder forward pass of time; model.recompute `encoder` and `on`).
   */
  recomputeActivations = false;
  /**
   * Also run the decoder, the head and (in a training step) the loss as recomputed bands of output
   * rows, so that no [pixels × embedDim] map is ever whole (least memory; model.recompute `on`).
   */
  decoderInBands = false;
  /** With decoderInBands: about a quarter of the elements of one decoder band's intermediates. */
  decoderBandElements = CHUNK_ELEMENTS;

  constructor(config: SegFormerConfig, seed: number) {
    this.config = config;
    this.params = new ParamStore(seed);
    this.build();
  }

  private build(): void {
    const p = this.params;
    const c = this.config;
    let inCh = 3;
    for (let s = 0; s < 4; s++) {
      const ch = c.channels[s] as number;
      const k = PATCH_KERNELS[s] as number;
      const pre = `stage${s + 1}`;
      // Conv weights: normal(0, sqrt(2 / fan_out)) as the reference initialises Conv2d.
      p.truncNormal(`${pre}/patch/w`, [k * k * inCh, ch], Math.sqrt(2 / (k * k * ch)));
      p.constant(`${pre}/patch/b`, [ch], 0);
      p.constant(`${pre}/patch/ln/g`, [ch], 1);
      p.constant(`${pre}/patch/ln/b`, [ch], 0);
      const sr = c.srRatios[s] as number;
      for (let b = 0; b < (c.depths[s] as number); b++) {
        const blk = `${pre}/block${b}`;
        p.constant(`${blk}/ln1/g`, [ch], 1);
        p.constant(`${blk}/ln1/b`, [ch], 0);
        for (const name of ['q', 'k', 'v', 'proj']) {
          p.truncNormal(`${blk}/attn/${name}/w`, [ch, ch], 0.02);
          p.constant(`${blk}/attn/${name}/b`, [ch], 0);
        }
        if (sr > 1) {
          p.truncNormal(`${blk}/attn/sr/w`, [sr * sr * ch, ch], Math.sqrt(2 / (sr * sr * ch)));
          p.constant(`${blk}/attn/sr/b`, [ch], 0);
          p.constant(`${blk}/attn/sr/ln/g`, [ch], 1);
          p.constant(`${blk}/attn/sr/ln/b`, [ch], 0);
        }
        const hidden = ch * c.mlpRatio;
        p.constant(`${blk}/ln2/g`, [ch], 1);
        p.constant(`${blk}/ln2/b`, [ch], 0);
        p.truncNormal(`${blk}/ffn/fc1/w`, [ch, hidden], 0.02);
        p.constant(`${blk}/ffn/fc1/b`, [hidden], 0);
        p.truncNormal(`${blk}/ffn/dw/w`, [9, hidden], Math.sqrt(2 / 9));
        p.constant(`${blk}/ffn/dw/b`, [hidden], 0);
        p.truncNormal(`${blk}/ffn/fc2/w`, [hidden, ch], 0.02);
        p.constant(`${blk}/ffn/fc2/b`, [ch], 0);
      }
      p.constant(`${pre}/ln/g`, [ch], 1);
      p.constant(`${pre}/ln/b`, [ch], 0);
      p.truncNormal(`decoder/linear${s + 1}/w`, [ch, c.decoderDim], 0.02);
      p.constant(`decoder/linear${s + 1}/b`, [c.decoderDim], 0);
      inCh = ch;
    }
    p.truncNormal('decoder/fuse/w', [4 * c.decoderDim, c.decoderDim], Math.sqrt(2 / c.decoderDim));
    p.constant('decoder/fuse/b', [c.decoderDim], 0);
    p.constant('decoder/fuse/ln/g', [c.decoderDim], 1);
    p.constant('decoder/fuse/ln/b', [c.decoderDim], 0);
    p.truncNormal('head/w', [c.decoderDim, c.embedDim], 0.02);
    p.constant('head/b', [c.embedDim], 0);
    p.constant('log_tau', [], Math.log(INITIAL_TAU));
    if (c.boxProjectionDim) {
      p.truncNormal('wd/w', [c.embedDim, c.boxProjectionDim], 0.02);
      p.constant('wd/b', [c.boxProjectionDim], 0);
    }
  }

  get logTau(): Variable {
    return this.params.get('log_tau');
  }

  /** Weights that take decoupled weight decay (matrices; not biases, norms or τ). */
  decays(name: string): boolean {
    return name.endsWith('/w');
  }

  private attention(get: Get, x: Tensor, h: number, w: number, pre: string, heads: number, sr: number): Tensor {
    const [n, l, ch] = x.shape as [number, number, number];
    const dh = ch / heads;
    // One head needs no layout change: [n, len, ch] is already [n·heads, len, dh].
    const split = (t: Tensor, len: number): Tensor => (heads === 1 ? t : tf.reshape(tf.transpose(tf.reshape(t, [n, len, heads, dh]), [0, 2, 1, 3]), [n * heads, len, dh]));
    const q = split(linear(x, get(`${pre}/q/w`), get(`${pre}/q/b`)), l);
    let kvIn = x;
    if (sr > 1) {
      const map = tf.reshape(x, [n, h, w, ch]);
      const reduced = kernels().conv2d(map, get(`${pre}/sr/w`), get(`${pre}/sr/b`), sr, sr, 0);
      const [, rh, rw] = reduced.shape as [number, number, number, number];
      kvIn = layerNorm(tf.reshape(reduced, [n, rh * rw, ch]), get(`${pre}/sr/ln/g`), get(`${pre}/sr/ln/b`), 1e-5);
    }
    const lk = kvIn.shape[1] as number;
    const k = split(linear(kvIn, get(`${pre}/k/w`), get(`${pre}/k/b`)), lk);
    const v = split(linear(kvIn, get(`${pre}/v/w`), get(`${pre}/v/b`)), lk);
    const weights = tf.softmax(tf.mul(batchMatMulFast(q, tf.transpose(k, [0, 2, 1])), 1 / Math.sqrt(dh)));
    const attended = batchMatMulFast(weights, v);
    const mixed = heads === 1 ? attended : tf.reshape(tf.transpose(tf.reshape(attended, [n, heads, l, dh]), [0, 2, 1, 3]), [n, l, ch]);
    return linear(mixed, get(`${pre}/proj/w`), get(`${pre}/proj/b`));
  }

  private mixFfn(get: Get, x: Tensor, h: number, w: number, pre: string): Tensor {
    const [n, l] = x.shape as [number, number, number];
    const hidden = linear(x, get(`${pre}/fc1/w`), get(`${pre}/fc1/b`));
    const hc = hidden.shape[2] as number;
    const mixed = kernels().depthwiseConv3x3(tf.reshape(hidden, [n, h, w, hc]), get(`${pre}/dw/w`), get(`${pre}/dw/b`));
    return linear(gelu(tf.reshape(mixed, [n, l, hc])), get(`${pre}/fc2/w`), get(`${pre}/fc2/b`));
  }

  /**
   * images [n, H, W, 3] (normalised) → pixel embeddings [n, ⌈H/32⌉·8, ⌈W/32⌉·8, embedDim], not
   * normalised, at 1/4 of the (padded) input resolution. Call inside tf.tidy or a gradient.
   */
  forward(images: Tensor): Tensor {
    return this.decodeFeatures(this.encode(images));
  }

  /** The encoder: images [n, H, W, 3] → its four feature maps [n, h_s, w_s, C_s]. Call inside tf.tidy or a gradient. */
  encode(images: Tensor): Tensor[] {
    const c = this.config;
    const [n, height, width] = images.shape as [number, number, number, number];
    const padH = Math.ceil(height / INPUT_MULTIPLE) * INPUT_MULTIPLE - height;
    const padW = Math.ceil(width / INPUT_MULTIPLE) * INPUT_MULTIPLE - width;
    let x: Tensor = padH + padW > 0 ? tf.pad(images, [[0, 0], [0, padH], [0, padW], [0, 0]]) : images;
    const features: Tensor[] = [];
    for (let s = 0; s < 4; s++) {
      const pre = `stage${s + 1}`;
      const k = PATCH_KERNELS[s] as number;
      const stride = PATCH_STRIDES[s] as number;
      const [h, w, ch] = [convOut(x.shape[1] as number, k, stride, Math.floor(k / 2)), convOut(x.shape[2] as number, k, stride, Math.floor(k / 2)), c.channels[s] as number];
      // The patch embedding and the norms between stages are segments too: kept, their op-by-op
      // layer norms would hold eight full-size tensors each until the backward pass ends.
      // The first stage's input is the images: no gradient is taken for them.
      let tokens = this.segment(`${pre}/patch/`, `${pre}/patch/`, [x], (get, [input]) => {
        const map = kernels().conv2d(input as Tensor, get(`${pre}/patch/w`), get(`${pre}/patch/b`), k, stride, Math.floor(k / 2), s > 0);
        return layerNorm(tf.reshape(map, [n, h * w, ch]), get(`${pre}/patch/ln/g`), get(`${pre}/patch/ln/b`), 1e-5);
      });
      for (let b = 0; b < (c.depths[s] as number); b++) {
        const blk = `${pre}/block${b}`;
        const heads = c.heads[s] as number;
        const sr = c.srRatios[s] as number;
        tokens = this.segment(`${blk}/ln1/`, `${blk}/attn/`, [tokens], (get, [t]) => addKeepingNothing(t as Tensor, this.attention(get, layerNorm(t as Tensor, get(`${blk}/ln1/g`), get(`${blk}/ln1/b`)), h, w, `${blk}/attn`, heads, sr)));
        tokens = this.segment(`${blk}/ln2/`, `${blk}/ffn/`, [tokens], (get, [t]) => addKeepingNothing(t as Tensor, this.mixFfn(get, layerNorm(t as Tensor, get(`${blk}/ln2/g`), get(`${blk}/ln2/b`)), h, w, `${blk}/ffn`)));
      }
      x = this.segment(`${pre}/ln/`, `${pre}/ln/`, [tokens], (get, [t]) => tf.reshape(layerNorm(t as Tensor, get(`${pre}/ln/g`), get(`${pre}/ln/b`)), [n, h, w, ch]));
      features.push(x);
    }
    return features;
  }

  /** The decoder and the head: the four feature maps → pixel embeddings (forward's second half). */
  decodeFeatures(features: Tensor[]): Tensor {
    const p = this.params;
    if (!this.decoderInBands) return tf.tidy(() => this.decode((name) => p.get(name), features));
    // Recomputed band by band of output rows: the backward pass holds one band's intermediates.
    const [n, h1, w1] = (features[0] as Tensor).shape as [number, number, number, number];
    const band = decoderBandRows(this, w1 * n, 0, this.decoderBandElements);
    return this.recomputeBands(features, [], band, (get, maps, r0, r1) => decodeRows(this, maps, r0, r1, get));
  }

  /**
   * `fn` over bands of `rows` output rows of the 1/4-resolution map, concatenated along the rows,
   * as one recomputed op (recompute.ts recomputeParts) whose inputs are the four feature maps,
   * `extra` (what `fn` reads besides the decoder, log τ included) and the decoder's and head's weights: the backward pass holds one band's
   * intermediates and one gradient per input.
   */
  recomputeBands(features: Tensor[], extra: Tensor[], rows: number, fn: (get: Get, maps: Tensor[], r0: number, r1: number, extra: Tensor[]) => Tensor): Tensor {
    const h1 = (features[0] as Tensor).shape[1] as number;
    const names = this.params.names().filter((n) => n.startsWith('decoder/') || n.startsWith('head/'));
    const k = features.length + extra.length;
    const parts = Math.ceil(h1 / rows);
    return recomputeParts(parts, 1, (part, ...xs) => {
      const byName = new Map(names.map((n, i) => [n, xs[k + i] as Tensor]));
      const get = (name: string): Tensor => {
        const found = byName.get(name);
        if (!found) throw new Error(`decoder band: weight ${name} is not among its inputs`);
        return found;
      };
      return fn(get, xs.slice(0, features.length), part * rows, Math.min(h1, (part + 1) * rows), xs.slice(features.length, k));
    }, [...features, ...extra, ...names.map((n) => this.params.get(n))]);
  }

  /**
   * The decoder without the head: the four feature maps → the head's input [n, h1, w1, decoderDim]
   * (a training step at the map's resolution takes its cosine logits from it: losses/head-cosine.ts).
   * Not with decoderInBands. Call inside tf.tidy or a gradient.
   */
  decodeToHead(features: Tensor[]): Tensor {
    if (this.decoderInBands) throw new Error('decodeToHead: the decoder runs in bands (model.recompute=on)');
    const p = this.params;
    return tf.tidy(() => this.decodeFused((name) => p.get(name), features));
  }

  /** The all-MLP decoder and the head: the four feature maps → pixel embeddings. */
  private decode(get: Get, features: Tensor[]): Tensor {
    return linear(this.decodeFused(get, features), get('head/w'), get('head/b'));
  }

  /** The all-MLP decoder: the four feature maps → the fused, normalised and activated map the head projects. */
  private decodeFused(get: Get, features: Tensor[]): Tensor {
    const [, h1, w1] = (features[0] as Tensor).shape as [number, number, number, number];
    // fuse(concat_s resize(linear_s(f_s))) = Σ_s resize(f_s · (W_s · F_s) + b_s · F_s) + b_fuse, with F_s
    // the rows of the fuse matrix that meet stage s (the reference concatenates the coarsest stage
    // first): the resize commutes with per-pixel products (its rows sum to 1), so each stage is
    // projected at its own resolution by one product, and no [pixels × 4·decoderDim] map is built.
    const dd = this.config.decoderDim;
    const fuseW = get('decoder/fuse/w');
    let fused: Tensor = tf.reshape(get('decoder/fuse/b'), [1, 1, 1, dd]);
    features.forEach((f, s) => {
      const rows = tf.slice(fuseW, [(3 - s) * dd, 0], [dd, dd]);
      const w = matMulFast(get(`decoder/linear${s + 1}/w`), rows);
      const b = tf.reshape(matMulFast(tf.reshape(get(`decoder/linear${s + 1}/b`), [1, dd]), rows), [dd]);
      fused = addKeepingNothing(fused, kernels().resizeBilinear(linear(f, w, b), h1, w1));
    });
    return tf.relu(layerNorm(fused, get('decoder/fuse/ln/g'), get('decoder/fuse/ln/b'), 1e-5));
  }

  /**
   * One segment of the network (a residual half-block, or the decoder) over `inputs` and the
   * weights whose names start with one of the two prefixes. With `recomputeActivations` its
   * intermediates are not kept for the backward pass but recomputed there (recompute.ts).
   */
  private segment(prefixA: string, prefixB: string, inputs: Tensor[], fn: (get: Get, inputs: Tensor[]) => Tensor): Tensor {
    // Kept: a tidy frees what no gradient saved (TensorFlow.js would hold it until the forward pass ends).
    if (!this.recomputeActivations) return tf.tidy(() => fn((name) => this.params.get(name), inputs));
    const names = this.params.names().filter((n) => n.startsWith(prefixA) || n.startsWith(prefixB));
    const weights = names.map((n) => this.params.get(n));
    const k = inputs.length;
    return recompute((...xs) => {
      const byName = new Map(names.map((n, i) => [n, xs[k + i] as Tensor]));
      return fn((name) => {
        const found = byName.get(name);
        if (!found) throw new Error(`segment ${prefixA}, ${prefixB}: weight ${name} is not among its inputs`);
        return found;
      }, xs.slice(0, k));
    }, [...inputs, ...weights]);
  }
}
