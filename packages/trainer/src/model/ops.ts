/**
 * The layers of the network written with matrix products, slices and element-wise ops only.
 * Every op here has a gradient on every TensorFlow.js backend: the WebAssembly backend has no
 * kernel for the gradients of conv2d or of resizeBilinear, so convolutions are im2col products
 * and bilinear resizing is a product with a fixed interpolation matrix.
 */
import { tf, type Tensor } from '../tf.js';

/**
 * aᵀ · b for a [m, k] and b [m, n] (a weight gradient: m the pixels), by an untransposed product of
 * whichever operand is narrower transposed: (bᵀ · a)ᵀ where n < k. The WebAssembly backend's
 * Transpose of a tall matrix is slow: fc2's weight gradient at B0's first stage (a [8192, 128],
 * b [8192, 32]) took 41 ms as aᵀ · b and 12 ms as (bᵀ · a)ᵀ here.
 */
export function transposedProduct(a: Tensor, b: Tensor): Tensor {
  const k = a.shape[1] as number;
  const n = b.shape[1] as number;
  return k <= n ? tf.matMul(tf.transpose(a), b) : tf.transpose(tf.matMul(tf.transpose(b), a));
}

/**
 * a [m, k] · b [k, n] with gradients computed by plain (untransposed) products of explicitly
 * transposed operands: the WebAssembly backend's fast matrix-product path is the untransposed one
 * (a transposed operand is an order of magnitude slower there).
 */
export const matMulFast = tf.customGrad((...args: (Tensor | ((saved: Tensor[]) => void))[]) => {
  const [a, b] = args as [Tensor, Tensor];
  const save = args[2] as (saved: Tensor[]) => void;
  save([a, b]);
  return {
    value: tf.matMul(a, b),
    gradFunc: (dy: Tensor, saved: Tensor[]) => {
      const [sa, sb] = saved as [Tensor, Tensor];
      return [tf.matMul(dy, tf.transpose(sb)), transposedProduct(sa, dy)];
    },
  };
}) as (a: Tensor, b: Tensor) => Tensor;

/** dy summed over the axes `shape` broadcast, as `shape` (the gradient of one operand of a broadcasting sum). */
function unbroadcast(dy: Tensor, shape: number[]): Tensor {
  const axes = tf.backend_util.getReductionAxes(shape, dy.shape);
  return tf.reshape(axes.length > 0 ? tf.sum(dy, axes) : dy, shape);
}

/**
 * a + b (broadcasting) whose gradient keeps neither operand: TensorFlow.js's Add saves both for
 * their shapes only, which keeps each residual branch's output and each of the decoder's resized
 * maps alive until the backward pass reaches them (at B0 256×256 batch 2 the decoder's four sums
 * alone held 56 MiB).
 */
export function addKeepingNothing(a: Tensor, b: Tensor): Tensor {
  const [shapeA, shapeB] = [a.shape.slice(), b.shape.slice()];
  const op = tf.customGrad((...args: (Tensor | ((saved: Tensor[]) => void))[]) => {
    const [x, y] = args as [Tensor, Tensor];
    return { value: tf.add(x, y), gradFunc: (dy: Tensor) => [unbroadcast(dy, shapeA), unbroadcast(dy, shapeB)] };
  });
  return op(a, b);
}

/** a [B, m, k] · b [B, k, n] as B two-dimensional products, untransposed (see `batchMatMulFast`). */
function productsPerSlice(a: Tensor, b: Tensor): Tensor {
  const [batch, m, k] = a.shape as [number, number, number];
  const n = b.shape[2] as number;
  if (batch === 1) return tf.reshape(tf.matMul(tf.reshape(a, [m, k]), tf.reshape(b, [k, n])), [1, m, n]);
  const as = tf.split(a, batch, 0);
  const bs = tf.split(b, batch, 0);
  return tf.stack(as.map((ai, i) => tf.matMul(tf.reshape(ai, [m, k]), tf.reshape(bs[i] as Tensor, [k, n]))));
}

/**
 * a [B, m, k] · b [B, k, n], the attention's batched products: the WebAssembly backend runs a
 * BatchMatMul with more than one matrix, or with a transposed operand, as a scalar triple loop (under
 * 1 GFLOP/s here); one untransposed two-dimensional product per matrix goes through XNNPACK instead.
 * The gradients are such products too, of explicitly transposed operands.
 */
