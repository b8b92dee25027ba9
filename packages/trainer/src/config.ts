/**
 * A training run's configuration: defaults, a JSON or YAML file on top, then `--set key=value`
 * overrides on top of that. Any key the trainer does not know is an error that names it.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { hubIdOf } from '@sentseg/label-bank';
import YAML from 'yaml';
import type { AugmentConfig } from './data/augment.js';
import { SEGFORMER_VARIANTS, INPUT_MULTIPLE } from './model/segformer.js';
import { isLossName, LOSS_NAMES } from './losses/table.js';
import { RECOMPUTE_SETTINGS, type RecomputeSetting } from './model/memory.js';

export type LossResolution = 'output' | 'label';
export const LOSS_RESOLUTIONS: LossResolution[] = ['output', 'label'];

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export interface TrainConfig {
  seed: number;
  manifest: string;
  labelBank: string;
  /** Text encoder whose label embeddings to train against (default: the bank's only model). */
  encoder: string | null;
  /** Label text: the description sentence (the method) or the word only (the baseline). */
  labelText: 'sentence' | 'word';
  backend: 'auto' | 'tensorflow' | 'wasm' | 'cpu';
  steps: number;
  checkpointEvery: number;
  /** Checkpoints kept on disk (the newest ones). */
  keepCheckpoints: number;
  model: {
    variant: string;
    /**
     * What a step recomputes in its backward pass instead of keeping (model/memory.ts): `off`
     * nothing, `encoder` the encoder's activations, `on` everything (the decoder and loss in bands);
     * `auto` keeps everything while that is estimated under KEEP_ALL_BELOW (1 GiB) of WebAssembly
     * heap, else recomputes the encoder where that fits the 3.5 GiB a step may take, else everything
     * (recomputeFor; on every backend). A step its setting cannot fit is refused before it starts.
     */
    recompute: RecomputeSetting;
    /**
     * Threads a training step runs on: 2 computes half of each batch's gradients in a worker
     * thread at the same time (parallel-step.ts; the same update as 1, to float rounding); `auto`
     * (the default) takes 2 where that pays (threadsFor in train.ts: two cores or more, the wasm or
     * cpu backend, a batch of 2 or more images of at least 2 × 256 × 256 pixels in all:
     * THREADS_MIN_PIXELS), else 1.
     */
    threads: ThreadsSetting;
  };
  data: AugmentConfig & {
    /** Datasets to train on (default: every dataset in the manifest). */
    datasets: string[] | null;
    /** Split names taken as training data, per dataset the first that exists. */
    splits: string[];
    batchSize: number;
    /** Loader worker threads. */
    workers: number;
    /** Batches loaded ahead of the model. */
    prefetch: number;
  };
  optimizer: {
    kind: 'adamw' | 'sgd';
    lr: number;
    weightDecay: number;
    beta1: number;
    beta2: number;
    epsilon: number;
    momentum: number;
    polyPower: number;
    warmupSteps: number;
    warmupRatio: number;
  };
  losses: {
    /** Fraction of each image's hardest pixels that L_LD drops. */
    ldDropFraction: number;
    /** Per dataset name, the loss to train it with instead of the manifest's `loss` column (hd | ld | wd). */
    byDataset: Record<string, string>;
    /**
     * Where L_HD and L_LD compare prediction and label: `output`, the 1/4-resolution map against
     * the label at each cell's centre; `label`, the cosine logits upsampled bilinearly to the crop's
     * label (as mmseg's SegFormer), every label pixel counted.
     */
    resolution: LossResolution;
    /** L_WD: a box whose visible part in the crop is under this fraction of its area is left out. */
    wdMinVisible: number;
  };
  /** CLIP vision tower (local folder) for the box crops of box-only datasets (L_WD). */
  clipVision: string | null;
  /** Cache of the box-crop embeddings (default: beside the manifest, <manifest>.box-embeddings.sqlite). */
  boxCache: string | null;
}

/** `model.threads`: 1, 2, or `auto` (threadsFor in train.ts). */
export type ThreadsSetting = 1 | 2 | 'auto';

