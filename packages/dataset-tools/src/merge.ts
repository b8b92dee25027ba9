import { realpathSync } from 'node:fs';
import path from 'node:path';
import { DatasetError } from './errors.js';
import { checkDatasetFolder, detectFormat, formatByName, FORMATS } from './formats/index.js';
import { LOSSES_FOR, type FormatAdapter, type LossKind } from './formats/types.js';
import { ManifestWriter, type MergeOptions, type MergeSummary } from './manifest/writer.js';
import { readLabelNames } from './taxonomy.js';

/** One --dataset NAME=PATH, with its format (named, or detected) and variant. */
export interface DatasetSpec {
  name: string;
  root: string;
  format?: string;
  variant?: string;
  /** A taxonomy file replacing the format's built-in one. */
  taxonomy?: string;
  /** The loss the trainer applies to it (--loss NAME=hd|ld|wd), instead of the format's default. */
  loss?: LossKind;
}

const LOSS_KINDS: readonly string[] = [...new Set(Object.values(LOSSES_FOR).flat())];

/** Parses NAME=PATH pairs plus optional NAME=FORMAT, NAME=VARIANT, NAME=TAXONOMY-FILE and NAME=LOSS pairs. */
export function parseDatasetSpecs(datasets: string[], formats: string[] = [], variants: string[] = [], taxonomies: string[] = [], losses: string[] = []): DatasetSpec[] {
  const pairs = (values: string[], what: string) =>
    new Map(
      values.map((v) => {
        const at = v.indexOf('=');
        if (at <= 0 || at === v.length - 1) throw new DatasetError('BAD_ARGUMENT', `${what} must be NAME=VALUE, not "${v}"`);
        return [v.slice(0, at), v.slice(at + 1)] as [string, string];
      }),
    );
  const roots = pairs(datasets, '--dataset');
  const fmt = pairs(formats, '--format');
  const variant = pairs(variants, '--variant');
  const taxonomy = pairs(taxonomies, '--taxonomy');
  const loss = pairs(losses, '--loss');
  for (const [flag, named] of [['--format', fmt], ['--variant', variant], ['--taxonomy', taxonomy], ['--loss', loss]] as const) {
    for (const name of named.keys()) if (!roots.has(name)) throw new DatasetError('BAD_ARGUMENT', `${flag} name "${name}" has no --dataset ${name}=PATH`);
  }
  for (const [name, value] of loss) {
    if (!LOSS_KINDS.includes(value)) throw new DatasetError('BAD_ARGUMENT', `--loss ${name}=${value}: the loss is hd (dense masks), ld (noisy masks: the 30% hardest pixels of each image ignored) or wd (boxes)`);
  }
  if (losses.length !== loss.size) throw new DatasetError('BAD_ARGUMENT', 'a dataset name is given twice to --loss');
  if (roots.size !== datasets.length) throw new DatasetError('BAD_ARGUMENT', 'a dataset name is given twice');
  return [...roots].map(([name, root]) => {
    const file = taxonomy.get(name);
    const chosen = loss.get(name) as LossKind | undefined;
    return { name, root: path.resolve(root), format: fmt.get(name), variant: variant.get(name), ...(file ? { taxonomy: path.resolve(file) } : {}), ...(chosen ? { loss: chosen } : {}) };
  });
}

export interface MergeRun {
  summaries: MergeSummary[];
  skipped: { dataset: string; reason: string }[];
  /** True when the run wrote a new manifest (also when every dataset came from an interrupted run's partial file). */
  newManifest: boolean;
}

export interface MergeDatasetsOptions extends Omit<MergeOptions, 'update'> {
  splits?: string[];
  replace?: string[];
  /** Datasets re-read where their files changed (size, mtime): --update NAME. */
  update?: string[];
  /** Called when a dataset starts (its format resolved), before its first sample. */
  onDatasetStart?: (dataset: string, format: string, root: string) => void;
  /** Aborting stops the merge at once: see MergeInterrupted. */
  signal?: AbortSignal;
}

/**
 * The merge was stopped through its AbortSignal (Ctrl-C). The dataset being written was rolled
 * back; a new manifest was not written at all; an existing one keeps the datasets committed before.
 */
/**
 * The abort reason (AbortController.abort(KEEP_PROGRESS)) of a stop that keeps the run's progress, as
 * a run killed outright does (SIGTERM, SIGHUP): the same command continues from it. Any other abort
 * (Ctrl-C) is a deliberate stop that rolls back the dataset being written.
 */