export const batchMatMulFast = tf.customGrad((...args: (Tensor | ((saved: Tensor[]) => void))[]) => {
  const [a, b] = args as [Tensor, Tensor];
  const save = args[2] as (saved: Tensor[]) => void;
  save([a, b]);
  return {
    value: productsPerSlice(a, b),
    gradFunc: (dy: Tensor, saved: Tensor[]) => {
      const [sa, sb] = saved as [Tensor, Tensor];
      // aᵀ · dy per matrix, transposing the narrower operand (as transposedProduct).
      const k = sa.shape[2] as number;
      const n = dy.shape[2] as number;
      const db = k <= n ? productsPerSlice(tf.transpose(sa, [0, 2, 1]), dy) : tf.transpose(productsPerSlice(tf.transpose(dy, [0, 2, 1]), sa), [0, 2, 1]);
      return [productsPerSlice(dy, tf.transpose(sb, [0, 2, 1])), db];
    },
  };
}) as (a: Tensor, b: Tensor) => Tensor;

/**
 * a [m, k] · b [k, n] where b takes no gradient (a constant, such as the label embeddings): the
 * backward pass computes only dL/da (matMulFast computes both).
 */
export const matMulConst = tf.customGrad((...args: (Tensor | ((saved: Tensor[]) => void))[]) => {
  const [a, b] = args as [Tensor, Tensor];
  const save = args[2] as (saved: Tensor[]) => void;
  save([b]);
  return {
    value: tf.matMul(a, b),
    gradFunc: (dy: Tensor, saved: Tensor[]) => {
      const sb = saved[0] as Tensor;
      return [tf.matMul(dy, tf.transpose(sb)), tf.zerosLike(sb)];
    },
  };
}) as (a: Tensor, b: Tensor) => Tensor;

/**
 * Σ over the rows of x [m, n] → [n], as dyᵀ · 1: on the WebAssembly backend a product whose right
 * operand is a fresh column of ones is an order of magnitude faster than tf.sum(x, 0) (a transpose
 * and a sum) or 1ᵀ · x (which packs x as the product's weights).
 */
export function columnSums(x: Tensor): Tensor {
  const [m, n] = x.shape as [number, number];
  return tf.reshape(tf.matMul(x, tf.ones([m, 1]), true, false), [n]);
}

/**
 * x [m, in] · w [in, out] + b [out] as one differentiated op: the gradients are untransposed
 * products (as matMulFast), the bias's `columnSums`.
 */
export const affineFast = tf.customGrad((...args: (Tensor | ((saved: Tensor[]) => void))[]) => {
  const [x, w, b] = args as [Tensor, Tensor, Tensor];
  const save = args[3] as (saved: Tensor[]) => void;
  save([x, w]);
  return {
    value: tf.add(tf.matMul(x, w), b),
    gradFunc: (dy: Tensor, saved: Tensor[]) => {
      const [sx, sw] = saved as [Tensor, Tensor];
      return [tf.matMul(dy, tf.transpose(sw)), transposedProduct(sx, dy), columnSums(dy)];
    },
  };
}) as (x: Tensor, w: Tensor, b: Tensor) => Tensor;

/** x [..., in] · w [in, out] + b [out]. */
export function linear(x: Tensor, w: Tensor, b?: Tensor): Tensor {
  const inDim = x.shape[x.shape.length - 1] as number;
  const lead = x.shape.slice(0, -1);
  const flat = tf.reshape(x, [-1, inDim]);
  const y = b ? affineFast(flat, w, b) : matMulFast(flat, w);
  return tf.reshape(y, [...lead, w.shape[1] as number]);
}

/**
 * Layer normalisation over the last axis, with its gradient written out: dx = (ĝ − mean(ĝ) −
 * x̂·mean(ĝ·x̂)) / σ with ĝ = dy·γ, dγ = Σ dy·x̂ and dβ = Σ dy as `columnSums`. Keeps x̂ and 1/σ.
 * TensorFlow.js's op-by-op gradient makes about twice the full-size passes: on wasm the decoder's
 * [2, 64, 64, 256] layer norm took 403 ms forward and backward that way, 241 ms this way, here.
 */