export const DEFAULT_CONFIG: TrainConfig = {
  seed: 1,
  manifest: 'manifest.sqlite',
  labelBank: 'label-bank.sqlite',
  encoder: null,
  labelText: 'sentence',
  backend: 'auto',
  steps: 1000,
  checkpointEvery: 100,
  keepCheckpoints: 3,
  model: { variant: 'tiny', recompute: 'auto', threads: 'auto' },
  data: {
    datasets: null,
    splits: ['train', 'training'],
    batchSize: 4,
    shortEdge: 1080,
    crop: 640,
    flip: true,
    colorJitter: 0.2,
    blurProbability: 0.2,
    noiseStd: 3,
    workers: 1,
    prefetch: 2,
  },
  optimizer: {
    kind: 'adamw',
    lr: 6e-5,
    weightDecay: 0.01,
    beta1: 0.9,
    beta2: 0.999,
    epsilon: 1e-8,
    momentum: 0.9,
    polyPower: 1,
    warmupSteps: 0,
    warmupRatio: 1e-6,
  },
  losses: { ldDropFraction: 0.3, byDataset: {}, resolution: 'output', wdMinVisible: 0.5 },
  clipVision: null,
  boxCache: null,
};

/** Settings that name files or folders. */
export const CONFIG_PATH_KEYS = ['manifest', 'labelBank', 'clipVision', 'boxCache'] as const;

/**
 * The config with every path setting absolute, resolved against `base` (the working directory by
 * default, where relative paths of the command line and of --config files are meant): what a run
 * folder's config.json keeps, so eval, predict and --resume work from any working directory.
 */
export function withAbsolutePaths(config: TrainConfig, base = process.cwd()): TrainConfig {
  const resolved = structuredClone(config);
  for (const key of CONFIG_PATH_KEYS) {
    const value = resolved[key];
    // A hub id (--clip-vision ORG/NAME[@REVISION]) is no path: kept as given.
    if (value !== null && !(key === 'clipVision' && hubIdOf(value, base) !== null)) resolved[key] = path.resolve(base, value);
  }
  return resolved;
}

/** The HRNet recipe's optimizer, for `--set optimizer.kind=sgd` users who want its defaults. */
export const SGD_DEFAULTS = { lr: 0.01, weightDecay: 5e-4, momentum: 0.9, polyPower: 0.9 };

/**
 * Settings whose keys are names of the user's choosing (datasets), not settings: any key is taken.
 * A dataset name with dots arrives from `--set losses.byDataset.a.b=ld` as nested objects and is
 * joined back into "a.b".
 */
const OPEN_MAPS = new Set(['losses.byDataset']);

function flattenNames(value: Record<string, unknown>, prefix = ''): Record<string, unknown> {
  const flat: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    if (isObject(v)) Object.assign(flat, flattenNames(v, `${prefix}${key}.`));
    else flat[prefix + key] = v;
  }
  return flat;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Deep-merges `patch` into `base`, refusing keys and types that `base` does not have. */
function mergeChecked(base: Record<string, unknown>, patch: Record<string, unknown>, where: string, prefix = ''): void {
  for (const [key, value] of Object.entries(patch)) {
    const dotted = prefix + key;
    if (!(key in base)) {
      const known = Object.keys(base).map((k) => prefix + k).join(', ');
      throw new ConfigError(`unknown config key "${dotted}" in ${where} (known here: ${known})`);
    }
    const current = base[key];
    if (OPEN_MAPS.has(dotted)) {
      if (!isObject(value)) throw new ConfigError(`config key "${dotted}" in ${where} must be an object of name: value`);
      Object.assign(current as Record<string, unknown>, flattenNames(value));
    } else if (isObject(current)) {
      if (!isObject(value)) throw new ConfigError(`config key "${dotted}" in ${where} must be an object`);
      mergeChecked(current, value, where, `${dotted}.`);
    } else if (WORD_OR_NUMBER.has(dotted)) {
      // `auto` or a number: validateConfig checks the value itself.
      base[key] = value;
    } else {
      const expected = current === null ? null : Array.isArray(current) ? 'array' : typeof current;
      const actual = value === null ? null : Array.isArray(value) ? 'array' : typeof value;
      // null defaults take a string or an array (paths, names); anything takes null where null is the default.
      const ok = expected === actual || (current === null && (actual === 'string' || actual === 'array')) || (value === null && current === null);
      if (!ok) throw new ConfigError(`config key "${dotted}" in ${where} must be ${expected ?? 'a string or null'}, got ${JSON.stringify(value)}`);
      base[key] = value;
    }
  }
}

/** Keys that take a word or a number (model.threads: auto, 1 or 2). */
const WORD_OR_NUMBER = new Set(['model.threads']);

/** Parses one `key.path=value` override; the value is YAML (numbers, booleans, lists, strings). */
export function parseOverride(text: string): Record<string, unknown> {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new ConfigError(`override "${text}" is not key=value`);
  const keys = text.slice(0, eq).trim().split('.');
  const value = YAML.parse(text.slice(eq + 1)) as Json;
  let obj: Record<string, unknown> = { [keys[keys.length - 1] as string]: value };
  for (let i = keys.length - 2; i >= 0; i--) obj = { [keys[i] as string]: obj };
  return obj;
}

