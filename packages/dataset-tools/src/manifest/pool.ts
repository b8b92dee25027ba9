import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { inspectInstances, inspectSample, type InspectResult, type InspectTask, type InstanceCheck, type InstanceTask } from './inspect.js';

/** The compiled worker script (tests run the sources, so they use the built one). */
function workerFile(): string {
  const here = fileURLToPath(import.meta.url);
  const sibling = here.replace(/pool\.(ts|js)$/, 'mask-worker.js');
  if (existsSync(sibling)) return sibling;
  return here.replace(/[\\/]src[\\/]manifest[\\/]pool\.ts$/, '/dist/manifest/mask-worker.js');
}

/** Runs inspect tasks on worker threads (or inline with 0 workers), least-busy worker first. */
export class InspectPool {
  private readonly workers: { worker: Worker; busy: number }[] = [];
  private readonly pending = new Map<number, (r: never) => void>();
  private nextId = 0;

  constructor(size: number) {
    for (let i = 0; i < size; i++) {
      // A small young generation: masks are decoded into short-lived buffers, and a worker left to
      // grow its heap freely holds tens of MB more at 100k images than at 10k (RSS flat with size).
      const worker = new Worker(workerFile(), { resourceLimits: { maxYoungGenerationSizeMb: 4 } });
      worker.on('message', (m: { id: number; result: never }) => {
        const slot = this.workers.find((w) => w.worker === worker);
        if (slot) slot.busy -= 1;
        this.pending.get(m.id)?.(m.result);
        this.pending.delete(m.id);
      });
      worker.on('error', (err) => {
        // Both result kinds have this failure shape.
        for (const resolve of this.pending.values()) resolve({ ok: false, which: 'mask', reason: `worker failed: ${err.message}` } as never);
        this.pending.clear();
      });
      this.workers.push({ worker, busy: 0 });
    }
  }

  /** A dense mask: size check and histogram. */
  run(task: InspectTask): Promise<InspectResult> {
    if (this.workers.length === 0) return inspectSample(task);
    return this.post<InspectResult>({ kind: 'dense', task });
  }

  /** An instance-mask image: its masks read, scaled and counted. */
  runInstances(task: InstanceTask): Promise<InstanceCheck> {
    if (this.workers.length === 0) return inspectInstances(task);
    return this.post<InstanceCheck>({ kind: 'instances', task });
  }

  private post<R>(message: { kind: 'dense'; task: InspectTask } | { kind: 'instances'; task: InstanceTask }): Promise<R> {
    const slot = this.workers.reduce((a, b) => (b.busy < a.busy ? b : a));
    slot.busy += 1;
    const id = this.nextId++;
    return new Promise<R>((resolve) => {
      this.pending.set(id, resolve as (r: never) => void);
      slot.worker.postMessage({ id, ...message });
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.worker.terminate()));
  }
}