export function layerNorm(x: Tensor, gamma: Tensor, beta: Tensor, eps = 1e-6): Tensor {
  const d = x.shape[x.shape.length - 1] as number;
  const op = tf.customGrad((...args: (Tensor | ((saved: Tensor[]) => void))[]) => {
    const [input, g, b] = args as [Tensor, Tensor, Tensor];
    const centred = tf.sub(input, tf.mean(input, -1, true));
    const inverseStd = tf.rsqrt(tf.add(tf.mean(tf.square(centred), -1, true), eps));
    const normalised = tf.mul(centred, inverseStd);
    (args[3] as (saved: Tensor[]) => void)([normalised, inverseStd, g]);
    return {
      value: tf.add(tf.mul(normalised, g), b),
      gradFunc: (dy: Tensor, saved: Tensor[]) => {
        const [xh, inv, sg] = saved as [Tensor, Tensor, Tensor];
        const rows = xh.size / d;
        const dyRows = tf.reshape(dy, [rows, d]);
        const dGamma = columnSums(tf.mul(dyRows, tf.reshape(xh, [rows, d])));
        const scaled = tf.mul(dy, sg);
        const dx = tf.mul(tf.sub(tf.sub(scaled, tf.mean(scaled, -1, true)), tf.mul(xh, tf.mean(tf.mul(scaled, xh), -1, true))), inv);
        return [dx, dGamma, columnSums(dyRows)];
      },
    };
  });
  return op(x, gamma, beta);
}

/** GELU, tanh form (as in the SegFormer reference implementation's approximate mode). */
export function gelu(x: Tensor): Tensor {
  return geluOp(x);
}

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/**
 * GELU's value; its gradient keeps only x (the op-by-op form keeps eight full-size tensors).
 * 0.5x(1 + tanh u) is computed as x·σ(2u), the same function: the WebAssembly backend's Tanh is a
 * scalar loop (42 ms for 1M values here), its Sigmoid an XNNPACK kernel (2.7 ms).
 */
const geluOp = tf.customGrad((...args: (Tensor | ((saved: Tensor[]) => void))[]) => {
  const x = args[0] as Tensor;
  (args[1] as (saved: Tensor[]) => void)([x]);
  return {
    value: tf.mul(x, geluGate(x, tf.square(x))),
    gradFunc: (dy: Tensor, saved: Tensor[]) => {
      const [sx] = saved as [Tensor];
      // About a dozen temporaries of x's size: taken over chunks of GELU_GRADIENT_CHUNK elements, so
      // that a training step's peak holds one chunk's (at B0 512×512 batch 2, stage 1's 16 MiB
      // hidden map made the peak: 272 MiB of them at once).
      const size = sx.size;
      if (size <= GELU_GRADIENT_CHUNK) return [geluGradient(dy, sx)];
      const flatX = tf.reshape(sx, [size]);
      const flatDy = tf.reshape(dy, [size]);
      const parts: Tensor[] = [];
      for (let at = 0; at < size; at += GELU_GRADIENT_CHUNK) {
        const len = Math.min(GELU_GRADIENT_CHUNK, size - at);
        parts.push(tf.tidy(() => geluGradient(tf.slice(flatDy, at, len), tf.slice(flatX, at, len))));
      }
      const dx = tf.reshape(tf.concat(parts, 0), sx.shape);
      tf.dispose(parts);
      return [dx];
    },
  };
}) as (x: Tensor) => Tensor;

/** Elements of one chunk of GELU's gradient. */
const GELU_GRADIENT_CHUNK = 1 << 20;

/** dy · GELU'(x). */
function geluGradient(dy: Tensor, sx: Tensor): Tensor {
  return tf.tidy(() => {
    const x2 = tf.square(sx);
    const gate = geluGate(sx, x2);
    // d/dx = 0.5(1 + th) + 0.5 x (1 − th²) √(2/π)(1 + 3·0.044715 x²), with 0.5(1 + th) = σ and 1 − th² = 4σ(1 − σ)
    const slope = tf.mul(tf.mul(2 * SQRT_2_OVER_PI, sx), tf.mul(tf.mul(gate, tf.sub(1, gate)), tf.add(1, tf.mul(3 * 0.044715, x2))));
    return tf.mul(dy, tf.add(gate, slope));
  });
}

