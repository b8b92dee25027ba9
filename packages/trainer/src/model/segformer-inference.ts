/**
 * SegFormer's forward pass for inference only, in bounded memory: the same function as
 * `SegFormer.forward` (model.test.ts compares them), computed so that no stage keeps its
 * intermediates alive. Each block runs in its own tidy, attention goes over chunks of queries
 * (the full [queries × keys] matrix of stage 1 is quadratic in the pixels), the depthwise
 * convolution uses the backend's forward kernel (training's work-around needs 27 full-size
 * intermediates), the feed-forward's GELU and second linear go over chunks of tokens, and the
 * decoder runs band by band of output rows, each band handed to the caller and freed before the
 * next. What stays alive between blocks is the tokens of the current stage and the four feature maps.
 */
import { tf, type Tensor } from '../tf.js';
import { batchMatMulFast, bilinearMatrix, conv2d, gelu, layerNorm, linear } from './ops.js';
import { INPUT_MULTIPLE, PATCH_KERNELS, PATCH_STRIDES, type SegFormer } from './segformer.js';

/** Elements (float32) of one attention-score chunk, feed-forward chunk or decoder band. */
export const CHUNK_ELEMENTS = 1 << 22;

/** Runs `fn` in a tidy and disposes `old` (a tensor the caller owns) once the result exists. */
function replace(old: Tensor, keepOld: boolean, fn: () => Tensor): Tensor {
  const next = tf.tidy(fn);
  if (!keepOld) old.dispose();
  return next;
}

function attention(model: SegFormer, x: Tensor, h: number, w: number, pre: string, heads: number, sr: number, chunk: number): Tensor {
  const p = model.params;
  const [n, l, ch] = x.shape as [number, number, number];
  const dh = ch / heads;
  const split = (t: Tensor, len: number): Tensor => tf.reshape(tf.transpose(tf.reshape(t, [n, len, heads, dh]), [0, 2, 1, 3]), [n * heads, len, dh]);
  return tf.tidy(() => {
    const q = split(linear(x, p.get(`${pre}/q/w`), p.get(`${pre}/q/b`)), l);
    let kvIn = x;
    if (sr > 1) {
      const reduced = conv2d(tf.reshape(x, [n, h, w, ch]), p.get(`${pre}/sr/w`), p.get(`${pre}/sr/b`), sr, sr, 0);
      const [, rh, rw] = reduced.shape as [number, number, number, number];
      kvIn = layerNorm(tf.reshape(reduced, [n, rh * rw, ch]), p.get(`${pre}/sr/ln/g`), p.get(`${pre}/sr/ln/b`), 1e-5);
    }
    const lk = kvIn.shape[1] as number;
    // Keys transposed once: an untransposed product is the WebAssembly backend's fast path.
    const kT = tf.transpose(split(linear(kvIn, p.get(`${pre}/k/w`), p.get(`${pre}/k/b`)), lk), [0, 2, 1]);
    const v = split(linear(kvIn, p.get(`${pre}/v/w`), p.get(`${pre}/v/b`)), lk);
    const rows = Math.max(1, Math.floor(chunk / (n * heads * lk)));
    const parts: Tensor[] = [];
    for (let s = 0; s < l; s += rows) {
      const len = Math.min(rows, l - s);
      parts.push(
        tf.tidy(() => {
          const qc = l <= rows ? q : tf.slice(q, [0, s, 0], [n * heads, len, dh]);
          // One two-dimensional product per head (batchMatMulFast): the WebAssembly backend runs a
          // batched product of more than one matrix as a scalar loop.
          const weights = tf.softmax(tf.mul(batchMatMulFast(qc, kT), 1 / Math.sqrt(dh)));
          return batchMatMulFast(weights, v);
        }),
      );
    }
    const out = parts.length === 1 ? (parts[0] as Tensor) : tf.concat(parts, 1);
    const mixed = tf.reshape(tf.transpose(tf.reshape(out, [n, heads, l, dh]), [0, 2, 1, 3]), [n, l, ch]);
    return linear(mixed, p.get(`${pre}/proj/w`), p.get(`${pre}/proj/b`));
  });
}

