/**
 * Identity, and Cast to the dtype a tensor already has, for the WebAssembly backend: both share
 * their input's memory. TensorFlow.js clones every tensor an op saves for its gradient
 * (Engine.saveTensorsForBackwardMode) through the Identity kernel, and many gradients cast their
 * float32 inputs to float32 (Div's, Square's); the cpu backend's kernels then only count one more
 * reference to the data, but tfjs-backend-wasm 4.x copies the whole tensor into new heap memory.
 * In a B0 256×256 training step on one image that was 583 copies (75–125 ms of about 1 s, and every
 * saved activation held twice while its forward scope lived) and 2 casts of [4096 × 512] (up to
 * 22 ms). These count a reference, as the backend's own Reshape does: no WebAssembly kernel writes
 * into an input, so data shared by reference is never changed. Installed once, with the portable
 * op table (kernels.ts useKernelsFor).
 */
import { tf } from '../tf.js';

interface Info {
  dataId: object;
  shape: number[];
  dtype: string;
}

/** What these kernels use of tfjs-backend-wasm's BackendWasm. */
interface RefCountingBackend {
  incRef(dataId: object): void;
}

type KernelFunc = (params: { inputs: Record<string, Info>; attrs: Record<string, unknown>; backend: unknown }) => Info;

/** A second reference to x's data (its shape copied: the engine owns each output's). */
function shared(backend: unknown, x: Info): Info {
  (backend as RefCountingBackend).incRef(x.dataId);
  return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
}

/** Re-registers `name` on wasm with `func` given the backend's own kernel; false where wasm has no such kernel. */
function replace(name: string, func: (original: KernelFunc) => KernelFunc): boolean {
  const kernel = tf.getKernel(name, 'wasm');
  if (!kernel) return false;
  const replaced = func(kernel.kernelFunc as unknown as KernelFunc);
  tf.unregisterKernel(name, 'wasm');
  tf.registerKernel({ ...kernel, kernelFunc: replaced as unknown as tf.KernelFunc });
  return true;
}

let installed = false;

/** Replaces the WebAssembly backend's Identity and Cast kernels (once; a no-op where they are not registered). */
export function installWasmSharedData(): void {
  if (installed || !tf.getKernel('Identity', 'wasm') || !tf.getKernel('Cast', 'wasm')) return;
  installed = true;
  // Strings live outside the heap: the backend's own kernels handle them.
  replace('Identity', (original) => (args) => ((args.inputs.x as Info).dtype === 'string' ? original(args) : shared(args.backend, args.inputs.x as Info)));
  replace('Cast', (original) => (args) => {
    const x = args.inputs.x as Info;
    return x.dtype !== 'string' && args.attrs.dtype === x.dtype ? shared(args.backend, x) : original(args);
  });
}