export const KEEP_PROGRESS = 'keep-progress';

export class MergeInterrupted extends Error {
  constructor(
    readonly out: string,
    readonly newManifest: boolean,
    /** Datasets this run committed before the interruption. */
    readonly committed: string[],
    /** The dataset being written when it stopped: rolled back, or with `kept` its progress kept. */
    readonly rolledBack: string | null,
    /** Where the progress was kept (KEEP_PROGRESS): the partial manifest and staging file the same command continues from; null when rolled back. */
    readonly kept: { partial: string | null; staging: string | null } | null = null,
  ) {
    super(MergeInterrupted.describe(out, newManifest, committed, rolledBack, kept));
    this.name = 'MergeInterrupted';
  }

  private static describe(out: string, newManifest: boolean, committed: string[], current: string | null, kept: MergeInterrupted['kept']): string {
    if (kept !== null) {
      const parts = [
        newManifest ? `no manifest written yet (${out} does not exist)` : committed.length > 0 ? `${committed.join(', ')} committed to ${out}` : `nothing committed to ${out}`,
        ...(kept.partial !== null && committed.length > 0 ? [`${committed.join(', ')} kept in ${kept.partial}`] : []),
        ...(current !== null && kept.staging !== null ? [`${current}'s progress kept in ${kept.staging}`] : []),
      ];
      return `${parts.join('; ')}; the same command continues from there`;
    }
    const undone = current === null ? '' : `; ${current} was rolled back`;
    return newManifest
      ? `no manifest written (${out} does not exist${committed.length > 0 ? `; ${committed.join(', ')} had been merged into its partial file, now removed` : ''})`
      : committed.length > 0
        ? `${committed.join(', ')} committed to ${out}${undone}; the other datasets of ${out} are as they were`
        : `nothing committed: ${out} is as it was${undone}`;
  }
}

/**
 * The adapter of one --dataset, as README and --help say: --format when given; else the format the
 * dataset is named after (`--dataset ade20k=PATH`), whatever the folder looks like; else the one
 * that recognises the folder. A chosen format that does not recognise the folder is opened here, so
 * its own error (what the folder lacks) comes before anything is written; when another format
 * recognises the folder, the error names it.
 */
function resolveFormat(spec: DatasetSpec, labels: string[], splits: string[] | undefined): FormatAdapter {
  const chosen = spec.format ? formatByName(spec.format) : FORMATS.find((f) => f.name === spec.name);
  if (!chosen) return detectFormat(spec.root, spec.name);
  checkDatasetFolder(spec.root);
  if (chosen.detect(spec.root)) return chosen;
  try {
    chosen.open(spec.root, { labels, splits, variant: spec.variant, taxonomyFile: spec.taxonomy, datasetName: spec.name });
  } catch (err) {
    const looks = err instanceof DatasetError ? FORMATS.find((f) => f !== chosen && f.detect(spec.root)) : undefined;
    if (!looks || !(err instanceof DatasetError)) throw err;
    throw new DatasetError(
      err.code,
      spec.format
        ? `${err.message}; --format ${spec.name}=${chosen.name} reads it as ${chosen.name}, but the folder looks like ${looks.name}`
        : `${err.message}; the dataset is named ${spec.name}, so it is read as ${chosen.name}, but the folder looks like ${looks.name}: --dataset ${looks.name}=PATH (or --format ${spec.name}=${looks.name}) reads it as that`,
    );
  }
  return chosen;
}

/** A --loss the dataset's annotations cannot feed (wd without boxes, hd/ld without masks) is refused by name. */
function checkLoss(spec: DatasetSpec, adapter: FormatAdapter): void {
  const allowed = LOSSES_FOR[adapter.annotation];
  if (spec.loss === undefined || allowed.includes(spec.loss)) return;
  const what = adapter.annotation === 'boxes' ? 'boxes only' : adapter.annotation === 'dense' ? 'dense masks' : 'instance masks';
  const needs = spec.loss === 'wd' ? 'wd needs boxes' : `${spec.loss} needs masks (dense or instance masks)`;
  throw new DatasetError('BAD_ARGUMENT', `--loss ${spec.name}=${spec.loss}: ${spec.name} is read as ${adapter.name}, whose annotations are ${what}; ${needs} (${spec.name} can take ${allowed.join(' or ')})`);
}

