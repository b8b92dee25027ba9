/**
 * A training step over two threads (model.threads = 2): data parallelism for the WebAssembly
 * backend, which runs every kernel on one thread in Node.js (its threaded build does not load
 * there: tfjs issue 3830). The batch is split by images: this thread computes the gradients of the
 * first ⌈n/2⌉ images while a worker thread (parallel-worker.ts: its own backend and a replica of
 * the model, sent the weights before each step) computes those of the rest. Each loss part is a sum
 * divided by a count over its whole slice of the batch (valid pixels for L_HD and L_LD, boxes for
 * L_WD); each half's part is rescaled from its own count to the batch's, so the two halves'
 * gradients add up to the one-thread step's (to float rounding), and the optimizer applies them
 * once, here. Measured at B0 256×256 batch 2 on 2 cores (train-bench): 1.55 s/step on one thread,
 * 0.97 s/step on two; CPU time per step about 10% more than one thread's (the weights and gradients
 * copied between the threads, two half-size steps), so where other processes keep both cores busy
 * it gains nothing. Peak RSS about 200 MiB more (the replica and its half of the activations).
 */
import { Worker } from 'node:worker_threads';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { LossKind } from '@sentseg/dataset-tools';
import { TrainerError } from './errors.js';
import { LOSS_NAMES, type LossParts, type LossSlices } from './losses/table.js';
import type { SegFormer, SegFormerConfig } from './model/segformer.js';
import { variableGrads } from './model/backprop.js';
import { stepInputs, stepLosses, type StepInputs, type StepLosses, type TrainStep, type TrainStepContext } from './train-step.js';
import { tf, type Tensor } from './tf.js';

/** Each loss part's factor for one half: its own count over the batch's. */
export type PartScales = Partial<Record<LossKind, number>>;

/** One thread's share of a step: its images' inputs and the factors of its loss parts. */
export interface HalfStep {
  inputs: StepInputs;
  scales: PartScales;
}

/** What a half computes: its (rescaled) loss parts and the gradient of their sum, by parameter (none for a weight its losses do not reach, such as L_WD's without boxes). */
export interface HalfResult {
  parts: Record<LossKind, number | null>;
  grads: Map<string, Tensor>;
}

/** What the worker needs to build its replica (the weights come with each step). */
export interface WorkerSetup {
  backend: string;
  config: SegFormerConfig;
  seed: number;
  recomputeActivations: boolean;
  decoderInBands: boolean;
  decoderBandElements: number;
  labelEmb: { data: Float32Array; shape: [number, number] };
  boxDim: number | null;
  resolution: TrainStepContext['resolution'];
  ldDropFraction: number;
}

/** Images i with from ≤ i < to of a step's inputs, each loss slice cut to them (boxes and CLIP rows with them). */
function imagesOf(inputs: StepInputs, from: number, to: number): StepInputs {
  const { crop, targetSide } = inputs;
  const per = crop * crop * 3;
  const side = targetSide * targetSide;
  const slices: LossSlices = {};
  const clipRows: Float32Array[] = [];
  let row = 0;
  for (const name of LOSS_NAMES) {
    const s = inputs.slices[name];
    if (!s) continue;
    const start = Math.max(s.start, from);
    const end = Math.min(s.start + s.count, to);
    const boxes = s.boxes.filter((b) => s.start + b.image >= start && s.start + b.image < end);
    // CLIP rows follow the boxes in order (only L_WD's slice has boxes).
    s.boxes.forEach((b, i) => {
      if (s.start + b.image >= start && s.start + b.image < end) clipRows.push(inputs.clipRows[row + i] as Float32Array);
    });
    row += s.boxes.length;
    if (end <= start) continue;
    slices[name] = { start: start - from, count: end - start, boxes: boxes.map((b) => ({ ...b, image: s.start + b.image - start })), clipBoxEmb: null };
  }
  return {
    n: to - from,
    crop,
    pixels: inputs.pixels.slice(from * per, to * per),
    targets: inputs.targets.slice(from * side, to * side),
    targetSide,
    slices,
    clipRows,
  };
}

/** The count a loss part of a slice is divided by: valid pixels (0 ≤ target < labels, at least 1) or boxes. */
function partCount(name: LossKind, inputs: StepInputs, numLabels: number): number {
  const s = inputs.slices[name];
  if (!s) return 0;
  if (name === 'wd') return s.boxes.length;
  const side = inputs.targetSide * inputs.targetSide;
  let valid = 0;
  for (let i = s.start * side; i < (s.start + s.count) * side; i++) {
    const t = inputs.targets[i] as number;
    if (t >= 0 && t < numLabels) valid++;
  }
  return Math.max(valid, 1);
}