function mixFfn(model: SegFormer, x: Tensor, h: number, w: number, pre: string, chunk: number): Tensor {
  const p = model.params;
  const [n, l, ch] = x.shape as [number, number, number];
  const mixed = tf.tidy(() => {
    const hidden = linear(x, p.get(`${pre}/fc1/w`), p.get(`${pre}/fc1/b`));
    const hc = hidden.shape[2] as number;
    const filter = tf.reshape(p.get(`${pre}/dw/w`), [3, 3, hc, 1]) as tf.Tensor4D;
    const conv = tf.depthwiseConv2d(tf.reshape(hidden, [n, h, w, hc]) as tf.Tensor4D, filter, 1, 'same');
    return tf.reshape(tf.add(conv, p.get(`${pre}/dw/b`)), [n * l, hc]);
  });
  const hc = mixed.shape[1] as number;
  const rows = Math.max(1, Math.floor(chunk / (4 * hc)));
  const parts: Tensor[] = [];
  for (let s = 0; s < n * l; s += rows) {
    const len = Math.min(rows, n * l - s);
    parts.push(tf.tidy(() => linear(gelu(len === n * l ? mixed : tf.slice(mixed, [s, 0], [len, hc])), p.get(`${pre}/fc2/w`), p.get(`${pre}/fc2/b`))));
  }
  mixed.dispose();
  const out = parts.length === 1 ? (parts[0] as Tensor) : tf.concat(parts, 0);
  if (parts.length > 1) tf.dispose(parts);
  return replace(out, false, () => tf.reshape(out, [n, l, ch]));
}

/**
 * The encoder's four feature maps [1, h_s, w_s, C_s] of normalised images [1, H, W, 3] (padded to
 * a multiple of 32 as `SegFormer.forward` does). The caller disposes them. `chunk`: elements of
 * one attention-score or feed-forward chunk.
 */
export function encoderFeatures(model: SegFormer, images: Tensor, chunk = CHUNK_ELEMENTS): Tensor[] {
  const p = model.params;
  const c = model.config;
  const [n, height, width] = images.shape as [number, number, number, number];
  const padH = Math.ceil(height / INPUT_MULTIPLE) * INPUT_MULTIPLE - height;
  const padW = Math.ceil(width / INPUT_MULTIPLE) * INPUT_MULTIPLE - width;
  let x: Tensor = padH + padW > 0 ? tf.pad(images, [[0, 0], [0, padH], [0, padW], [0, 0]]) : images;
  let xIsInput = x === images;
  const features: Tensor[] = [];
  for (let s = 0; s < 4; s++) {
    const pre = `stage${s + 1}`;
    const k = PATCH_KERNELS[s] as number;
    const input = x;
    let tokens = tf.tidy(() => {
      const map = conv2d(input, p.get(`${pre}/patch/w`), p.get(`${pre}/patch/b`), k, PATCH_STRIDES[s] as number, Math.floor(k / 2));
      const [, h, w, ch] = map.shape as [number, number, number, number];
      return layerNorm(tf.reshape(map, [n, h * w, ch]), p.get(`${pre}/patch/ln/g`), p.get(`${pre}/patch/ln/b`), 1e-5);
    });
    // The previous stage's map stays (it is a feature); only the padded input is freed here.
    if (s === 0 && !xIsInput) x.dispose();
    xIsInput = false;
    const h = Math.floor((s === 0 ? height + padH : (features[s - 1] as Tensor).shape[1] as number) / (PATCH_STRIDES[s] as number));
    const w = Math.floor((s === 0 ? width + padW : (features[s - 1] as Tensor).shape[2] as number) / (PATCH_STRIDES[s] as number));
    for (let b = 0; b < (c.depths[s] as number); b++) {
      const blk = `${pre}/block${b}`;
      const before = tokens;
      const normed1 = tf.tidy(() => layerNorm(before, p.get(`${blk}/ln1/g`), p.get(`${blk}/ln1/b`)));
      const attended = attention(model, normed1, h, w, `${blk}/attn`, c.heads[s] as number, c.srRatios[s] as number, chunk);
      normed1.dispose();
      tokens = replace(before, false, () => tf.add(before, attended));
      attended.dispose();
      const mid = tokens;
      const normed2 = tf.tidy(() => layerNorm(mid, p.get(`${blk}/ln2/g`), p.get(`${blk}/ln2/b`)));
      const fed = mixFfn(model, normed2, h, w, `${blk}/ffn`, chunk);
      normed2.dispose();
      tokens = replace(mid, false, () => tf.add(mid, fed));
      fed.dispose();
    }
    const last = tokens;
    x = replace(last, false, () => tf.reshape(layerNorm(last, p.get(`${pre}/ln/g`), p.get(`${pre}/ln/b`)), [n, h, w, c.channels[s] as number]));
    features.push(x);
  }
  return features;
}

