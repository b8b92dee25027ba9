import { parentPort } from 'node:worker_threads';
import { inspectInstances, inspectSample, type InspectTask, type InstanceTask } from './inspect.js';

// A worker thread of the inspect pool: receives {id, kind, task}, answers {id, result}.
parentPort?.on('message', (message: { id: number } & ({ kind: 'dense'; task: InspectTask } | { kind: 'instances'; task: InstanceTask })) => {
  const work = message.kind === 'instances' ? inspectInstances(message.task) : inspectSample(message.task);
  work.then(
    (result) => parentPort?.postMessage({ id: message.id, result }),
    (err: unknown) => parentPort?.postMessage({ id: message.id, result: { ok: false, which: 'mask', reason: String(err) } }),
  );
});