/** A step's inputs split in two halves of images (the first ⌈n/2⌉, the rest), each with its parts' factors. */
export function splitStep(inputs: StepInputs, numLabels: number): [HalfStep, HalfStep] {
  const middle = Math.ceil(inputs.n / 2);
  const halves = [imagesOf(inputs, 0, middle), imagesOf(inputs, middle, inputs.n)];
  return halves.map((half) => {
    const scales: PartScales = {};
    for (const name of LOSS_NAMES) {
      const whole = partCount(name, inputs, numLabels);
      if (half.slices[name] && whole > 0) scales[name] = partCount(name, half, numLabels) / whole;
    }
    return { inputs: half, scales };
  }) as [HalfStep, HalfStep];
}

/** The context a half is computed in (this thread's step context, or the worker's replica). */
export type HalfContext = Pick<TrainStepContext, 'model' | 'labelEmb' | 'ldDropFraction' | 'resolution'> & { boxDim: number | null };

/** Whether any loss part reaches a half: an L_HD or L_LD image, or an L_WD box with its CLIP row (L_WD has no part without a box). */
function hasLoss(context: HalfContext, inputs: StepInputs): boolean {
  const { slices } = inputs;
  return (slices.hd?.count ?? 0) > 0 || (slices.ld?.count ?? 0) > 0 || ((slices.wd?.boxes.length ?? 0) > 0 && context.boxDim !== null && inputs.clipRows.length > 0);
}

/**
 * Loss parts and gradients of one half, each part rescaled by its factor; none of either for a half
 * no loss reaches (L_WD images whose boxes the crop cut), whose gradients the other half's are then alone.
 */
export function halfGradients(context: HalfContext, half: HalfStep): HalfResult {
  const { model, labelEmb } = context;
  const { n, crop, pixels, targets, targetSide, slices, clipRows } = half.inputs;
  const params = model.params.entries();
  const parts: LossParts = {};
  if (!hasLoss(context, half.inputs)) return { parts: { hd: null, ld: null, wd: null }, grads: new Map() };
  const { value, grads } = tf.tidy(() => {
    const x = tf.tensor4d(pixels, [n, crop, crop, 3]);
    const t = tf.tensor3d(targets, [n, targetSide, targetSide], 'int32');
    if (slices.wd && context.boxDim && clipRows.length > 0) slices.wd.clipBoxEmb = tf.tensor2d(Float32Array.from(clipRows.flatMap((r) => Array.from(r))), [clipRows.length, context.boxDim]);
    const wdConv = context.boxDim ? { w: model.params.get('wd/w'), b: model.params.get('wd/b') } : null;
    return variableGrads(() => {
      const computed = stepLosses(model, x, t, slices, context.resolution === 'label', { labelEmb, logTau: model.logTau, ldDropFraction: context.ldDropFraction, wdConv });
      let total: Tensor = tf.scalar(0);
      for (const [name, part] of Object.entries(computed) as [LossKind, Tensor][]) {
        const scaled = tf.mul(part, half.scales[name] ?? 1);
        parts[name] = tf.keep(scaled);
        total = tf.add(total, scaled);
      }
      return total as tf.Scalar;
    }, params.map(([, v]) => v));
  });
  const values: Record<LossKind, number | null> = { hd: null, ld: null, wd: null };
  for (const name of LOSS_NAMES) values[name] = parts[name] ? ((parts[name] as Tensor).dataSync()[0] as number) : null;
  tf.dispose([value, ...Object.values(parts)]);
  const byName = new Map<string, Tensor>();
  for (const [name, v] of params) if (grads[v.name]) byName.set(name, grads[v.name] as Tensor);
  return { parts: values, grads: byName };
}

function workerFile(): string {
  const here = fileURLToPath(import.meta.url);
  const sibling = here.replace(/parallel-step\.(ts|js)$/, 'parallel-worker.js');
  if (existsSync(sibling)) return sibling;
  // Tests run the TypeScript sources; the worker runs the compiled file.
  return here.replace(/[\\/]src[\\/]parallel-step\.ts$/, '/dist/parallel-worker.js');
}

/** Messages of parallel-worker.ts. */
export type WorkerReply = { ready: true } | RemoteHalf | { error: string };

/** The worker's half: its parts and gradients in the model's parameter order (null: none for that weight). */
export interface RemoteHalf {
  parts: Record<LossKind, number | null>;
  grads: (Float32Array | null)[];
}

/** The worker thread that computes the second half of each step. */
export class GradientWorker {
  private readonly worker: Worker;
  private readonly ready: Promise<void>;
  private pending: { resolve: (r: WorkerReply) => void; reject: (e: Error) => void } | null = null;
  /** Why the worker is gone (it exited), or null while it runs. */
  private gone: string | null = null;

  constructor(setup: WorkerSetup) {
    this.worker = new Worker(workerFile(), { workerData: setup });
    let started: (r: WorkerReply) => void = () => {};
    const first = new Promise<WorkerReply>((resolve) => (started = resolve));
    this.worker.on('message', (reply: WorkerReply) => {
      const p = this.pending;
      this.pending = null;
      if (p) p.resolve(reply);
      else started(reply);
    });
    this.worker.on('error', (err) => {
      const p = this.pending;
      this.pending = null;
      if (p) p.reject(err);
      else started({ error: err.message });
    });
    // A worker that ends without an error (terminated, or its runtime exiting) would leave the step
    // waiting for its half for ever: the step fails instead, naming the exit code.
    this.worker.on('exit', (code) => {
      const p = this.pending;
      this.pending = null;
      const error = `it exited with code ${code} before answering`;
      this.gone = error;
      if (p) p.resolve({ error });
      else started({ error });
    });
    this.ready = first.then((r) => {
      if ('error' in r) throw new TrainerError(`model.threads: the worker thread failed to start (${r.error})`);
    });
  }

