/**
 * Identity for the WebAssembly backend that shares its input's memory. TensorFlow.js clones every
 * tensor an op saves for its gradient (Engine.saveTensorsForBackwardMode) through the Identity
 * kernel; the cpu backend's Identity only counts one more reference to the data, but
 * tfjs-backend-wasm 4.x copies the whole tensor into new heap memory. In a training step that was
 * 583 copies (75–125 ms of a B0 256×256 half step of about 1 s), and every saved activation held
 * twice while its forward scope lived. This one counts a reference, as the backend's own Reshape
 * does: no WebAssembly kernel writes into an input, so data shared by reference is never changed.
 * Installed once, with the portable op table (kernels.ts useKernelsFor).
 */
import { tf } from '../tf.js';

interface Info {
  dataId: object;
  shape: number[];
  dtype: string;
}

/** What this kernel uses of tfjs-backend-wasm's BackendWasm. */
interface RefCountingBackend {
  incRef(dataId: object): void;
}

type KernelFunc = (params: { inputs: Record<string, Info>; attrs: Record<string, unknown>; backend: unknown }) => Info;

let installed = false;

/** Replaces the WebAssembly backend's Identity kernel (once; a no-op where it is not registered). */
export function installWasmIdentity(): void {
  if (installed) return;
  const identity = tf.getKernel('Identity', 'wasm');
  if (!identity) return;
  installed = true;
  const original = identity.kernelFunc as unknown as KernelFunc;
  const shared: KernelFunc = (args) => {
    const x = args.inputs.x as Info;
    // Strings live outside the heap (the backend's own kernel handles them).
    if (x.dtype === 'string') return original(args);
    (args.backend as RefCountingBackend).incRef(x.dataId);
    return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
  };
  tf.unregisterKernel('Identity', 'wasm');
  tf.registerKernel({ ...identity, kernelFunc: shared as unknown as tf.KernelFunc });
}
