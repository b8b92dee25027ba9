/**
 * The training loop: dataset-balanced batches from the manifest, one forward pass per batch,
 * each image's loss the one its dataset has in the manifest's `loss` column, or in
 * losses.byDataset (the table in losses/table.ts: hd → L_HD, ld → L_LD, wd → L_WD against cached
 * CLIP embeddings of the box crops), the sum minimised with
 * AdamW or SGD under warm-up + poly decay. Writes the run folder: config.json (resolved, paths
 * absolute), metrics.jsonl, checkpoints/. A folder that already holds a run is refused unless the
 * run is resumed or overwritten; every input is checked before any work starts.
 *
 * This file holds the setup, each part in a function named for what it sets up; one step (batch →
 * tensors → loss parts → update) is train-step.ts, the loop with its checkpoints, metrics, progress
 * and interruption is train-loop.ts.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { ignoreIndexFor, ManifestReader, type DatasetInfo } from '@sentseg/dataset-tools';
import { selectBackend, type ChosenBackend } from './backend/select.js';
import { loadCheckpoint, readCheckpointState, type CheckpointState } from './checkpoint.js';
import { withAbsolutePaths, type ThreadsSetting, type TrainConfig } from './config.js';
import { BatchLoader, type LoaderDataset } from './data/loader.js';
import { NOT_A_CLASS } from './data/load-sample.js';
import { BalancedSampler } from './data/sampler.js';
import { TrainerError } from './errors.js';
import { readLabelEmbeddings, type LabelEmbeddings } from './label-embeddings.js';
import { checkNewRun, checkSqliteKind, checkTrainInputs, clearRun, readRunConfig, runConfigFile } from './run-folder.js';
import { chooseLosses } from './losses/table.js';
import type { LossKind } from '@sentseg/dataset-tools';
import { hubIdOf, type HubOptions } from '@sentseg/label-bank';
import { BoxEmbeddingCache, boxEmbeddings, loadClipVisionEncoder, type BoxEmbeddings } from './boxes/clip-boxes.js';
import { applyRecompute, describeRecompute, mib, recomputeFor, refuseOversizedStep, stepBytesFor, type RecomputeMode } from './model/memory.js';
import { INPUT_MULTIPLE, OUTPUT_STRIDE, SegFormer, segformerConfig } from './model/segformer.js';
import { Optimizer } from './optim/optimizers.js';
import { tf, type Tensor } from './tf.js';
import { startSummary, trainingLoop, truncateMetrics, type TrainSummary } from './train-loop.js';
import { createTrainStep } from './train-step.js';
import { createParallelTrainStep, GradientWorker, workerSetup } from './parallel-step.js';

export type { StepMetrics, TrainSummary } from './train-loop.js';
export { downsampleTarget } from './train-step.js';

export interface TrainOptions {
  config: TrainConfig;
  run: string;
  /** Continue the run in `run` from its latest checkpoint. */
  resume?: boolean;
  /** Start over in a folder that holds a run: its config.json, metrics.jsonl and checkpoints/ are removed first. */
  overwrite?: boolean;
  /** Lines for the user (start-up, skipped files, summary). */
  log?: (line: string) => void;
  /** A progress bar on stderr (default: when stderr is a terminal). */
  progress?: boolean;
  /** Set to stop after the current step (Ctrl-C): a checkpoint is saved first. */
  stopRequested?: () => boolean;
  /** Model cache and download settings for a hub id given as clipVision. */
  hub?: HubOptions;
}

function trainingSplit(info: DatasetInfo, splits: string[]): string {
  const found = splits.find((s) => info.splits.includes(s));
  if (!found) throw new TrainerError(`dataset ${info.name} has no training split named ${splits.join(' or ')} (it has: ${info.splits.join(', ') || 'no images'}); set data.splits`);
  return found;
}

