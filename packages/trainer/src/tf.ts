/**
 * The one TensorFlow.js import of the trainer. `@tensorflow/tfjs` registers every gradient and the
 * pure-JavaScript cpu backend; the WebAssembly backend registers itself beside it. The native
 * backends (@tensorflow/tfjs-node, -gpu) are optional and loaded at run time by backend/select.ts.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';

// The cpu backend greets every Node.js process with advice to install tfjs-node; backend/select.ts
// prints the backend it chose instead.
tf.env().set('PROD', true);

export { tf };
export type Tensor = import('@tensorflow/tfjs').Tensor;
export type Variable = import('@tensorflow/tfjs').Variable;
export type Scalar = import('@tensorflow/tfjs').Scalar;