/** Rows [from, to) of a [to × from] bilinear matrix restricted to the source rows they read. */
function matrixRows(from: number, to: number, r0: number, r1: number): { matrix: Float32Array; first: number; count: number } {
  const full = bilinearMatrix(from, to);
  let first = from;
  let last = 0;
  for (let r = r0; r < r1; r++) {
    for (let c = 0; c < from; c++) {
      if ((full[r * from + c] as number) !== 0) {
        first = Math.min(first, c);
        last = Math.max(last, c);
      }
    }
  }
  if (first > last) first = last = 0;
  const count = last - first + 1;
  const matrix = new Float32Array((r1 - r0) * count);
  for (let r = r0; r < r1; r++) for (let c = 0; c < count; c++) matrix[(r - r0) * count + c] = full[r * from + first + c] as number;
  return { matrix, first, count };
}

/** Output rows of one decoder band, chosen so that a band's intermediates stay near CHUNK_ELEMENTS × 4. */
export function decoderBandRows(model: SegFormer, gridWidth: number, numLabels: number, chunk = CHUNK_ELEMENTS): number {
  const c = model.config;
  const perCell = 12 * c.decoderDim + 5 * c.embedDim + 3 * numLabels;
  return Math.max(1, Math.floor((4 * chunk) / (perCell * gridWidth)));
}

/**
 * The pixel embeddings [n, r1 − r0, w1, embedDim] of rows [r0, r1) of the 1/4-resolution output,
 * from the encoder's features [n, h_s, w_s, C_s]: the all-MLP decoder and the head of
 * `SegFormer.forward` for those rows only. `get` reads a weight (default: the model's). Call
 * inside a tidy.
 */
export function decodeRows(model: SegFormer, features: Tensor[], r0: number, r1: number, get: (name: string) => Tensor = (name) => model.params.get(name)): Tensor {
  const [n, h1, w1] = (features[0] as Tensor).shape as [number, number, number, number];
  const bh = r1 - r0;
  const decoded = features.map((f, s) => {
    const [, hs, ws, cs] = f.shape as [number, number, number, number];
    const wgt = get(`decoder/linear${s + 1}/w`);
    const bias = get(`decoder/linear${s + 1}/b`);
    const dd = wgt.shape[1] as number;
    if (hs === h1 && ws === w1) return linear(bh === h1 ? f : tf.slice(f, [0, r0, 0, 0], [n, bh, w1, cs]), wgt, bias);
    const { matrix, first, count } = matrixRows(hs, h1, r0, r1);
    // Linear layers commute with the resize (its rows sum to 1): project the source rows, then resize.
    const projected = linear(tf.slice(f, [0, first, 0, 0], [n, count, ws, cs]), wgt, bias);
    const byRow = n === 1 ? projected : tf.transpose(projected, [1, 0, 2, 3]);
    const rows = tf.matMul(tf.tensor2d(matrix, [bh, count]), tf.reshape(byRow, [count, n * ws * dd]));
    const byCol = tf.reshape(tf.transpose(tf.reshape(rows, [bh, n, ws, dd]), [2, 1, 0, 3]), [ws, n * bh * dd]);
    const cols = tf.matMul(tf.tensor2d(bilinearMatrix(ws, w1), [w1, ws]), byCol);
    return tf.transpose(tf.reshape(cols, [w1, n, bh, dd]), [1, 2, 0, 3]);
  });
  const fused = linear(tf.concat(decoded.reverse(), 3), get('decoder/fuse/w'), get('decoder/fuse/b'));
  const activated = tf.relu(layerNorm(fused, get('decoder/fuse/ln/g'), get('decoder/fuse/ln/b'), 1e-5));
  return linear(activated, get('head/w'), get('head/b'));
}

/** `SegFormer.forward` for one image through the functions above (for tests and checks). */
export function inferenceForward(model: SegFormer, images: Tensor, chunk = CHUNK_ELEMENTS): Tensor {
  const features = encoderFeatures(model, images, chunk);
  try {
    const [, h1, w1] = (features[0] as Tensor).shape as [number, number, number, number];
    const band = decoderBandRows(model, w1, 1, chunk);
    const parts: Tensor[] = [];
    for (let r = 0; r < h1; r += band) parts.push(tf.tidy(() => decodeRows(model, features, r, Math.min(h1, r + band))));
    const out = tf.concat(parts, 1);
    tf.dispose(parts);
    return out;
  } finally {
    tf.dispose(features);
  }
}
