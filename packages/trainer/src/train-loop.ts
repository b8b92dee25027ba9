/**
 * The training loop around one step (train-step.ts): it asks the loader for each step's batch,
 * names the skipped files, sets the learning rate, and owns what a run leaves behind and shows —
 * metrics.jsonl (one line per step), the checkpoints (every checkpointEvery steps, at the last step
 * and when a stop is requested), the progress bar or the periodic log line, and interruption.
 */
import { progress, type ProgressBar } from '@sentseg/common';
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { ChosenBackend } from './backend/select.js';
import { saveCheckpoint, type CheckpointState } from './checkpoint.js';
import type { TrainConfig } from './config.js';
import type { BatchLoader, LoadedBatch } from './data/loader.js';
import type { SegFormer } from './model/segformer.js';
import type { Optimizer } from './optim/optimizers.js';
import { learningRate } from './optim/schedule.js';
import { tf } from './tf.js';
import type { StepLosses, TrainStep } from './train-step.js';

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

/** What the loop runs: the step, where its batches come from, and what a checkpoint holds. */
export interface TrainingLoop {
  run: string;
  config: TrainConfig;
  loader: BatchLoader;
  trainStep: TrainStep;
  model: SegFormer;
  optimizer: Optimizer;
  checkpointState: (step: number) => CheckpointState;
  metricsFile: string;
  log: (line: string) => void;
  /** A progress bar on stderr instead of the periodic log line. */
  progress: boolean;
  stopRequested?: () => boolean;
}

/** A run's summary before its first step. */
export function startSummary(run: string, backend: ChosenBackend, startStep: number): TrainSummary {
  return { run, backend, startStep, endStep: startStep, interrupted: false, skippedImages: 0, strayLabelFiles: [], wdBoxes: 0, wdBoxesCut: 0, metrics: [], lastCheckpoint: null };
}

function appendMetrics(file: string, m: StepMetrics): void {
  appendFileSync(file, `${JSON.stringify(m)}\n`);
}

/** Keeps the metrics log consistent with a checkpoint: drops lines of steps after it. */
export function truncateMetrics(file: string, upToStep: number): void {
  if (!existsSync(file)) return;
  const kept = readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .filter((line) => (JSON.parse(line) as { step: number }).step <= upToStep);
  writeFileSync(file, kept.map((l) => `${l}\n`).join(''));
}

function progressBar(show: boolean, total: number, startStep: number): ProgressBar | null {
  if (!show) return null;
  const bar = progress('train [{bar}] {value}/{total} | loss {loss} | {ips} img/s | ETA {eta_formatted}', { enabled: true, hideCursor: true });
  bar.setTotal(total);
  bar.update(startStep, { loss: '-', ips: '-' });
  return bar;
}

/** Logs the batch's unreadable files and counts them (stray-label files once each). */
function noteSkipped(batch: LoadedBatch, summary: TrainSummary, log: (line: string) => void): void {
  for (const f of batch.failures) {
    log(`skipped ${f.dataset} ${f.file}: ${f.reason}`);
    if (f.kind === 'labels' && !summary.strayLabelFiles.includes(`${f.dataset} ${f.file}`)) summary.strayLabelFiles.push(`${f.dataset} ${f.file}`);
  }
  summary.skippedImages += batch.failures.length;
}

function stepMetrics(step: number, losses: StepLosses, lr: number, skipped: number, seconds: number, model: SegFormer): StepMetrics {
  const tau = Math.exp((model.logTau.dataSync() as Float32Array)[0] as number);
  return {
    step: step + 1,
    loss: losses.loss,
    hd: losses.parts.hd,
    ld: losses.parts.ld,
    wd: losses.parts.wd,
    tau,
    lr,
    images: losses.images,
    skipped,
    wdBoxes: losses.wdBoxes,
    wdBoxesCut: losses.wdBoxesCut,
    imagesPerSec: losses.images / seconds,
    stepSeconds: seconds,
    numTensors: tf.memory().numTensors,
  };
}

/** Runs the steps from summary.startStep to config.steps (or until a stop is requested), filling the summary. */
export async function trainingLoop(loop: TrainingLoop, summary: TrainSummary): Promise<TrainSummary> {
  const { config, log } = loop;
  const total = config.steps;
  const bar = progressBar(loop.progress, total, summary.startStep);
  const schedule = { lr: config.optimizer.lr, totalSteps: total, polyPower: config.optimizer.polyPower, warmupSteps: config.optimizer.warmupSteps, warmupRatio: config.optimizer.warmupRatio };
  const lineEvery = Math.max(1, Math.round(total / 20));
  for (let step = summary.startStep; step < total; step++) {
    const started = performance.now();
    const batch = await loop.loader.batch(step);
    noteSkipped(batch, summary, log);
    const lr = learningRate(step, schedule);
    const losses = await loop.trainStep(batch, { step, lr });
    if (losses.images === 0) log(`step ${step + 1}: every image of the batch was unreadable; step skipped`);
    const metrics = stepMetrics(step, losses, lr, batch.failures.length, (performance.now() - started) / 1000, loop.model);
    appendMetrics(loop.metricsFile, metrics);
    summary.metrics.push(metrics);
    summary.endStep = step + 1;
    summary.wdBoxes += losses.wdBoxes;
    summary.wdBoxesCut += losses.wdBoxesCut;
    bar?.update(step + 1, { loss: losses.loss.toFixed(4), ips: metrics.imagesPerSec.toFixed(2) });
    if (!bar && ((step + 1) % lineEvery === 0 || step + 1 === total)) {
      log(`step ${step + 1}/${total} loss ${losses.loss.toFixed(4)} τ ${metrics.tau.toFixed(4)} lr ${lr.toExponential(2)} ${metrics.imagesPerSec.toFixed(2)} img/s`);
    }
    // Let the event loop run (signals such as Ctrl-C, worker messages, the progress bar): when
    // batches are prefetched, awaiting them alone never leaves the microtask queue.
    await new Promise<void>((resolve) => setImmediate(resolve));
    const stop = loop.stopRequested?.() === true;
    if ((step + 1) % config.checkpointEvery === 0 || step + 1 === total || stop) {
      summary.lastCheckpoint = await saveCheckpoint(loop.run, loop.model, loop.optimizer, loop.checkpointState(step + 1), config.keepCheckpoints);
    }
    if (stop) {
      summary.interrupted = true;
      break;
    }
  }
  bar?.stop();
  return summary;
}