export function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config ${file}: ${(err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = /\.json$/i.test(file) ? JSON.parse(text) : YAML.parse(text);
  } catch (err) {
    throw new ConfigError(`config ${file} is not valid ${/\.json$/i.test(file) ? 'JSON' : 'YAML'}: ${(err as Error).message}`);
  }
  if (!isObject(parsed)) throw new ConfigError(`config ${file} must hold an object of settings`);
  return parsed;
}

/** Defaults ← file ← overrides (in order), then checked. */
export function resolveConfig(layers: { where: string; values: Record<string, unknown> }[]): TrainConfig {
  const config = structuredClone(DEFAULT_CONFIG) as unknown as Record<string, unknown>;
  for (const layer of layers) mergeChecked(config, layer.values, layer.where);
  const resolved = config as unknown as TrainConfig;
  validateConfig(resolved);
  return resolved;
}

function validateConfig(c: TrainConfig): void {
  const positiveInt = (v: number, key: string): void => {
    if (!Number.isInteger(v) || v <= 0) throw new ConfigError(`${key} must be a positive integer, got ${v}`);
  };
  positiveInt(c.steps, 'steps');
  positiveInt(c.checkpointEvery, 'checkpointEvery');
  positiveInt(c.keepCheckpoints, 'keepCheckpoints');
  positiveInt(c.data.batchSize, 'data.batchSize');
  positiveInt(c.data.shortEdge, 'data.shortEdge');
  positiveInt(c.data.crop, 'data.crop');
  positiveInt(c.data.prefetch, 'data.prefetch');
  if (!Number.isInteger(c.data.workers) || c.data.workers < 0) throw new ConfigError(`data.workers must be 0 or more, got ${c.data.workers}`);
  if (c.data.crop % INPUT_MULTIPLE !== 0) throw new ConfigError(`data.crop must be a multiple of ${INPUT_MULTIPLE}, got ${c.data.crop}`);
  if (!SEGFORMER_VARIANTS[c.model.variant]) throw new ConfigError(`model.variant "${c.model.variant}" is not one of ${Object.keys(SEGFORMER_VARIANTS).join(', ')}`);
  if (c.model.threads !== 1 && c.model.threads !== 2 && c.model.threads !== 'auto') throw new ConfigError(`model.threads must be auto, 1 or 2, got ${JSON.stringify(c.model.threads)}`);
  if (!RECOMPUTE_SETTINGS.includes(c.model.recompute)) throw new ConfigError(`model.recompute must be ${RECOMPUTE_SETTINGS.join(', ')}, got ${JSON.stringify(c.model.recompute)}`);
  if (!['adamw', 'sgd'].includes(c.optimizer.kind)) throw new ConfigError(`optimizer.kind must be adamw or sgd, got ${c.optimizer.kind}`);
  if (!['auto', 'tensorflow', 'wasm', 'cpu'].includes(c.backend)) throw new ConfigError(`backend must be auto, tensorflow, wasm or cpu, got ${c.backend}`);
  if (!['sentence', 'word'].includes(c.labelText)) throw new ConfigError(`labelText must be sentence or word, got ${c.labelText}`);
  if (!(c.optimizer.lr > 0)) throw new ConfigError(`optimizer.lr must be above 0, got ${c.optimizer.lr}`);
  if (!(c.losses.ldDropFraction >= 0 && c.losses.ldDropFraction < 1)) throw new ConfigError(`losses.ldDropFraction must be in [0, 1), got ${c.losses.ldDropFraction}`);
  if (!LOSS_RESOLUTIONS.includes(c.losses.resolution)) throw new ConfigError(`losses.resolution must be output or label, got ${JSON.stringify(c.losses.resolution)}`);
  if (!(c.losses.wdMinVisible >= 0 && c.losses.wdMinVisible <= 1)) throw new ConfigError(`losses.wdMinVisible must be in [0, 1], got ${c.losses.wdMinVisible}`);
  for (const [name, loss] of Object.entries(c.losses.byDataset)) {
    if (!isLossName(loss)) throw new ConfigError(`losses.byDataset.${name} must be one of ${LOSS_NAMES.join(', ')}, got ${JSON.stringify(loss)}`);
  }
  if (c.data.splits.length === 0) throw new ConfigError('data.splits must name at least one split');
}