/** σ(2u) = 0.5(1 + tanh u), u = √(2/π)(x + 0.044715 x³) written x(1 + 0.044715 x²): no Pow (the slowest op on wasm). */
function geluGate(x: Tensor, x2: Tensor): Tensor {
  return tf.sigmoid(tf.mul(tf.mul(2 * SQRT_2_OVER_PI, x), tf.add(1, tf.mul(0.044715, x2))));
}

/** Output size of a convolution along one axis. */
export function convOut(size: number, kernel: number, stride: number, pad: number): number {
  return Math.floor((size + 2 * pad - kernel) / stride) + 1;
}

/**
 * Takes every `stride`-th pixel starting at (dy, dx) of a padded map, `outH` × `outW` of them.
 * Implemented as slice + reshape + slice, which all have gradients (strided slices do not).
 */
function strided(xp: Tensor, dy: number, dx: number, outH: number, outW: number, stride: number): Tensor {
  const [n, , , c] = xp.shape as [number, number, number, number];
  if (stride === 1) return tf.slice(xp, [0, dy, dx, 0], [n, outH, outW, c]);
  const block = tf.slice(xp, [0, dy, dx, 0], [n, outH * stride, outW * stride, c]);
  const grouped = tf.reshape(block, [n, outH, stride, outW, stride, c]);
  return tf.reshape(tf.slice(grouped, [0, 0, 0, 0, 0, 0], [n, outH, 1, outW, 1, c]), [n, outH, outW, c]);
}

/** Pads enough for the strided windows: `pad` before, and after up to what the last window reads. */
function padFor(x: Tensor, kernel: number, stride: number, pad: number): { xp: Tensor; outH: number; outW: number } {
  const [, h, w] = x.shape as [number, number, number, number];
  const outH = convOut(h, kernel, stride, pad);
  const outW = convOut(w, kernel, stride, pad);
  const needH = (kernel - 1) + outH * stride;
  const needW = (kernel - 1) + outW * stride;
  const xp = tf.pad(x, [
    [0, 0],
    [pad, Math.max(0, needH - h - pad)],
    [pad, Math.max(0, needW - w - pad)],
    [0, 0],
  ]);
  return { xp, outH, outW };
}

/** im2col: every kernel window of x as one row, [n·outH·outW, k·k·c] (row order dy, dx, channel). */
function im2col(x: Tensor, kernel: number, stride: number, pad: number): { columns: Tensor; outH: number; outW: number } {
  const [n, , , c] = x.shape as [number, number, number, number];
  const { xp, outH, outW } = padFor(x, kernel, stride, pad);
  const taps: Tensor[] = [];
  for (let dy = 0; dy < kernel; dy++) for (let dx = 0; dx < kernel; dx++) taps.push(strided(xp, dy, dx, outH, outW, stride));
  const stacked = taps.length === 1 ? (taps[0] as Tensor) : tf.concat(taps, 3);
  return { columns: tf.reshape(stacked, [n * outH * outW, kernel * kernel * c]), outH, outW };
}

/** Convolution as an explicit im2col product (differentiable on every backend; slow). */
export function conv2dIm2col(x: Tensor, w: Tensor, b: Tensor | undefined, kernel: number, stride: number, pad: number): Tensor {
  const n = x.shape[0] as number;
  const { columns, outH, outW } = im2col(x, kernel, stride, pad);
  return tf.reshape(linear(columns, w, b), [n, outH, outW, w.shape[1] as number]);
}

/**
 * dL/dw of a convolution, [k·k·c, cout]: dw[dy,dx,c,o] = Σ_{n,i,j} xpad[n, dy+s·i, dx+s·j, c] · g[n,i,j,o],
 * which is itself a convolution: channels as the batch, the batch as channels, the output
 * gradient as the filter, dilated by the stride. One call of the backend's Conv2D kernel.
 */
