/**
 * Checkpoints of a run: `<run>/checkpoints/step-000123/` holds the model weights and the
 * optimizer state in the TensorFlow.js weights format plus state.json (step, RNG seed and the
 * label set). A checkpoint is built in a temporary folder and renamed, and `latest.json` is
 * replaced atomically, so a crash mid-save leaves the previous checkpoint in force.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { tempPathFor, writeAtomic } from '@sentseg/common';
import { SegFormer, type SegFormerConfig } from './model/segformer.js';
import { loadWeights, saveWeights } from './model/weights-io.js';
import type { Optimizer, OptimizerConfig } from './optim/optimizers.js';
import { tf, type Tensor } from './tf.js';

export interface CheckpointState {
  /** Completed training steps. */
  step: number;
  /** The run seed: with the step it fixes the sampler's and the augmentation's generators. */
  seed: number;
  /** Label names in the order of the model's label-embedding rows. */
  labels: string[];
  encoderId: string;
  labelText: 'sentence' | 'word';
  embedDim: number;
  savedAt: string;
}

export class CheckpointError extends Error {
  override name = 'CheckpointError';
}

export function checkpointsDir(run: string): string {
  return path.join(run, 'checkpoints');
}

function stepDir(run: string, step: number): string {
  return path.join(checkpointsDir(run), `step-${String(step).padStart(6, '0')}`);
}

export async function saveCheckpoint(run: string, model: SegFormer, optimizer: Optimizer, state: CheckpointState, keep: number): Promise<string> {
  const dir = stepDir(run, state.step);
  const tmp = tempPathFor(dir);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  try {
    const weights = new Map<string, Tensor>(model.params.entries());
    await saveWeights(tmp, 'model', weights, { architecture: 'segformer', config: model.config }, { labels: state.labels, encoderId: state.encoderId, labelText: state.labelText });
    await saveWeights(tmp, 'optimizer', optimizer.state(), { optimizer: optimizer.config, step: optimizer.step });
    writeFileSync(path.join(tmp, 'state.json'), JSON.stringify(state, null, 2));
    rmSync(dir, { recursive: true, force: true });
    renameSync(tmp, dir);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
  writeAtomic(path.join(checkpointsDir(run), 'latest.json'), JSON.stringify({ step: state.step, dir: path.basename(dir) }, null, 2));
  // Keep the newest `keep` checkpoints.
  const all = readdirSync(checkpointsDir(run)).filter((n) => /^step-\d+$/.test(n)).sort();
  for (const old of all.slice(0, Math.max(0, all.length - keep))) rmSync(path.join(checkpointsDir(run), old), { recursive: true, force: true });
  return dir;
}

/** The folder of a run's latest checkpoint, or of the checkpoint folder given itself. */
export function resolveCheckpoint(runOrCheckpoint: string): string {
  if (existsSync(path.join(runOrCheckpoint, 'state.json'))) return runOrCheckpoint;
  const latest = path.join(checkpointsDir(runOrCheckpoint), 'latest.json');
  if (!existsSync(latest)) throw new CheckpointError(`no checkpoint in ${runOrCheckpoint} (no checkpoints/latest.json and no state.json)`);
  const { dir } = JSON.parse(readFileSync(latest, 'utf8')) as { dir: string };
  return path.join(checkpointsDir(runOrCheckpoint), dir);
}

/** The state.json of a run's latest checkpoint (or of the checkpoint folder given), without loading its weights. */
export function readCheckpointState(runOrCheckpoint: string): { dir: string; state: CheckpointState } {
  const dir = resolveCheckpoint(runOrCheckpoint);
  try {
    return { dir, state: JSON.parse(readFileSync(path.join(dir, 'state.json'), 'utf8')) as CheckpointState };
  } catch (err) {
    throw new CheckpointError(`unreadable checkpoint state ${path.join(dir, 'state.json')}: ${(err as Error).message}`);
  }
}

export interface LoadedCheckpoint {
  dir: string;
  state: CheckpointState;
  modelConfig: SegFormerConfig;
  weights: Map<string, Tensor>;
  optimizerConfig: OptimizerConfig;
  optimizerStep: number;
  optimizerSlots: Map<string, Tensor>;
}

export function loadCheckpoint(runOrCheckpoint: string): LoadedCheckpoint {
  const { dir, state } = readCheckpointState(runOrCheckpoint);
  try {
    const model = loadWeights(dir, 'model');
    const opt = loadWeights(dir, 'optimizer');
    const topology = model.file.modelTopology as { config: SegFormerConfig };
    const optTopology = opt.file.modelTopology as { optimizer: OptimizerConfig; step: number };
    return { dir, state, modelConfig: topology.config, weights: model.tensors, optimizerConfig: optTopology.optimizer, optimizerStep: optTopology.step, optimizerSlots: opt.tensors };
  } catch (err) {
    throw new CheckpointError(`unreadable checkpoint ${dir}: ${(err as Error).message}`);
  }
}

/** Loads a run's latest checkpoint (or a checkpoint folder) into a model. */
export function loadModel(runOrCheckpoint: string): { model: SegFormer; state: CheckpointState; dir: string } {
  const ckpt = loadCheckpoint(runOrCheckpoint);
  const model = new SegFormer(ckpt.modelConfig, 0);
  model.params.assign(ckpt.weights, ckpt.dir);
  tf.dispose([...ckpt.weights.values(), ...ckpt.optimizerSlots.values()]);
  return { model, state: ckpt.state, dir: ckpt.dir };
}
