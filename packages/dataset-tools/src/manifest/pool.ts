import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { inspectSample, type InspectResult, type InspectTask } from './inspect.js';

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
  private readonly pending = new Map<number, (r: InspectResult) => void>();
  private nextId = 0;

  constructor(size: number) {
    for (let i = 0; i < size; i++) {
      const worker = new Worker(workerFile());
      worker.on('message', (m: { id: number; result: InspectResult }) => {
        const slot = this.workers.find((w) => w.worker === worker);
        if (slot) slot.busy -= 1;
        this.pending.get(m.id)?.(m.result);
        this.pending.delete(m.id);
      });
      worker.on('error', (err) => {
        for (const resolve of this.pending.values()) resolve({ ok: false, which: 'mask', reason: `worker failed: ${err.message}` });
        this.pending.clear();
      });
      this.workers.push({ worker, busy: 0 });
    }
  }

  run(task: InspectTask): Promise<InspectResult> {
    if (this.workers.length === 0) return inspectSample(task);
    const slot = this.workers.reduce((a, b) => (b.busy < a.busy ? b : a));
    slot.busy += 1;
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      slot.worker.postMessage({ id, task });
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.worker.terminate()));
  }
}