/** Two paths to the same folder (resolved, then through symlinks when both exist). */
function sameFolder(a: string, b: string): boolean {
  if (path.resolve(a) === path.resolve(b)) return true;
  try {
    return realpathSync(a) === realpathSync(b);
  } catch {
    return false;
  }
}

/**
 * Refuses a dataset already in the manifest under the same name from another folder (without
 * --replace): skipping it would say nothing was read from the folder the user gave.
 */
function checkStoredRoots(writer: ManifestWriter, out: string, specs: DatasetSpec[], replace: string[]): void {
  for (const spec of specs) {
    if (replace.includes(spec.name)) continue;
    const stored = writer.datasetRoot(spec.name);
    if (stored !== null && spec.loss !== undefined && writer.datasetLoss(spec.name) !== spec.loss) {
      throw new DatasetError(
        'BAD_ARGUMENT',
        `--loss ${spec.name}=${spec.loss}: ${spec.name} is already in ${out} with loss ${writer.datasetLoss(spec.name)}, and a dataset already there is skipped: --replace ${spec.name} merges it again with ${spec.loss}; ${out} is as it was`,
      );
    }
    if (stored === null || sameFolder(stored, spec.root)) continue;
    throw new DatasetError(
      'BAD_ARGUMENT',
      `${spec.name} is already in ${out}, merged from ${stored}, not from ${spec.root}: --replace ${spec.name} replaces it with ${spec.root}, or --dataset OTHER-NAME=${spec.root} adds that folder beside it; ${out} is as it was`,
    );
  }
}
/**
 * --update NAME re-reads a dataset the manifest holds: naming one it does not hold (or a manifest
 * that does not exist yet) is refused, as a typo would otherwise merge it in full.
 */
function checkUpdated(writer: ManifestWriter, out: string, update: string[]): void {
  for (const name of update) {
    if (writer.hasDataset(name)) continue;
    const where = writer.isNew ? `${out} does not exist yet` : `${name} is not in ${out}`;
    const outcome = writer.isNew ? 'nothing written' : `${out} is as it was`;
    throw new DatasetError('BAD_ARGUMENT', `--update ${name}: ${where}, so there is nothing to update (without --update, ${name} is merged in full); ${outcome}`);
  }
}

/** A dataset already in the manifest that this run skips: neither --replace nor --update names it. */
function skipsDataset(writer: ManifestWriter, name: string, options: MergeDatasetsOptions): boolean {
  return writer.hasDataset(name) && !(options.replace ?? []).includes(name) && !(options.update ?? []).includes(name);
}

/**
 * With --split, opens each dataset this run reads (not those it skips) before anything is written: a
 * --split naming none of a dataset's splits is refused at once, in one line, rather than after the
 * datasets before it were read. Opening lists splits and files, it reads no sample.
 */
function checkSplits(writer: ManifestWriter, out: string, resolved: { spec: DatasetSpec; adapter: FormatAdapter }[], labels: string[], options: MergeDatasetsOptions): void {
  if (options.splits === undefined) return;
  for (const { spec, adapter } of resolved) {
    if (skipsDataset(writer, spec.name, options)) continue;
    try {
      adapter.open(spec.root, { labels, splits: options.splits, variant: spec.variant, taxonomyFile: spec.taxonomy, datasetName: spec.name });
    } catch (err) {
      if (!(err instanceof DatasetError)) throw err;
      throw new DatasetError(err.code, `${err.message}; ${writer.isNew ? `no manifest written (${out} does not exist)` : `${out} is as it was`}`);
    }
  }
}

/**
 * merge-datasets: reads each dataset and writes it into the manifest, one transaction per dataset.
 * Datasets already in the manifest are kept unless named in `replace`: skipped when given with the
 * folder they were merged from, refused (nothing written) when given with another folder. A new manifest appears only
 * when every dataset was merged; extending an existing one, a failed dataset leaves it as it was
 * before that dataset (the datasets committed before it stay).
 */
