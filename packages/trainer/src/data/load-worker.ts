/** Loader worker thread: loads samples and sends the pixel buffers back without copying. */
import { parentPort } from 'node:worker_threads';
import { loadSample, type LoadTask } from './load-sample.js';

parentPort?.on('message', (message: { id: number; task: LoadTask }) => {
  void loadSample(message.task).then(
    (result) => {
      const transfer = result.ok ? [result.pixels.buffer, result.target.buffer] : [];
      parentPort?.postMessage({ id: message.id, result }, transfer as ArrayBuffer[]);
    },
    (err: unknown) => {
      const reason = `loader failed: ${(err as Error)?.message ?? String(err)}`;
      parentPort?.postMessage({ id: message.id, result: { ok: false, imageId: message.task.imageId, dataset: message.task.dataset, file: message.task.image, reason } });
    },
  );
});