function openDatasets(reader: ManifestReader, config: TrainConfig): { infos: DatasetInfo[]; split: Map<string, string>; lossOf: Map<string, LossKind> } {
  const all = reader.datasets();
  if (all.length === 0) throw new TrainerError(`manifest ${reader.file} holds no datasets`);
  const names = config.data.datasets ?? all.map((d) => d.name);
  const infos = names.map((n) => {
    const info = all.find((d) => d.name === n);
    if (!info) throw new TrainerError(`dataset "${n}" is not in ${reader.file} (has: ${all.map((d) => d.name).join(', ')})`);
    return info;
  });
  const lossOf = chooseLosses(infos, config.losses.byDataset, all.map((d) => d.name), reader.file);
  const boxOnly = infos.filter((d) => lossOf.get(d.name) === 'wd').map((d) => d.name);
  if (boxOnly.length > 0 && !config.clipVision) {
    throw new TrainerError(`box-only dataset(s) ${boxOnly.join(', ')} need a CLIP vision tower for L_WD's box-crop embeddings: set clipVision to its folder (transformers.js layout), or leave them out with data.datasets`);
  }
  const split = new Map(infos.map((d) => [d.name, trainingSplit(d, config.data.splits)]));
  return { infos, split, lossOf };
}

/**
 * Refuses, before any work, what would fail later or damage a file: a run folder that holds a run
 * (neither resumed nor overwritten), a resumed run without a checkpoint or already at (or past)
 * the steps asked for (nothing to train, and config.json would disagree with its checkpoint), an input that is missing
 * or of the wrong kind. A path that config.json of a resumed run names and that is gone has moved:
 * the message says which setting.
 */
function checkBeforeWork(config: TrainConfig, run: string, options: TrainOptions): void {
  if (options.resume && options.overwrite) throw new TrainerError('resume and overwrite both given: resume continues the run, overwrite starts it over; give one');
  if (options.resume) {
    runConfigFile(run);
    const at = readCheckpointState(run).state.step;
    if (config.steps <= at) {
      const why = config.steps === at ? `already at step ${at} of ${at}: nothing to do` : `at step ${at}, beyond steps ${config.steps}`;
      throw new TrainerError(`${run} is ${why}; give --steps above ${at} to continue it`);
    }
  } else checkNewRun(run, options.overwrite === true);
  checkTrainInputs(config, options.resume ? readRunConfig(run) : null);
}

/** The box-embedding cache a config names: boxCache, else <manifest>.box-embeddings.sqlite beside the manifest. */
export function boxCacheFile(config: TrainConfig): string {
  return config.boxCache ?? `${config.manifest}.box-embeddings.sqlite`;
}

/**
 * L_WD targets: CLIP embeddings of every box crop of the training images of the datasets that train
 * with L_WD, computed once and cached (boxCacheFile); null when no dataset trains with L_WD.
 */
async function trainingBoxTargets(
  reader: ManifestReader,
  config: TrainConfig,
  infos: DatasetInfo[],
  datasets: { name: string; ids: number[] }[],
  lossOf: Map<string, LossKind>,
  hub: HubOptions | undefined,
  onProgress?: (done: number, total: number) => void,
): Promise<BoxEmbeddings | null> {
  const boxDatasets = infos.filter((d) => lossOf.get(d.name) === 'wd');
  if (boxDatasets.length === 0) return null;
  // The cache's kind is checked before the (slow) encoder loads and before anything writes to it.
  const cache = new BoxEmbeddingCache(boxCacheFile(config));
  let targets: BoxEmbeddings;
  try {
    const encoder = await loadClipVisionEncoder(config.clipVision as string, hub);
    const images = boxDatasets.flatMap((d) => (datasets.find((x) => x.name === d.name)?.ids ?? []).map((imageId) => ({ dataset: d.name, imageId })));
    targets = await boxEmbeddings(reader, images, encoder, cache, onProgress);
  } finally {
    cache.close();
  }
  if (targets.vectors.size === 0) throw new TrainerError(`no box of ${boxDatasets.map((d) => d.name).join(', ')} could be embedded`);
  return targets;
}

export interface BoxEmbeddingsSummary {
  cache: string;
  datasets: string[];
  modelId: string;
  dim: number;
  computed: number;
  cached: number;
}

/**
 * Fills the box-embedding cache for a config's training images without training (the
 * `box-embeddings` command): what `train` computes first for L_WD, and what the PyTorch bridge
 * (python/, sentseg-torch), which cannot run the CLIP vision tower, reads.
 */