export function filterGradient(x: Tensor, g: Tensor, kernel: number, stride: number, pad: number): Tensor {
  const [, , , c] = x.shape as [number, number, number, number];
  const cout = g.shape[3] as number;
  const { xp } = padFor(x, kernel, stride, pad);
  const xT = tf.transpose(xp, [3, 1, 2, 0]) as tf.Tensor4D; // [c, Hp, Wp, n]
  const gT = tf.transpose(g, [1, 2, 0, 3]) as tf.Tensor4D; // [outH, outW, n, cout]
  const full = tf.conv2d(xT, gT, 1, 'valid', 'NHWC', stride); // [c, ≥k, ≥k, cout]
  const taps = tf.slice(full, [0, 0, 0, 0], [c, kernel, kernel, cout]);
  return tf.reshape(tf.transpose(taps, [1, 2, 0, 3]), [kernel * kernel * c, cout]);
}

/**
 * dL/dx of a convolution whose windows do not overlap (kernel = stride, no padding: the attention's
 * spatial reduction): each input pixel lies in one window, so dx is dy · wᵀ ([n·oh·ow, k·k·cin], one
 * XNNPACK product) put back depth to space by one transpose; rows and columns past the last window
 * take none. The WebAssembly backend's Conv2DBackpropInput (a scalar loop) took 12–14 ms for each of
 * B0's three at 256×256 batch 2, this 1.3–1.9 ms, the same values.
 */
function windowsInputGradient(dy: Tensor, w: Tensor, xShape: number[], kernel: number): Tensor {
  const [n, h, wd, cin] = xShape as [number, number, number, number];
  const [, oh, ow, cout] = dy.shape as [number, number, number, number];
  const columns = tf.matMul(tf.reshape(dy, [n * oh * ow, cout]), tf.transpose(w));
  const dx = tf.reshape(tf.transpose(tf.reshape(columns, [n, oh, ow, kernel, kernel, cin]), [0, 1, 3, 2, 4, 5]), [n, oh * kernel, ow * kernel, cin]);
  return oh * kernel === h && ow * kernel === wd ? dx : tf.pad(dx, [[0, 0], [0, h - oh * kernel], [0, wd - ow * kernel], [0, 0]]);
}

/**
 * col2im, the adjoint of im2col: each row (n, i, j) of `columns` [n·oh·ow, k·k·cin] (row order dy,
 * dx, channel, as the weights) added back to the input pixels its window read,
 * dx[n, s·i + dy − pad, s·j + dx − pad, c] += columns[(n, i, j), (dy, dx, c)]; taps that read the
 * padding are dropped. Returns dx [n, h, w, cin] as a flat NHWC array.
 */
export function col2im(columns: Float32Array, n: number, oh: number, ow: number, kernel: number, cin: number, stride: number, pad: number, h: number, w: number): Float32Array {
  const dx = new Float32Array(n * h * w * cin);
  const row = kernel * kernel * cin;
  for (let img = 0; img < n; img++) {
    for (let i = 0; i < oh; i++) {
      for (let j = 0; j < ow; j++) {
        const from = ((img * oh + i) * ow + j) * row;
        for (let ky = 0; ky < kernel; ky++) {
          const y = stride * i + ky - pad;
          if (y < 0 || y >= h) continue;
          for (let kx = 0; kx < kernel; kx++) {
            const x = stride * j + kx - pad;
            if (x < 0 || x >= w) continue;
            const src = from + (ky * kernel + kx) * cin;
            const dst = ((img * h + y) * w + x) * cin;
            for (let c = 0; c < cin; c++) dx[dst + c] = (dx[dst + c] as number) + (columns[src + c] as number);
          }
        }
      }
    }
  }
  return dx;
}

/**
 * dL/dx of a convolution whose windows overlap (the patch embeddings' 3×3, stride 2): dy · wᵀ
 * ([n·oh·ow, k·k·cin], one XNNPACK product), summed back onto the input by `col2im` on the host.
 * The WebAssembly backend's Conv2DBackpropInput is a scalar loop: 17–19 ms for each of B0's three
 * at 256×256 on one image, this 3–4 ms, the same values to float rounding.
 */
function overlappingInputGradient(dy: Tensor, w: Tensor, xShape: number[], kernel: number, stride: number, pad: number): Tensor {
  const [n, h, wd, cin] = xShape as [number, number, number, number];
  const [, oh, ow, cout] = dy.shape as [number, number, number, number];
  const columns = tf.matMul(tf.reshape(dy, [n * oh * ow, cout]), tf.transpose(w));
  const values = columns.dataSync() as Float32Array;
  columns.dispose();
  return tf.tensor4d(col2im(values, n, oh, ow, kernel, cin, stride, pad, h, wd), [n, h, wd, cin]);
}

