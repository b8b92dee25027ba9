/**
 * The worker thread of a two-thread training step (parallel-step.ts): a replica of the model on its
 * own backend. Each message brings the current weights and one half of the batch; the reply is that
 * half's rescaled loss parts and its gradients, in the model's parameter order.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { selectBackend } from './backend/select.js';
import { SegFormer } from './model/segformer.js';
import { halfGradients, type HalfStep, type WorkerReply, type WorkerSetup } from './parallel-step.js';
import { tf } from './tf.js';

const port = parentPort;
if (!port) throw new Error('parallel-worker.ts runs only as a worker thread of parallel-step.ts');

const setup = workerData as WorkerSetup;
const reply = (message: WorkerReply, transfer: ArrayBuffer[] = []) => port.postMessage(message, transfer);

try {
  await selectBackend(setup.backend as 'wasm' | 'cpu');
  const model = new SegFormer(setup.config, setup.seed);
  model.recomputeActivations = setup.recomputeActivations;
  model.decoderInBands = setup.decoderInBands;
  model.decoderBandElements = setup.decoderBandElements;
  const labelEmb = tf.tensor2d(setup.labelEmb.data, setup.labelEmb.shape);
  const params = model.params.entries();
  port.on('message', ({ weights, half }: { weights: Float32Array[]; half: HalfStep }) => {
    try {
      params.forEach(([, v], i) => tf.tidy(() => v.assign(tf.tensor(weights[i] as Float32Array, v.shape))));
      const result = halfGradients({ model, labelEmb, ldDropFraction: setup.ldDropFraction, resolution: setup.resolution, boxDim: setup.boxDim }, half);
      const grads = params.map(([name]) => {
        const g = result.grads.get(name);
        if (!g) return null;
        const values = new Float32Array(g.dataSync() as Float32Array);
        g.dispose();
        return values;
      });
      reply({ parts: result.parts, grads }, grads.flatMap((g) => (g ? [g.buffer as ArrayBuffer] : [])));
    } catch (err) {
      reply({ error: (err as Error).message });
    }
  });
  reply({ ready: true });
} catch (err) {
  reply({ error: (err as Error).message });
}
