/**
 * Picks the TensorFlow.js backend. `auto`: the native TensorFlow backend when
 * @tensorflow/tfjs-node-gpu or @tensorflow/tfjs-node is installed and loads (they are optional,
 * and their install script, which downloads libtensorflow, is denied by the root package.json's
 * allowScripts: packages/trainer/README.md says how to allow it), else WebAssembly. WebAssembly is
 * the pure backend chosen by measurement (npm run bench): on this project's 2-core machine one
 * training step of the tiny SegFormer is several times faster than on the JavaScript cpu
 * backend, and with the portable op table (model/kernels.ts: the filter gradient and the depthwise
 * convolution written with products) it has every kernel training needs. The op table is chosen
 * here, once: the backend's own convolution kernels where it has their gradients.
 */
import { tf } from '../tf.js';
import { useKernelsFor, type KernelTable } from '../model/kernels.js';

export type BackendChoice = 'auto' | 'tensorflow' | 'wasm' | 'cpu';

export class BackendError extends Error {
  override name = 'BackendError';
}

const NATIVE_PACKAGES = ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'];

async function loadNative(): Promise<string | null> {
  for (const pkg of NATIVE_PACKAGES) {
    try {
      await import(pkg);
      if (tf.findBackend('tensorflow')) return pkg;
    } catch {
      // not installed, or its native library is missing: try the next one
    }
  }
  return null;
}

export interface ChosenBackend {
  name: string;
  /** Why it was chosen, for the start-up line. */
  reason: string;
  /** The op table the training graph uses on it (model/kernels.ts): `native` or `portable`. */
  kernels: KernelTable['name'];
}

export async function selectBackend(choice: BackendChoice): Promise<ChosenBackend> {
  if (choice === 'tensorflow' || choice === 'auto') {
    const pkg = await loadNative();
    if (pkg && (await tf.setBackend('tensorflow'))) return { name: 'tensorflow', reason: `native TensorFlow through ${pkg}`, kernels: useKernelsFor('tensorflow').name };
    if (choice === 'tensorflow') {
      throw new BackendError('backend tensorflow asked for, but neither @tensorflow/tfjs-node-gpu nor @tensorflow/tfjs-node loads here (libtensorflow is not installed: packages/trainer/README.md, "Backend", says how); use --backend auto, wasm or cpu');
    }
  }
  const name = choice === 'cpu' ? 'cpu' : 'wasm';
  if (!(await tf.setBackend(name))) throw new BackendError(`TensorFlow.js backend ${name} failed to initialise`);
  await tf.ready();
  const reason = choice === 'auto' ? 'no native TensorFlow package loads; WebAssembly is the fastest pure backend here (see npm run bench)' : 'asked for';
  return { name, reason, kernels: useKernelsFor(name).name };
}
