/**
 * The run folder and the other paths a command is given, checked before any work starts: an
 * output that is a file, a run that would be overwritten, an input of the wrong kind or one that
 * moved. A run folder holds RUN_ENTRIES; its config.json names its inputs by absolute path, so
 * the folder works from any working directory.
 */
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { sqliteKindMismatch } from '@sentseg/common';
import { resolveCheckpoint } from './checkpoint.js';
import { CONFIG_PATH_KEYS, type TrainConfig } from './config.js';
import { hubIdOf } from '@sentseg/label-bank';
import { TrainerError } from './errors.js';

/** What train writes in a run folder: all of it is removed by --overwrite, nothing else is. */
export const RUN_ENTRIES = ['config.json', 'metrics.jsonl', 'checkpoints'] as const;

/**
 * `dir` can be created or written as a folder: it is a folder, or it does not exist and its
 * nearest existing parent is a folder. `flag` names the option in the message.
 */
export function checkOutputFolder(flag: string, dir: string): void {
  let at = path.resolve(dir);
  while (!existsSync(at)) {
    const parent = path.dirname(at);
    if (parent === at) return;
    at = parent;
  }
  if (statSync(at).isDirectory()) return;
  if (at === path.resolve(dir)) throw new TrainerError(`${flag} ${dir} is a file, not a folder`);
  throw new TrainerError(`${flag} ${dir} is inside ${at}, which is a file, not a folder`);
}

/** The entries of RUN_ENTRIES that `run` holds. */
export function runEntries(run: string): string[] {
  return RUN_ENTRIES.filter((e) => existsSync(path.join(run, e)));
}

/**
 * A new run in `run`: refused when the folder already holds one, unless `overwrite` (the old run
 * is then removed by clearRun, once the inputs have been checked). An empty or missing folder is fine.
 */
export function checkNewRun(run: string, overwrite: boolean): void {
  checkOutputFolder('--out', run);
  const found = runEntries(run);
  if (found.length === 0 || overwrite) return;
  throw new TrainerError(`${run} already holds a run (${RUN_ENTRIES.map((e) => (e === 'checkpoints' ? `${e}/` : e)).join(', ')}): continue it with --resume ${run}, or start it over with --overwrite`);
}

/** Removes a previous run's files from `run` (config.json, metrics.jsonl, checkpoints/); says whether there was one. */
export function clearRun(run: string): boolean {
  const found = runEntries(run);
  for (const entry of found) rmSync(path.join(run, entry), { recursive: true, force: true });
  return found.length > 0;
}

/** A run to continue: the folder holds config.json (its latest checkpoint is read by train). */
export function runConfigFile(run: string): string {
  checkOutputFolder('--resume', run);
  const file = path.join(run, 'config.json');
  if (!existsSync(file)) throw new TrainerError(`${run} holds no run to resume (no config.json); start one with --out ${run}`);
  return file;
}

/** The flag that gives each path setting a new place, for messages. */
const FLAG_OF: Record<(typeof CONFIG_PATH_KEYS)[number], string> = {
  manifest: '--manifest FILE',
  labelBank: '--label-bank FILE',
  clipVision: '--clip-vision DIR',
  boxCache: '--set boxCache=FILE',
};

/**
 * Every input a run's settings name exists and is of its kind, checked before anything is opened:
 * the manifest and the label bank are told apart by their tables (a bank given as the manifest
 * is refused with both kinds named, and left byte-identical). `saved`: the settings of the run
 * being resumed; a missing file that its config.json names has moved, and the message says so.
 */
export function checkTrainInputs(config: TrainConfig, saved: { file: string; config: TrainConfig } | null): void {
  for (const key of CONFIG_PATH_KEYS) {
    const file = config[key];
    if (file === null || key === 'boxCache' || existsSync(file) || (key === 'clipVision' && hubIdOf(file) !== null)) continue;
    const named = saved?.config[key];
    if (saved && typeof named === 'string' && path.resolve(named) === file) {
      throw new TrainerError(`${key} ${file} named in ${saved.file} is missing (moved or deleted?); give its new path with ${FLAG_OF[key]}`);
    }
    throw new TrainerError(`${FLAG_OF[key]} ${file} not found`);
  }
  checkSqliteKind('manifest', config.manifest, 'manifest');
  checkSqliteKind('label bank', config.labelBank, 'label-bank');
}

/** `what`: the role in the message ("manifest: FILE is a sentseg label bank (label-bank), not a sentseg manifest (merge-datasets)"). */
export function checkSqliteKind(what: string, file: string, kind: 'manifest' | 'label-bank' | 'box-embeddings', missingIsFine = false): void {
  if (!missingIsFine && !existsSync(file)) throw new TrainerError(`${what} not found: ${file}`);
  const mismatch = sqliteKindMismatch(file, kind, missingIsFine);
  if (mismatch !== null) throw new TrainerError(`${what}: ${mismatch}`);
}

/** A run's saved settings (eval and predict read the label bank from them), or null when it has no config.json. */
export function readRunConfig(run: string): { file: string; config: TrainConfig } | null {
  const file = path.join(run, 'config.json');
  if (!existsSync(file)) return null;
  try {
    return { file, config: JSON.parse(readFileSync(file, 'utf8')) as TrainConfig };
  } catch (err) {
    throw new TrainerError(`unreadable run config ${file}: ${(err as Error).message}`);
  }
}

/**
 * eval and predict: `run` (a run folder or one of its checkpoint folders) has a checkpoint; its
 * run's saved settings, or null when there is no config.json.
 */
function inferenceRunConfig(run: string): { file: string; config: TrainConfig } | null {
  resolveCheckpoint(run);
  // A checkpoint folder given as --run: its run's config.json is two levels up.
  return readRunConfig(run) ?? (existsSync(path.join(run, 'state.json')) ? readRunConfig(path.resolve(run, '..', '..')) : null);
}

/**
 * eval's manifest: the one given, else the run's (from its config.json, as for the label bank); a
 * run's manifest that is gone has moved, and the message says so. Its kind is checked by the caller.
 */
export function inferenceManifest(run: string, manifest: string | undefined): string {
  if (manifest !== undefined) return manifest;
  const saved = inferenceRunConfig(run);
  if (!saved) throw new TrainerError(`name the manifest: --manifest FILE (${run} has no config.json to take it from)`);
  const file = path.resolve(saved.config.manifest);
  if (!existsSync(file)) throw new TrainerError(`manifest ${file} named in ${saved.file} is missing (moved or deleted?); give its new path with --manifest FILE`);
  return file;
}

/**
 * eval and predict: the run has a checkpoint, and the label bank (given, else the run's) exists
 * and is a label bank. Returns the bank and the run's settings.
 */
export function checkInferenceInputs(run: string, labelBank: string | undefined): { bank: string; runConfig: TrainConfig | null } {
  const saved = inferenceRunConfig(run);
  let bank = labelBank;
  if (bank === undefined) {
    if (!saved) throw new TrainerError(`name the label bank: --label-bank FILE (${run} has no config.json to take it from)`);
    // A run written before config.json held absolute paths: its paths are relative to where it was trained, taken as here.
    bank = path.resolve(saved.config.labelBank);
    if (!existsSync(bank)) throw new TrainerError(`labelBank ${bank} named in ${saved.file} is missing (moved or deleted?); give its new path with --label-bank FILE`);
  }
  checkSqliteKind('label bank', bank, 'label-bank');
  return { bank, runConfig: saved?.config ?? null };
}