/**
 * Convolution NHWC with weights [k·k·cin, cout] (row order: dy, dx, channel). The forward pass uses
 * the backend's own Conv2D kernel; the filter gradient, whose kernel the WebAssembly backend lacks,
 * is computed by `filterGradient`; the input gradient is a product with the weights, put back depth
 * to space where the windows do not overlap (`windowsInputGradient`) and by col2im where they do
 * (`overlappingInputGradient`). `inputGradient` false (x is a constant, such as the images): dL/dx
 * is returned as zeros, not computed.
 */
export function conv2d(x: Tensor, w: Tensor, b: Tensor | undefined, kernel: number, stride: number, pad: number, inputGradient = true): Tensor {
  const c = x.shape[3] as number;
  const cout = w.shape[1] as number;
  const conv = tf.customGrad((...args: (Tensor | ((saved: Tensor[]) => void))[]) => {
    const [input, weights] = args as [tf.Tensor4D, Tensor];
    const save = args[2] as (saved: Tensor[]) => void;
    const filter = tf.reshape(weights, [kernel, kernel, c, cout]) as tf.Tensor4D;
    save([input, filter]);
    return {
      value: tf.conv2d(input, filter, stride, pad),
      gradFunc: (dy: Tensor, saved: Tensor[]) => {
        const [xs, f] = saved as [tf.Tensor4D, tf.Tensor4D];
        // The images take no gradient: their Conv2DBackpropInput (a scalar loop on wasm, 7 × 7 taps) is skipped.
        const dx = !inputGradient
          ? tf.zerosLike(xs)
          : kernel === stride && pad === 0
            ? windowsInputGradient(dy, tf.reshape(f, [kernel * kernel * c, cout]), xs.shape, kernel)
            : overlappingInputGradient(dy, tf.reshape(f, [kernel * kernel * c, cout]), xs.shape, kernel, stride, pad);
        return [dx, filterGradient(xs, dy, kernel, stride, pad)];
      },
    };
  });
  const y = conv(x, w);
  return b ? tf.add(y, b) : y;
}

/**
 * dL/dw of a depthwise 3×3 convolution (stride 1, padding 1), [9, c]: dw[dy,dx,c] =
 * Σ_{n,i,j} xpad[n, i+dy, j+dx, c] · g[n,i,j,c], which is itself one depthwise convolution: the
 * images side by side as channels ([1, H, W, n·c]), each channel's output gradient as its filter
 * ([H, W, n·c, 1]), padding 1, a 3×3 output, then summed over the images. One call of the
 * backend's DepthwiseConv2dNative kernel instead of nine shifted slices (the WebAssembly backend's
 * Slice copies its whole input on every call: 8× slower at 4 × 64×64×64).
 */
function depthwiseFilterGradient(x: tf.Tensor4D, g: tf.Tensor4D): Tensor {
  const [n, h, w, c] = x.shape;
  const images = tf.reshape(tf.transpose(x, [1, 2, 0, 3]), [1, h, w, n * c]) as tf.Tensor4D;
  const filters = tf.reshape(tf.transpose(g, [1, 2, 0, 3]), [h, w, n * c, 1]) as tf.Tensor4D;
  // Explicit padding: a number pads right, but TensorFlow.js then sizes the output by the filter's height alone.
  const taps = tf.depthwiseConv2d(images, filters, 1, [[0, 0], [1, 1], [1, 1], [0, 0]]);
  return tf.reshape(n === 1 ? taps : tf.sum(tf.reshape(taps, [3, 3, n, c]), 2), [9, c]);
}

/**
 * Depthwise 3×3 convolution, stride 1, zero padding 1; w [9, c] (row order dy, dx), b [c]. The
 * backend's DepthwiseConv2dNative kernel forward; gradients a backend without its gradient kernels
 * (WebAssembly) can run: the input gradient is the same kernel with the filter turned 180°, the
 * filter gradient one depthwise convolution of x by dy (depthwiseFilterGradient), the bias's
 * Σ dy by `columnSums`. Keeps only x and w for the backward pass.
 */
export function depthwiseConv3x3(x: Tensor, w: Tensor, b: Tensor): Tensor {
  return depthwiseOp(x, w, b);
}

