/**
 * The training loop: dataset-balanced batches from the manifest, one forward pass per batch,
 * each image's loss the one its dataset has in the manifest's `loss` column, or in
 * losses.byDataset (the table in losses/table.ts: hd → L_HD, ld → L_LD, wd → L_WD against cached
 * CLIP embeddings of the box crops), the sum minimised with
 * AdamW or SGD under warm-up + poly decay. Writes the run folder: config.json (resolved, paths
 * absolute), metrics.jsonl, checkpoints/. A folder that already holds a run is refused unless the
 * run is resumed or overwritten; every input is checked before any work starts.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import cliProgress from 'cli-progress';
import { ignoreIndexFor, ManifestReader, type DatasetInfo } from '@sentseg/dataset-tools';
import { selectBackend, type ChosenBackend } from './backend/select.js';
import { loadCheckpoint, readCheckpointState, saveCheckpoint, type CheckpointState } from './checkpoint.js';
import { withAbsolutePaths, type TrainConfig } from './config.js';
import { BatchLoader, type LoadedBatch, type LoaderDataset } from './data/loader.js';
import { NOT_A_CLASS } from './data/load-sample.js';
import { BalancedSampler } from './data/sampler.js';
import { TrainerError } from './errors.js';
import { readLabelEmbeddings, type LabelEmbeddings } from './label-embeddings.js';
import { checkNewRun, checkSqliteKind, checkTrainInputs, clearRun, readRunConfig, runConfigFile } from './run-folder.js';
import { batchLosses, chooseLosses, LOSS_NAMES, type LossParts, type LossSlices } from './losses/table.js';
import type { LossKind } from '@sentseg/dataset-tools';
import { hubIdOf, type HubOptions } from '@sentseg/label-bank';
import { BoxEmbeddingCache, boxEmbeddings, loadClipVisionEncoder, type BoxEmbeddings } from './boxes/clip-boxes.js';
import { estimateStepBytes, mib, recomputeFor, refuseOversizedStep } from './model/memory.js';
import { INPUT_MULTIPLE, OUTPUT_STRIDE, SegFormer, segformerConfig } from './model/segformer.js';
import { Optimizer } from './optim/optimizers.js';
import { learningRate } from './optim/schedule.js';
import { tf, type Tensor } from './tf.js';

export interface StepMetrics {
  step: number;
  loss: number;
  hd: number | null;
  ld: number | null;
  wd: number | null;
  tau: number;
  lr: number;
  images: number;
  skipped: number;
  /** L_WD boxes of the step's images that the loss used, and those left out because the crop cut them under losses.wdMinVisible. */
  wdBoxes: number;
  wdBoxesCut: number;
  imagesPerSec: number;
  stepSeconds: number;
  numTensors: number;
}

export interface TrainSummary {
  run: string;
  backend: ChosenBackend;
  startStep: number;
  endStep: number;
  interrupted: boolean;
  skippedImages: number;
  /** Of the skipped: images whose mask holds ids that are neither a label nor ignored (each file once). */
  strayLabelFiles: string[];
  /** L_WD boxes used and cut by the crop, over the run. */
  wdBoxes: number;
  wdBoxesCut: number;
  metrics: StepMetrics[];
  lastCheckpoint: string | null;
}

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