export async function embedTrainingBoxes(options: { config: TrainConfig; hub?: HubOptions; progress?: (done: number, total: number) => void }): Promise<BoxEmbeddingsSummary> {
  const config = withAbsolutePaths(options.config);
  checkSqliteKind('manifest', config.manifest, 'manifest');
  if (config.clipVision !== null && hubIdOf(config.clipVision) === null && !existsSync(config.clipVision)) throw new TrainerError(`--clip-vision ${config.clipVision} not found`);
  const reader = ManifestReader.open(config.manifest);
  try {
    const { infos, split, lossOf } = openDatasets(reader, config);
    const datasets = infos.map((d) => ({ name: d.name, ids: reader.imageIds(d.name, split.get(d.name) as string) }));
    const targets = await trainingBoxTargets(reader, config, infos, datasets, lossOf, options.hub, options.progress);
    if (!targets) {
      throw new TrainerError(`no dataset of ${config.manifest} trains with L_WD (${infos.map((d) => `${d.name}: L_${(lossOf.get(d.name) as string).toUpperCase()}`).join(', ')}): there are no boxes to embed`);
    }
    return { cache: boxCacheFile(config), datasets: infos.filter((d) => lossOf.get(d.name) === 'wd').map((d) => d.name), modelId: targets.modelId, dim: targets.dim, computed: targets.computed, cached: targets.cached };
  } finally {
    reader.close();
  }
}

/**
 * The step's memory, refused now when it cannot fit (never an abort inside WebAssembly), and
 * what it recomputes (model.recompute; `auto`: memory.ts's recomputeFor).
 */
function planStepMemory(config: TrainConfig, backend: ChosenBackend, embedDim: number, threads: 1 | 2): { stepBytes: number; mode: RecomputeMode; perHeap: number } {
  const { crop, batchSize } = config.data;
  const model = segformerConfig(config.model.variant, embedDim);
  if (backend.name === 'wasm') {
    const refusal = refuseOversizedStep(model, crop, batchSize, INPUT_MULTIPLE, config.model.recompute, threads);
    if (refusal) throw new TrainerError(refusal);
  }
  // With two threads each heap holds its half of the batch: the mode is chosen for that.
  const perHeap = Math.ceil(batchSize / threads);
  const mode = recomputeFor(model, crop, perHeap, config.model.recompute);
  return { stepBytes: stepBytesFor(model, crop, perHeap, mode), mode, perHeap };
}

/** Each trained dataset's image ids of its training split; a dataset without any is refused. */
function trainingImages(reader: ManifestReader, infos: DatasetInfo[], split: Map<string, string>): { name: string; ids: number[] }[] {
  const datasets = infos.map((d) => ({ name: d.name, ids: reader.imageIds(d.name, split.get(d.name) as string) }));
  const empty = datasets.filter((d) => d.ids.length === 0).map((d) => `${d.name} (${split.get(d.name)})`);
  if (empty.length > 0) throw new TrainerError(`no training images in ${empty.join(', ')}`);
  return datasets;
}

function logDatasets(log: (line: string) => void, infos: DatasetInfo[], lossOf: Map<string, LossKind>, split: Map<string, string>, datasets: { name: string; ids: number[] }[]): void {
  for (const d of infos) {
    const loss = lossOf.get(d.name) as LossKind;
    const chosen = loss === d.loss ? '' : ` (losses.byDataset; the manifest says L_${d.loss.toUpperCase()})`;
    log(`dataset ${d.name}: ${d.annotation} → L_${loss.toUpperCase()}${chosen}, split ${split.get(d.name)}, ${datasets.find((x) => x.name === d.name)?.ids.length} images`);
  }
}

/**
 * Continues a resumed run from its latest checkpoint (weights, optimizer, metrics.jsonl cut back to
 * its step) or starts metrics.jsonl empty; returns the first step to train.
 */