const depthwiseOp = tf.customGrad((...args: (Tensor | ((saved: Tensor[]) => void))[]) => {
  const [x, w, b] = args as [tf.Tensor4D, Tensor, Tensor];
  (args[3] as (saved: Tensor[]) => void)([x, w]);
  const c = x.shape[3];
  return {
    value: tf.add(tf.depthwiseConv2d(x, tf.reshape(w, [3, 3, c, 1]) as tf.Tensor4D, 1, 'same'), b),
    gradFunc: (dy: Tensor, saved: Tensor[]) => {
      const [sx, sw] = saved as [tf.Tensor4D, Tensor];
      const [n, h, wd] = sx.shape;
      const dy4 = dy as tf.Tensor4D;
      const dx = tf.tidy(() => tf.depthwiseConv2d(dy4, tf.reverse(tf.reshape(sw, [3, 3, c, 1]), [0, 1]) as tf.Tensor4D, 1, 'same'));
      const dw = tf.tidy(() => depthwiseFilterGradient(sx, dy4));
      const db = tf.tidy(() => columnSums(tf.reshape(dy4, [n * h * wd, c])));
      return [dx, dw, db];
    },
  };
}) as (x: Tensor, w: Tensor, b: Tensor) => Tensor;

/** Bilinear weights from `from` to `to` samples (half-pixel centres): `per` taps for each output sample. */
export interface Taps {
  /** Taps per output sample. */
  per: number;
  index: Int32Array;
  weight: Float32Array;
}

/** The two taps of each output sample of a bilinear resize from `from` to `to` samples (half-pixel centres, as align_corners = false). */
export function bilinearTaps(from: number, to: number): Taps {
  const index = new Int32Array(2 * to);
  const weight = new Float32Array(2 * to);
  const scale = from / to;
  for (let i = 0; i < to; i++) {
    const src = Math.min(Math.max((i + 0.5) * scale - 0.5, 0), from - 1);
    const lo = Math.floor(src);
    const t = src - lo;
    index[2 * i] = lo;
    weight[2 * i] = 1 - t;
    index[2 * i + 1] = Math.min(lo + 1, from - 1);
    weight[2 * i + 1] = t;
  }
  return { per: 2, index, weight };
}

/**
 * Bilinear interpolation weights from `from` to `to` samples (half-pixel centres, as
 * align_corners = false): a [to, from] matrix whose rows sum to 1 (the taps of `bilinearTaps`).
 */
export function bilinearMatrix(from: number, to: number): Float32Array {
  const m = new Float32Array(to * from);
  const { index, weight } = bilinearTaps(from, to);
  for (let i = 0; i < to; i++) {
    for (let k = 2 * i; k < 2 * i + 2; k++) m[i * from + (index[k] as number)] = (m[i * from + (index[k] as number)] as number) + (weight[k] as number);
  }
  return m;
}

/** Bilinear resize of x [n, h, w, c] to [n, outH, outW, c] as two products with fixed matrices. */
export function resizeBilinear(x: Tensor, outH: number, outW: number): Tensor {
  const [n, h, w, c] = x.shape as [number, number, number, number];
  if (h === outH && w === outW) return x;
  const mh = tf.tensor2d(bilinearMatrix(h, outH), [outH, h]);
  const mw = tf.tensor2d(bilinearMatrix(w, outW), [outW, w]);
  // rows: [h, n·w·c] → [outH, n·w·c]
  const rows = tf.matMul(mh, tf.reshape(tf.transpose(x, [1, 0, 2, 3]), [h, n * w * c]));
  // columns: [w, n·outH·c] → [outW, n·outH·c]
  const byCol = tf.reshape(tf.transpose(tf.reshape(rows, [outH, n, w, c]), [2, 1, 0, 3]), [w, n * outH * c]);
  const cols = tf.matMul(mw, byCol);
  return tf.transpose(tf.reshape(cols, [outW, n, outH, c]), [1, 2, 0, 3]);
}

/** L2-normalise along the last axis. */
export function l2Normalize(x: Tensor, eps = 1e-12): Tensor {
  return tf.div(x, tf.sqrt(tf.maximum(tf.sum(tf.square(x), -1, true), eps)));
}