/** Picks each image's label at the centre of its output-stride cell: crop×crop → (crop/s)². */
export function downsampleTarget(target: Int32Array, crop: number, stride = OUTPUT_STRIDE): Int32Array {
  const out = crop / stride;
  const result = new Int32Array(out * out);
  const offset = Math.floor(stride / 2);
  for (let y = 0; y < out; y++) for (let x = 0; x < out; x++) result[y * out + x] = target[(y * stride + offset) * crop + x * stride + offset] as number;
  return result;
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

function appendMetrics(file: string, m: StepMetrics): void {
  appendFileSync(file, `${JSON.stringify(m)}\n`);
}

/** Keeps the metrics log consistent with a checkpoint: drops lines of steps after it. */
function truncateMetrics(file: string, upToStep: number): void {
  if (!existsSync(file)) return;
  const kept = readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .filter((line) => (JSON.parse(line) as { step: number }).step <= upToStep);
  writeFileSync(file, kept.map((l) => `${l}\n`).join(''));
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
  const disposables: Tensor[] = [];
  try {
    const { infos, split, lossOf } = openDatasets(reader, config);
    const labels: LabelEmbeddings = readLabelEmbeddings(config.labelBank, reader, config.labelText, config.encoder);
    // A step that cannot fit is refused now, with the sizes that would (never an abort inside WebAssembly).
    const crop0 = config.data.crop;
    const batch0 = config.data.batchSize;
    const stepBytes = estimateStepBytes(segformerConfig(config.model.variant, labels.dim), crop0, batch0);
    if (backend.name === 'wasm') {
      const refusal = refuseOversizedStep(segformerConfig(config.model.variant, labels.dim), crop0, batch0, INPUT_MULTIPLE);
      if (refusal) throw new TrainerError(refusal);
    }
    const recomputing = recomputeFor(crop0, batch0);
    const datasets = infos.map((d) => ({ name: d.name, ids: reader.imageIds(d.name, split.get(d.name) as string) }));
    const empty = datasets.filter((d) => d.ids.length === 0).map((d) => `${d.name} (${split.get(d.name)})`);
    if (empty.length > 0) throw new TrainerError(`no training images in ${empty.join(', ')}`);
    for (const d of infos) {
      const loss = lossOf.get(d.name) as LossKind;
      const chosen = loss === d.loss ? '' : ` (losses.byDataset; the manifest says L_${d.loss.toUpperCase()})`;
      log(`dataset ${d.name}: ${d.annotation} → L_${loss.toUpperCase()}${chosen}, split ${split.get(d.name)}, ${datasets.find((x) => x.name === d.name)?.ids.length} images`);
    }

    const boxTargets = await trainingBoxTargets(reader, config, infos, datasets, lossOf, options.hub);
    if (boxTargets) log(`box embeddings (${boxTargets.modelId}, ${boxTargets.dim}-d): ${boxTargets.computed} computed, ${boxTargets.cached} from the cache`);

    if (options.overwrite && !options.resume && clearRun(run)) log(`overwrite: removed the previous run in ${run} (config.json, metrics.jsonl, checkpoints/)`);
    mkdirSync(run, { recursive: true });
    const metricsFile = path.join(run, 'metrics.jsonl');
    model = new SegFormer({ ...segformerConfig(config.model.variant, labels.dim), ...(boxTargets ? { boxProjectionDim: boxTargets.dim } : {}) }, config.seed);
    model.recomputeActivations = recomputing;
    optimizer = new Optimizer({ ...config.optimizer });
    let startStep = 0;
    if (options.resume) {
      const ckpt = loadCheckpoint(run);
      if (ckpt.state.embedDim !== labels.dim) throw new TrainerError(`checkpoint ${ckpt.dir} was trained on ${ckpt.state.embedDim}-d label embeddings, the label bank gives ${labels.dim}-d ones`);
      if (ckpt.state.labels.join('\n') !== labels.names.join('\n')) throw new TrainerError(`checkpoint ${ckpt.dir} was trained on another label set than ${config.manifest}`);
      model.params.assign(ckpt.weights, ckpt.dir);
      tf.dispose([...ckpt.weights.values()]);
      optimizer.restore(ckpt.optimizerStep, ckpt.optimizerSlots);
      startStep = ckpt.state.step;
      truncateMetrics(metricsFile, startStep);
      log(`resumed from ${ckpt.dir} at step ${startStep}`);
    } else {
      writeFileSync(metricsFile, '');
    }
    writeFileSync(path.join(run, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
    log(`model: SegFormer-${config.model.variant}, ${model.params.count().toLocaleString('en-US')} weights, ${labels.dim}-d embeddings of ${labels.names.length} labels (${labels.encoderId}, ${config.labelText})`);
    if (recomputing) log(`memory: a step of ${batch0} × ${crop0}×${crop0} needs about ${mib(stepBytes)}, its activations recomputed in the backward pass instead of kept (less memory, more time)`);
    log(`losses at the ${config.losses.resolution === 'label' ? `label's resolution (${config.data.crop}×${config.data.crop}, logits upsampled bilinearly)` : `output's resolution (${config.data.crop / OUTPUT_STRIDE}×${config.data.crop / OUTPUT_STRIDE}, the label at each cell's centre)`} (losses.resolution)`);

    const labelEmb = tf.tensor2d(labels.data, [labels.names.length, labels.dim]);
    disposables.push(labelEmb);
    // Mask ids that are no class of their dataset map to NOT_A_CLASS: such a sample is skipped and named, never read as ignored.
    const loaderDatasets: LoaderDataset[] = infos.map((d) => ({ name: d.name, annotation: d.annotation, encoding: d.encoding, lut: reader.lut(d.name, ignoreIndexFor(labels.names.length), NOT_A_CLASS) }));
    const sampler = new BalancedSampler(datasets, config.data.batchSize, config.seed);
    loader = new BatchLoader({ reader, sampler, datasets: loaderDatasets, augment: config.data, minBoxVisible: config.losses.wdMinVisible, numLabels: labels.names.length, seed: config.seed, workers: config.data.workers, prefetch: config.data.prefetch, lastStep: config.steps - 1 });

    const state = (step: number): CheckpointState => ({
      step,
      seed: config.seed,
      labels: labels.names,
      encoderId: labels.encoderId,
      labelText: config.labelText,
      embedDim: labels.dim,
      savedAt: new Date().toISOString(),
    });
    const summary: TrainSummary = { run, backend, startStep, endStep: startStep, interrupted: false, skippedImages: 0, strayLabelFiles: [], wdBoxes: 0, wdBoxesCut: 0, metrics: [], lastCheckpoint: null };
    const total = config.steps;
    const showBar = options.progress ?? process.stderr.isTTY === true;
    const bar = showBar
      ? new cliProgress.SingleBar(
          { format: 'train [{bar}] {value}/{total} | loss {loss} | {ips} img/s | ETA {eta_formatted}', stream: process.stderr, hideCursor: true },
          cliProgress.Presets.shades_classic,
        )
      : null;
    bar?.start(total, startStep, { loss: '-', ips: '-' });
    const crop = config.data.crop;
    const outSide = crop / OUTPUT_STRIDE;
    const atLabel = config.losses.resolution === 'label';
    const schedule = { lr: config.optimizer.lr, totalSteps: total, polyPower: config.optimizer.polyPower, warmupSteps: config.optimizer.warmupSteps, warmupRatio: config.optimizer.warmupRatio };
    const params = model.params.entries();
    const trainable = params.map(([, v]) => v);
    const lineEvery = Math.max(1, Math.round(total / 20));

    for (let step = startStep; step < total; step++) {
      const started = performance.now();
      const batch: LoadedBatch = await loader.batch(step);
      for (const f of batch.failures) {
        log(`skipped ${f.dataset} ${f.file}: ${f.reason}`);
        if (f.kind === 'labels' && !summary.strayLabelFiles.includes(`${f.dataset} ${f.file}`)) summary.strayLabelFiles.push(`${f.dataset} ${f.file}`);
      }
      summary.skippedImages += batch.failures.length;
      const n = batch.images.length;
      const lr = learningRate(step, schedule);
      let lossValue = 0;
      let wdBoxes = 0;
      const wdBoxesCut = batch.images.reduce((sum, img) => sum + img.boxesCut, 0);
      const partValues: Record<LossKind, number | null> = { hd: null, ld: null, wd: null };
      if (n > 0) {
        // The batch partitioned by loss, in the table's order: each loss takes a contiguous slice.
        const order = (img: { dataset: string }) => LOSS_NAMES.indexOf(lossOf.get(img.dataset) as LossKind);
        const images = [...batch.images].sort((a, b) => order(a) - order(b));
        const pixels = new Float32Array(n * crop * crop * 3);
        // losses.resolution: the label at each output cell's centre, or the whole crop's label.
        const targetSide = atLabel ? crop : outSide;
        const targets = new Int32Array(n * targetSide * targetSide);
        images.forEach((img, i) => {
          pixels.set(img.pixels, i * crop * crop * 3);
          targets.set(atLabel ? img.target : downsampleTarget(img.target, crop), i * targetSide * targetSide);
        });
        const slices: LossSlices = {};
        const clipRows: Float32Array[] = [];
        images.forEach((img, i) => {
          const loss = lossOf.get(img.dataset) as LossKind;
          const slice = (slices[loss] ??= { start: i, count: 0, boxes: [], clipBoxEmb: null });
          slice.count += 1;
          // Boxes on the 1/4-resolution map, with their CLIP targets (images relative to the slice).
          for (const b of loss === 'wd' ? img.boxes : []) {
            const target = boxTargets?.vectors.get(b.boxId);
            if (!target) continue;
            slice.boxes.push({ image: i - slice.start, x0: b.x0 / OUTPUT_STRIDE, y0: b.y0 / OUTPUT_STRIDE, x1: b.x1 / OUTPUT_STRIDE, y1: b.y1 / OUTPUT_STRIDE });
            clipRows.push(target);
            wdBoxes += 1;
          }
        });
        const parts: LossParts = {};
        const { value, grads } = tf.tidy(() => {
          const x = tf.tensor4d(pixels, [n, crop, crop, 3]);
          const t = tf.tensor3d(targets, [n, targetSide, targetSide], 'int32');
          if (slices.wd && boxTargets && clipRows.length > 0) {
            slices.wd.clipBoxEmb = tf.tensor2d(Float32Array.from(clipRows.flatMap((r) => Array.from(r))), [clipRows.length, boxTargets.dim]);
          }
          const wdConv = boxTargets ? { w: model!.params.get('wd/w'), b: model!.params.get('wd/b') } : null;
          return tf.variableGrads(() => {
            const emb = model!.forward(x);
            const computed = batchLosses(emb, t, slices, { labelEmb, logTau: model!.logTau, ldDropFraction: config.losses.ldDropFraction, wdConv });
            let totalLoss: Tensor = tf.scalar(0);
            for (const [name, part] of Object.entries(computed) as [LossKind, Tensor][]) {
              parts[name] = tf.keep(part);
              totalLoss = tf.add(totalLoss, part);
            }
            return totalLoss as tf.Scalar;
          }, trainable);
        });
        lossValue = (await value.data())[0] as number;
        for (const name of LOSS_NAMES) {
          const part = parts[name];
          if (part) partValues[name] = (await part.data())[0] as number;
        }
        if (!Number.isFinite(lossValue)) {
          tf.dispose([value, ...Object.values(grads), ...Object.values(parts)]);
          throw new TrainerError(`loss is ${lossValue} at step ${step + 1}; lower optimizer.lr`);
        }
        optimizer.apply(params, grads, lr, (name) => model!.decays(name), (v) => v.name);
        tf.dispose([value, ...Object.values(grads), ...Object.values(parts)]);
      } else {
        log(`step ${step + 1}: every image of the batch was unreadable; step skipped`);
      }
      const seconds = (performance.now() - started) / 1000;
      const tau = Math.exp((model.logTau.dataSync() as Float32Array)[0] as number);
      const metrics: StepMetrics = {
        step: step + 1,
        loss: lossValue,
        hd: partValues.hd,
        ld: partValues.ld,
        wd: partValues.wd,
        tau,
        lr,
        images: n,
        skipped: batch.failures.length,
        wdBoxes,
        wdBoxesCut,
        imagesPerSec: n / seconds,
        stepSeconds: seconds,
        numTensors: tf.memory().numTensors,
      };
      appendMetrics(metricsFile, metrics);
      summary.metrics.push(metrics);
      summary.endStep = step + 1;
      summary.wdBoxes += wdBoxes;
      summary.wdBoxesCut += wdBoxesCut;
      bar?.update(step + 1, { loss: lossValue.toFixed(4), ips: metrics.imagesPerSec.toFixed(2) });
      if (!bar && ((step + 1) % lineEvery === 0 || step + 1 === total)) {
        log(`step ${step + 1}/${total} loss ${lossValue.toFixed(4)} τ ${tau.toFixed(4)} lr ${lr.toExponential(2)} ${metrics.imagesPerSec.toFixed(2)} img/s`);
      }
      // Let the event loop run (signals such as Ctrl-C, worker messages, the progress bar): when
      // batches are prefetched, awaiting them alone never leaves the microtask queue.
      await new Promise<void>((resolve) => setImmediate(resolve));
      const stop = options.stopRequested?.() === true;
      if ((step + 1) % config.checkpointEvery === 0 || step + 1 === total || stop) {
        summary.lastCheckpoint = await saveCheckpoint(run, model, optimizer, state(step + 1), config.keepCheckpoints);
      }
      if (stop) {
        summary.interrupted = true;
        break;
      }
    }
    bar?.stop();
    return summary;
  } finally {
    await loader?.close();
    tf.dispose(disposables);
    model?.params.dispose();
    optimizer?.dispose();
    reader.close();
  }
}
