import { parentPort } from 'node:worker_threads';
import { inspectSample, type InspectTask } from './inspect.js';

// A worker thread of the inspect pool: receives {id, task}, answers {id, result}.
parentPort?.on('message', (message: { id: number; task: InspectTask }) => {
  inspectSample(message.task).then(
    (result) => parentPort?.postMessage({ id: message.id, result }),
    (err: unknown) => parentPort?.postMessage({ id: message.id, result: { ok: false, which: 'mask', reason: String(err) } }),
  );
});