export async function mergeDatasets(out: string, specs: DatasetSpec[], options: MergeDatasetsOptions = {}): Promise<MergeRun> {
  const labels = readLabelNames();
  for (const name of options.update ?? []) {
    if (!specs.some((s) => s.name === name)) throw new DatasetError('BAD_ARGUMENT', `--update name "${name}" has no --dataset ${name}=PATH (the folder to re-read)`);
    if ((options.replace ?? []).includes(name)) throw new DatasetError('BAD_ARGUMENT', `--update ${name} and --replace ${name} contradict each other: --update re-reads the files that changed, --replace every file; give one`);
  }
  // Resolve every format before writing anything, so a bad folder fails fast.
  const resolved = specs.map((spec) => ({ spec, adapter: resolveFormat(spec, labels, options.splits) }));
  for (const { spec, adapter } of resolved) checkLoss(spec, adapter);
  const writer = ManifestWriter.open(out, labels, specs);
  try {
    checkUpdated(writer, path.resolve(out), options.update ?? []);
    // --update re-reads the folder a dataset was merged from: another folder is refused as without it.
    checkStoredRoots(writer, path.resolve(out), specs, options.replace ?? []);
    checkSplits(writer, path.resolve(out), resolved, labels, options);
  } catch (err) {
    writer.abandon();
    throw err;
  }
  const run: MergeRun = { summaries: [], skipped: [], newManifest: writer.isNew };
  let current: string | null = null;
  const work = (async () => {
    for (const { spec, adapter } of resolved) {
      const updating = (options.update ?? []).includes(spec.name);
      if (skipsDataset(writer, spec.name, options)) {
        writer.dropFinishedStaging(spec.name);
        run.skipped.push({
          dataset: spec.name,
          reason: writer.adopted.includes(spec.name)
            ? `merged by the interrupted run of this command (kept from its partial file)`
            : `already in the manifest; --replace ${spec.name} to redo it, --update ${spec.name} to re-read its changed files`,
        });
        continue;
      }
      current = spec.name;
      options.onDatasetStart?.(spec.name, adapter.name, spec.root);
      const opened = adapter.open(spec.root, { labels, splits: options.splits, variant: spec.variant, taxonomyFile: spec.taxonomy, datasetName: spec.name });
      run.summaries.push(await writer.addDataset(spec.name, spec.root, spec.loss === undefined ? opened : { ...opened, loss: spec.loss }, { ...options, update: updating }));
      current = null;
    }
  })();
  // An abort cannot wait for the pending read (a worker may be deep in a large mask): the writer is
  // given up at once, between two awaits, and the rest of `work` fails on the closed connection.
  let interrupt: (err: MergeInterrupted) => void = () => undefined;
  const interrupted = new Promise<never>((_, reject) => (interrupt = reject));
  const onAbort = () => {
    const newManifest = writer.isNew;
    const committed = run.summaries.map((s) => s.dataset);
    if (options.signal?.reason === KEEP_PROGRESS) {
      const kept = writer.suspend();
      interrupt(new MergeInterrupted(path.resolve(out), newManifest, committed, current, kept));
      return;
    }
    writer.abandon();
    interrupt(new MergeInterrupted(path.resolve(out), newManifest, committed, current));
  };
  if (options.signal?.aborted) onAbort();
  else options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    await Promise.race([work, interrupted]);
    writer.close();
  } catch (err) {
    const newManifest = writer.isNew;
    writer.abandon();
    // Let the abandoned work unwind: its temp indexes close, and its worker threads finish the mask in
    // hand and stop. Exiting while a worker is still in native code (a decoder being loaded) can abort
    // the process (SIGABRT, seen under load when this waited 1 s); a worker stuck in a read that
    // never returns (a FIFO, a dead network mount) is left after 5 s.
    // The timer is not unref'd: a worker whose terminate() is pending no longer keeps the loop alive,
    // and node would then wait at exit for the stuck thread.
    if (err instanceof MergeInterrupted) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([work.catch(() => undefined), new Promise((r) => (timer = setTimeout(r, 5000)))]);
      clearTimeout(timer);
    }
    if (!(err instanceof DatasetError)) throw err;
    // Say what became of the output: the user decides from this whether to rerun everything.
    const committed = run.summaries.map((s) => s.dataset);
    const target = path.resolve(out);
    const outcome = newManifest
      ? `no manifest written (${target} does not exist)`
      : committed.length > 0
        ? `${target} keeps ${committed.join(', ')} (committed before the failure); ${current ?? 'the failed dataset'} was rolled back`
        : `${target} is as it was`;
    throw new DatasetError(err.code, `${err.message}; ${outcome}`);
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
  }
  return run;
}