function resumeOrStart(options: TrainOptions, config: TrainConfig, labels: LabelEmbeddings, model: SegFormer, optimizer: Optimizer, metricsFile: string, log: (line: string) => void): number {
  if (!options.resume) {
    writeFileSync(metricsFile, '');
    return 0;
  }
  const ckpt = loadCheckpoint(options.run);
  if (ckpt.state.embedDim !== labels.dim) throw new TrainerError(`checkpoint ${ckpt.dir} was trained on ${ckpt.state.embedDim}-d label embeddings, the label bank gives ${labels.dim}-d ones`);
  if (ckpt.state.labels.join('\n') !== labels.names.join('\n')) throw new TrainerError(`checkpoint ${ckpt.dir} was trained on another label set than ${config.manifest}`);
  model.params.assign(ckpt.weights, ckpt.dir);
  tf.dispose([...ckpt.weights.values()]);
  optimizer.restore(ckpt.optimizerStep, ckpt.optimizerSlots);
  const startStep = ckpt.state.step;
  truncateMetrics(metricsFile, startStep);
  log(`resumed from ${ckpt.dir} at step ${startStep}`);
  return startStep;
}

function logModel(log: (line: string) => void, config: TrainConfig, model: SegFormer, labels: LabelEmbeddings, memory: { stepBytes: number; mode: RecomputeMode; perHeap: number }, backend: ChosenBackend): void {
  const { crop, batchSize } = config.data;
  log(`model: SegFormer-${config.model.variant}, ${model.params.count().toLocaleString('en-US')} weights, ${labels.dim}-d embeddings of ${labels.names.length} labels (${labels.encoderId}, ${config.labelText})`);
  // The estimate is of WebAssembly's heap (model/memory.ts); other backends get no figure.
  const heaps = memory.perHeap < batchSize ? ` in each of 2 threads' heaps (${memory.perHeap} image${memory.perHeap === 1 ? '' : 's'} each)` : '';
  const need = backend.name === 'wasm' ? ` needs about ${mib(memory.stepBytes)} of WebAssembly memory${heaps}` : '';
  log(`memory: a step of ${batchSize} × ${crop}×${crop}${need}, ${describeRecompute(memory.mode)} (model.recompute=${config.model.recompute})`);
  log(`losses at the ${config.losses.resolution === 'label' ? `label's resolution (${crop}×${crop}, logits upsampled bilinearly)` : `output's resolution (${crop / OUTPUT_STRIDE}×${crop / OUTPUT_STRIDE}, the label at each cell's centre)`} (losses.resolution)`);
}

/** The batch loader: dataset-balanced batches, mask ids that are no class of their dataset mapped to NOT_A_CLASS (such a sample is skipped and named, never read as ignored). */
function createLoader(reader: ManifestReader, config: TrainConfig, infos: DatasetInfo[], datasets: { name: string; ids: number[] }[], numLabels: number): BatchLoader {
  const loaderDatasets: LoaderDataset[] = infos.map((d) => ({ name: d.name, annotation: d.annotation, encoding: d.encoding, lut: reader.lut(d.name, ignoreIndexFor(numLabels), NOT_A_CLASS) }));
  const sampler = new BalancedSampler(datasets, config.data.batchSize, config.seed);
  return new BatchLoader({ reader, sampler, datasets: loaderDatasets, augment: config.data, minBoxVisible: config.losses.wdMinVisible, numLabels, seed: config.seed, workers: config.data.workers, prefetch: config.data.prefetch, lastStep: config.steps - 1 });
}

/** What a checkpoint of this run records besides the weights. */
function checkpointStateOf(config: TrainConfig, labels: LabelEmbeddings): (step: number) => CheckpointState {
  return (step) => ({ step, seed: config.seed, labels: labels.names, encoderId: labels.encoderId, labelText: config.labelText, embedDim: labels.dim, savedAt: new Date().toISOString() });
}

/**
 * Pixels of a batch below which `model.threads=auto` stays on one thread: a second thread costs its
 * start (a backend and a replica of the model) and the weights and gradients sent each step.
 */
export const THREADS_MIN_PIXELS = 2 * 256 * 256;

/**
 * The threads a step runs on, and why (the start-up log's line). `auto` takes 2 on two cores or
 * more for a batch of 2 or more images of THREADS_MIN_PIXELS in all: measured on 2 cores (train-bench),
 * B0 256×256 batch 2 took 1.54 s/step on one thread and 0.99 s on two, and with the other core
 * kept busy by another process 1.70 and 1.44 s (tiny 256×256 batch 4: 1.51 and 1.35 s). The native
 * backend runs its kernels on threads of its own: a second replica there would only compete.
 */
export function threadsFor(setting: ThreadsSetting, backend: string, batch: number, crop: number, cores: number): { threads: 1 | 2; why: string } {
  const doing = 'a worker thread computes the gradients of the second half of each batch at the same time';
  if (setting === 1) return { threads: 1, why: 'model.threads=1' };
  if (backend === 'tensorflow') return { threads: 1, why: `model.threads=${setting}: native TensorFlow uses every core already; 2 applies to the wasm and cpu backends` };
  if (batch < 2) return { threads: 1, why: `model.threads=${setting}: a batch of one image is not split` };
  if (setting === 2) return { threads: 2, why: `model.threads=2: ${doing}` };
  if (cores < 2) return { threads: 1, why: 'model.threads=auto: this machine has one core' };
  if (batch * crop * crop < THREADS_MIN_PIXELS) return { threads: 1, why: `model.threads=auto: a batch of ${batch} × ${crop}×${crop} is too small to gain from a second thread` };
  return { threads: 2, why: `model.threads=auto, ${cores} cores: ${doing}` };
}

export async function train(options: TrainOptions): Promise<TrainSummary> {
  const { run } = options;
  const config = withAbsolutePaths(options.config);
  checkBeforeWork(config, run, options);
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const backend = await selectBackend(config.backend);
  log(`backend: ${backend.name} (${backend.reason})`);

  const reader = ManifestReader.open(config.manifest);
  let loader: BatchLoader | null = null;
  let model: SegFormer | null = null;
  let optimizer: Optimizer | null = null;
  let labelEmb: Tensor | null = null;
  let worker: GradientWorker | null = null;
  try {
    const { infos, split, lossOf } = openDatasets(reader, config);
    const labels = readLabelEmbeddings(config.labelBank, reader, config.labelText, config.encoder);
    const threads = threadsFor(config.model.threads, backend.name, config.data.batchSize, config.data.crop, availableParallelism());
    const memory = planStepMemory(config, backend, labels.dim, threads.threads);
    const datasets = trainingImages(reader, infos, split);
    logDatasets(log, infos, lossOf, split, datasets);
    const boxTargets = await trainingBoxTargets(reader, config, infos, datasets, lossOf, options.hub);
    if (boxTargets) log(`box embeddings (${boxTargets.modelId}, ${boxTargets.dim}-d): ${boxTargets.computed} computed, ${boxTargets.cached} from the cache`);

    if (options.overwrite && !options.resume && clearRun(run)) log(`overwrite: removed the previous run in ${run} (config.json, metrics.jsonl, checkpoints/)`);
    mkdirSync(run, { recursive: true });
    const metricsFile = path.join(run, 'metrics.jsonl');
    model = new SegFormer({ ...segformerConfig(config.model.variant, labels.dim), ...(boxTargets ? { boxProjectionDim: boxTargets.dim } : {}) }, config.seed);
    applyRecompute(model, memory.mode);
    optimizer = new Optimizer({ ...config.optimizer });
    const startStep = resumeOrStart(options, config, labels, model, optimizer, metricsFile, log);
    writeFileSync(path.join(run, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
    logModel(log, config, model, labels, memory, backend);

    labelEmb = tf.tensor2d(labels.data, [labels.names.length, labels.dim]);
    loader = createLoader(reader, config, infos, datasets, labels.names.length);
    const stepContext = { model, optimizer, labelEmb, lossOf, boxTargets, crop: config.data.crop, resolution: config.losses.resolution, ldDropFraction: config.losses.ldDropFraction };
    if (threads.threads === 2) worker = new GradientWorker(workerSetup(backend.name, model, config.seed, stepContext));
    log(`threads: ${threads.threads} (${threads.why})`);
    const trainStep = worker ? createParallelTrainStep(stepContext, worker) : createTrainStep(stepContext);
    return await trainingLoop(
      { run, config, loader, trainStep, model, optimizer, checkpointState: checkpointStateOf(config, labels), metricsFile, log, progress: options.progress ?? process.stderr.isTTY === true, stopRequested: options.stopRequested },
      startSummary(run, backend, startStep),
    );
  } finally {
    await loader?.close();
    await worker?.close();
    if (labelEmb) tf.dispose(labelEmb);
    model?.params.dispose();
    optimizer?.dispose();
    reader.close();
  }
}
