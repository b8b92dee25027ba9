/**
 * The op table of the training graph: the convolution, the depthwise 3×3 convolution and the
 * bilinear resize, chosen once per backend (backend/select.ts calls useKernelsFor).
 *
 * - `native`: the backend's own Conv2D and DepthwiseConv2dNative kernels, their gradients its own
 *   (Conv2DBackpropInput/Filter, DepthwiseConv2dNativeBackpropInput/Filter). The cpu and tensorflow
 *   (tfjs-node, tfjs-node-gpu) backends have them all.
 * - `portable`: the work-arounds for a backend that lacks those gradient kernels (WebAssembly):
 *   the convolution's filter gradient computed by `filterGradient` (ops.ts conv2d), the depthwise
 *   convolution's gradients by ops.ts depthwiseConv3x3 (the forward depthwise kernel again for both
 *   the input and the filter gradient; only the bias gradient is a sum).
 *
 * The resize is the same in both: the backend's ResizeBilinear kernel forward, and as gradient the
 * transposed interpolation matrices. No backend's ResizeBilinearGrad kernel honours half-pixel
 * centres (TensorFlow.js passes it align_corners only), so its gradient would be wrong here.
 */
import { tf, type Tensor } from '../tf.js';
import { bilinearMatrix, conv2d as conv2dPortable, depthwiseConv3x3 as depthwiseConv3x3Portable } from './ops.js';
import { installWasmSharedData } from './wasm-shared-data.js';
import { installWasmSlice } from './wasm-slice.js';

export interface KernelTable {
  /** `native` or `portable`, for the start-up line and the bench. */
  readonly name: 'native' | 'portable';
  /**
   * Convolution NHWC, weights [k·k·cin, cout] (row order dy, dx, channel), symmetric zero padding `pad`.
   * `inputGradient` false where x is a constant (the images): the portable table then skips dL/dx
   * (a backend's own gradient skips it anyway: TensorFlow.js prunes gradients nothing needs).
   */
  conv2d(x: Tensor, w: Tensor, b: Tensor | undefined, kernel: number, stride: number, pad: number, inputGradient?: boolean): Tensor;
  /** Depthwise 3×3 convolution, stride 1, zero padding 1; w [9, c] (row order dy, dx), b [c]. */
  depthwiseConv3x3(x: Tensor, w: Tensor, b: Tensor): Tensor;
  /** Bilinear resize of x [n, h, w, c] to [n, outH, outW, c] (half-pixel centres, as align_corners = false). */
  resizeBilinear(x: Tensor, outH: number, outW: number): Tensor;
}

/** A row-major [rows, cols] matrix transposed to [cols, rows]. */
function transposed(m: Float32Array, rows: number, cols: number): Float32Array {
  const t = new Float32Array(m.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = m[r * cols + c] as number;
  return t;
}

/**
 * Bilinear resize (half-pixel centres): the backend's ResizeBilinear kernel forward; the gradient
 * is the adjoint of the interpolation, two products with the transposed [out, in] matrices.
 */
export function resizeBilinearKernel(x: Tensor, outH: number, outW: number): Tensor {
  const [n, h, w, c] = x.shape as [number, number, number, number];
  if (h === outH && w === outW) return x;
  const resize = tf.customGrad((...args: (Tensor | ((saved: Tensor[]) => void))[]) => {
    const input = args[0] as tf.Tensor4D;
    return {
      value: tf.image.resizeBilinear(input, [outH, outW], false, true),
      gradFunc: (dy: Tensor) => {
        const mhT = tf.tensor2d(transposed(bilinearMatrix(h, outH), outH, h), [h, outH]);
        const mwT = tf.tensor2d(transposed(bilinearMatrix(w, outW), outW, w), [w, outW]);
        // rows: [outH, n·outW·c] → [h, n·outW·c]
        const rows = tf.matMul(mhT, tf.reshape(tf.transpose(dy, [1, 0, 2, 3]), [outH, n * outW * c]));
        // columns: [outW, n·h·c] → [w, n·h·c]
        const byCol = tf.reshape(tf.transpose(tf.reshape(rows, [h, n, outW, c]), [2, 1, 0, 3]), [outW, n * h * c]);
        const cols = tf.matMul(mwT, byCol);
        return tf.transpose(tf.reshape(cols, [w, n, h, c]), [1, 2, 0, 3]);
      },
    };
  });
  return resize(x);
}

function conv2dNative(x: Tensor, w: Tensor, b: Tensor | undefined, kernel: number, stride: number, pad: number): Tensor {
  const c = x.shape[3] as number;
  const filter = tf.reshape(w, [kernel, kernel, c, w.shape[1] as number]) as tf.Tensor4D;
  const y = tf.conv2d(x as tf.Tensor4D, filter, stride, pad);
  return b ? tf.add(y, b) : y;
}

function depthwiseNative(x: Tensor, w: Tensor, b: Tensor): Tensor {
  const c = x.shape[3] as number;
  const filter = tf.reshape(w, [3, 3, c, 1]) as tf.Tensor4D;
  return tf.add(tf.depthwiseConv2d(x as tf.Tensor4D, filter, 1, 'same'), b);
}

export const NATIVE_KERNELS: KernelTable = {
  name: 'native',
  conv2d: conv2dNative,
  depthwiseConv3x3: depthwiseNative,
  resizeBilinear: resizeBilinearKernel,
};

export const PORTABLE_KERNELS: KernelTable = {
  name: 'portable',
  conv2d: conv2dPortable,
  depthwiseConv3x3: depthwiseConv3x3Portable,
  resizeBilinear: resizeBilinearKernel,
};

/** The gradient kernels the native table needs from a backend. */
export const NATIVE_GRADIENT_KERNELS = ['Conv2DBackpropFilter', 'Conv2DBackpropInput', 'DepthwiseConv2dNativeBackpropFilter', 'DepthwiseConv2dNativeBackpropInput'];

/** The table for a backend: native where it registers every gradient kernel the native table needs. */
export function kernelsFor(backend: string): KernelTable {
  return NATIVE_GRADIENT_KERNELS.every((k) => tf.getKernel(k, backend) !== undefined) ? NATIVE_KERNELS : PORTABLE_KERNELS;
}

let current: KernelTable = PORTABLE_KERNELS;

/** The table in use (portable until a backend is selected: it runs on every backend). */
export function kernels(): KernelTable {
  return current;
}

/** Sets the table in use; returns the previous one. */
export function useKernels(table: KernelTable): KernelTable {
  const previous = current;
  current = table;
  return previous;
}

/**
 * Sets the table for the backend now active (backend/select.ts, once the backend is chosen); on wasm
 * also its in-place Slice and SplitV (wasm-slice.ts) and its Identity and same-dtype Cast that share memory (wasm-shared-data.ts).
 */
export function useKernelsFor(backend: string): KernelTable {
  if (backend === 'wasm') {
    installWasmSlice();
    installWasmSharedData();
  }
  const table = kernelsFor(backend);
  useKernels(table);
  return table;
}