  /** Resolves once the worker has built its replica. */
  started(): Promise<void> {
    return this.ready;
  }

  /**
   * Posts the weights (in the model's parameter order) and a half at once (synchronously: the caller
   * then computes its own half without yielding); resolves with the worker's parts and gradients.
   */
  run(weights: Float32Array[], half: HalfStep): Promise<RemoteHalf> {
    const reply = new Promise<WorkerReply>((resolve, reject) => {
      if (this.gone !== null) return resolve({ error: this.gone });
      this.pending = { resolve, reject };
      this.worker.postMessage({ weights, half }, weights.map((w) => w.buffer as ArrayBuffer));
    });
    return reply.then((r) => {
      if ('error' in r) throw new TrainerError(`model.threads: the worker thread failed (${r.error})`);
      if ('ready' in r) throw new TrainerError('model.threads: the worker thread answered out of turn');
      return r;
    });
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }
}

/** The setup of a worker replicating `model` in `context`. */
export function workerSetup(backend: string, model: SegFormer, seed: number, context: TrainStepContext): WorkerSetup {
  const labelEmb = context.labelEmb;
  return {
    backend,
    config: model.config,
    seed,
    recomputeActivations: model.recomputeActivations,
    decoderInBands: model.decoderInBands,
    decoderBandElements: model.decoderBandElements,
    labelEmb: { data: labelEmb.dataSync() as Float32Array, shape: labelEmb.shape as [number, number] },
    boxDim: context.boxTargets?.dim ?? null,
    resolution: context.resolution,
    ldDropFraction: context.ldDropFraction,
  };
}

/**
 * The step of createTrainStep over two threads: the same inputs, losses and update (train-step.ts),
 * the gradients of the batch's second half computed by `worker` at the same time as the first's.
 */
export function createParallelTrainStep(context: TrainStepContext, worker: GradientWorker): TrainStep {
  const { model, optimizer, labelEmb, lossOf, boxTargets, crop } = context;
  const params = model.params.entries();
  const numLabels = labelEmb.shape[0] as number;
  const half: HalfContext = { model, labelEmb, ldDropFraction: context.ldDropFraction, resolution: context.resolution, boxDim: boxTargets?.dim ?? null };
  return async (batch, { step, lr }): Promise<StepLosses> => {
    const wdBoxesCut = batch.images.reduce((sum, img) => sum + img.boxesCut, 0);
    const parts: Record<LossKind, number | null> = { hd: null, ld: null, wd: null };
    if (batch.images.length === 0) return { loss: 0, parts, images: 0, wdBoxes: 0, wdBoxesCut };
    const inputs = stepInputs(batch.images, lossOf, boxTargets, crop, context.resolution === 'label');
    const [mine, theirs] = splitStep(inputs, numLabels);
    await worker.started();
    // Posted first, so that the worker computes while this thread does.
    const remote = theirs.inputs.n > 0 ? worker.run(params.map(([, v]) => new Float32Array(v.dataSync() as Float32Array)), theirs) : null;
    const local = halfGradients(half, mine);
    let other: RemoteHalf | null;
    try {
      other = remote ? await remote : null;
    } catch (err) {
      // The step fails: this thread's half's gradients are not left behind.
      tf.dispose([...local.grads.values()]);
      throw err;
    }
    const grads: Record<string, Tensor> = {};
    params.forEach(([name, v], i) => {
      const mine = local.grads.get(name);
      const theirs = other?.grads[i] ? tf.tensor(other.grads[i] as Float32Array, v.shape) : null;
      if (mine && theirs) {
        grads[v.name] = tf.add(mine, theirs);
        tf.dispose([mine, theirs]);
      } else if (mine ?? theirs) grads[v.name] = (mine ?? theirs) as Tensor;
    });
    let loss = 0;
    for (const name of LOSS_NAMES) {
      const a = local.parts[name];
      const b = other?.parts[name] ?? null;
      parts[name] = a === null && b === null ? null : (a ?? 0) + (b ?? 0);
      loss += parts[name] ?? 0;
    }
    if (!Number.isFinite(loss)) {
      tf.dispose(Object.values(grads));
      throw new TrainerError(`loss is ${loss} at step ${step + 1}; lower optimizer.lr`);
    }
    optimizer.apply(params, grads, lr, (name) => model.decays(name), (v) => v.name);
    tf.dispose(Object.values(grads));
    return { loss, parts, images: inputs.n, wdBoxes: inputs.clipRows.length, wdBoxesCut };
  };
}
