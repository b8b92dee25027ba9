/**
 * Slice and SplitV for the WebAssembly backend that read their input in place. The backend's own
 * kernels (tfjs-backend-wasm 4.x) first copy the whole input out of the heap (`readSync`) on
 * every call, then copy the slice out of that copy: splitting the loss's [16384 × 512] pixel
 * embeddings into four chunks took 2.2 s on a loaded machine. These copy only the slice, row by
 * row, from a view of the heap; the values are the same (a copy). Installed once, with the
 * portable op table (kernels.ts useKernelsFor).
 */
import { tf } from '../tf.js';

interface Info {
  dataId: object;
  shape: number[];
  dtype: string;
}

/** What these kernels use of tfjs-backend-wasm's BackendWasm. */
interface WasmHeapBackend {
  makeOutput(shape: number[], dtype: string): Info;
  typedArrayFromHeap(info: Info): Float32Array | Int32Array | Uint8Array;
}

type KernelFunc = (params: { inputs: Record<string, Info>; attrs: Record<string, unknown>; backend: unknown }) => Info | Info[];

/** Copies x[begin : begin + size] into a new output, straight from the heap. */
function sliceInPlace(backend: WasmHeapBackend, x: Info, begin: number[], size: number[]): Info {
  const out = backend.makeOutput(size, x.dtype);
  // Views taken after makeOutput: growing the heap detaches any view taken before.
  const outVals = backend.typedArrayFromHeap(out);
  const xVals = backend.typedArrayFromHeap(x);
  const rank = x.shape.length;
  const strides = new Array<number>(rank).fill(1);
  for (let d = rank - 2; d >= 0; d--) strides[d] = (strides[d + 1] as number) * (x.shape[d + 1] as number);
  // The innermost run that is contiguous in both: trailing dims taken whole, plus the one before.
  let inner = rank - 1;
  while (inner > 0 && size[inner] === x.shape[inner] && begin[inner] === 0) inner--;
  const run = (size[inner] as number) * (strides[inner] as number);
  const outer = size.slice(0, inner);
  const count = outer.reduce((a, b) => a * b, 1);
  const index = new Array<number>(inner).fill(0);
  let outOffset = 0;
  for (let r = 0; r < count; r++) {
    let offset = (begin[inner] as number) * (strides[inner] as number);
    for (let d = 0; d < inner; d++) offset += ((begin[d] as number) + (index[d] as number)) * (strides[d] as number);
    outVals.set(xVals.subarray(offset, offset + run), outOffset);
    outOffset += run;
    for (let d = inner - 1; d >= 0; d--) {
      index[d] = (index[d] as number) + 1;
      if ((index[d] as number) < (outer[d] as number)) break;
      index[d] = 0;
    }
  }
  return out;
}

let installed = false;

/** Replaces the WebAssembly backend's Slice and SplitV kernels (once; a no-op where it is not registered). */
export function installWasmSlice(): void {
  if (installed) return;
  const slice = tf.getKernel('Slice', 'wasm');
  const splitV = tf.getKernel('SplitV', 'wasm');
  if (!slice || !splitV) return;
  installed = true;
  const originalSlice = slice.kernelFunc as unknown as KernelFunc;
  const originalSplitV = splitV.kernelFunc as unknown as KernelFunc;
  const numeric = (x: Info) => x.dtype === 'float32' || x.dtype === 'int32' || x.dtype === 'bool';
  const sliceFunc: KernelFunc = (args) => {
    const x = args.inputs.x as Info;
    const [begin, size] = tf.slice_util.parseSliceParams(x as unknown as tf.TensorInfo, args.attrs.begin as number[], args.attrs.size as number[]) as [number[], number[]];
    if (!numeric(x) || size.some((s) => s === 0)) return originalSlice(args);
    return sliceInPlace(args.backend as WasmHeapBackend, x, begin, size);
  };
  const splitVFunc: KernelFunc = (args) => {
    const x = args.inputs.x as Info;
    const axis = tf.util.parseAxisParam(args.attrs.axis as number, x.shape)[0] as number;
    const sizes = tf.backend_util.prepareSplitSize(x as unknown as tf.Tensor, args.attrs.numOrSizeSplits as number | number[], axis);
    if (!numeric(x) || sizes.some((s) => s === 0)) return originalSplitV(args);
    const begin = new Array<number>(x.shape.length).fill(0);
    return sizes.map((s) => {
      const size = [...x.shape];
      size[axis] = s;
      const out = sliceInPlace(args.backend as WasmHeapBackend, x, [...begin], size);
      begin[axis] = (begin[axis] as number) + s;
      return out;
    });
  };
  tf.unregisterKernel('Slice', 'wasm');
  tf.registerKernel({ ...slice, kernelFunc: sliceFunc as unknown as tf.KernelFunc });
  tf.unregisterKernel('SplitV', 'wasm');
  tf.registerKernel({ ...splitV, kernelFunc: splitVFunc as unknown as tf.KernelFunc });
}
