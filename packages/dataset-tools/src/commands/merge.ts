/** The merge-datasets command: its options (shared with --help) and the run that prints and exits. */
import { EXIT, flushAndExit, integerOption, plural } from '@sentseg/common';
import os from 'node:os';
import path from 'node:path';
import type { Argv } from 'yargs';
import { DatasetError } from '../errors.js';
import { FORMATS } from '../formats/index.js';
import { ManifestReader } from '../manifest/reader.js';
import { problemLine } from './manifest.js';
import { KEEP_PROGRESS, MergeInterrupted, mergeDatasets, parseDatasetSpecs, type MergeDatasetsOptions, type MergeRun } from '../merge.js';
import { imageCounter } from '../image-counter.js';

const list = (v: unknown): string[] => (Array.isArray(v) ? v : v === undefined ? [] : [v]).flatMap((x) => String(x).split(',')).filter((x) => x !== '');

/** How many problems the end of a merge prints; `manifest problems` lists them all. */
const PROBLEMS_SHOWN = 5;

/**
 * The merge-datasets options and usage (the merge-datasets bin, or `sentseg merge-datasets`). The
 * text is plain sentences, so yargs can wrap it at any width; examples are short enough for one line.
 */
export function mergeDatasetsOptions(y: Argv, invocation = '$0') {
  return y
    .usage(
      `${invocation} --dataset NAME=PATH [--dataset NAME=PATH ...] --out manifest.sqlite\n\n` +
        'Reads segmentation datasets in their official layouts into one SQLite manifest. ' +
        `Formats: ${FORMATS.map((f) => f.name).join(', ')} (their layouts: packages/dataset-tools/README.md). ` +
        'The format of a dataset is --format NAME=FORMAT when given, else the format the dataset is named after, else the one that recognises the folder. ' +
        'A dataset already in the manifest is skipped when given with the folder it was merged from, and refused when given with another one (--replace NAME, or another name). ' +
        'A new manifest appears only when every dataset merged; an existing one is extended one dataset per transaction. ' +
        'A run killed outright continues where it stopped when the same command is run again (each dataset is written to OUT.merging-NAME in chunks first). ' +
        'Exit 0: merged with no problem. Exit 2: bad input, or files skipped (the manifest is written with the usable images and the problems are listed). Exit 130: interrupted (Ctrl-C). Exit 1: a bug.',
    )
    .option('dataset', { type: 'string', array: true, demandOption: true, describe: 'NAME=PATH of a dataset root (repeat)' })
    .option('out', { type: 'string', demandOption: true, describe: 'the manifest to create, or to extend (one dataset per transaction)' })
    .option('format', { type: 'string', array: true, describe: 'NAME=FORMAT when detection is not wanted' })
    .option('variant', { type: 'string', array: true, describe: 'NAME=VARIANT (sun-rgbd: mseg | official; mapillary-vistas: v1.2 | v2.0)' })
    .option('taxonomy', { type: 'string', array: true, describe: 'NAME=FILE: a taxonomy JSON (the form of manifests/taxonomy/*.json) replacing the format\'s built-in one' })
    .option('loss', {
      type: 'string',
      array: true,
      describe:
        'NAME=LOSS: the loss the trainer applies to that dataset, instead of its format\'s default (hd for dense masks, ld for OpenImages, wd for boxes). hd and ld need masks (ld ignores the 30% hardest pixels of each image: noisy or pseudo-labels), wd needs boxes',
    })
    .option('split', { type: 'string', array: true, describe: 'only these splits (dataset-native names, comma-separated; a dataset with none of them is refused, naming the ones it has)' })
    .option('limit', { coerce: integerOption('limit', 1), requiresArg: true, describe: 'at most this many images per dataset (quick runs)' })
    .option('workers', { coerce: integerOption('workers', 0), requiresArg: true, default: os.cpus().length, defaultDescription: 'one per core', describe: 'worker threads decoding masks (0 = none)' })
    .option('replace', { type: 'string', array: true, requiresArg: true, describe: 'redo these datasets if already in the manifest' })
    .option('update', {
      type: 'string',
      array: true,
      requiresArg: true,
      describe:
        'NAME: re-read only the files of that dataset whose size or mtime changed since it was merged (from the same folder, into this manifest); image ids stay the same; prints the images added, changed and removed. The result is what a full merge with the same options would write: with --limit or --split, the images they leave out are removed',
    })
    .option('keep-unmapped', { type: 'boolean', default: false, describe: 'add unmapped source classes as new labels named after them (with --taxonomy: your own class names)' })
    .option('histograms', { type: 'boolean', default: true, describe: 'decode masks for per-label pixel counts (--no-histograms: sizes only)' })
    .option('json', { type: 'boolean', default: false, describe: 'print the summary as JSON' })
    .example(`${invocation} --dataset city=/data/cityscapes --dataset ade=/data/ade --out m.sqlite`, '')
    .example(`${invocation} --dataset city=/data/cityscapes --update city --out m.sqlite`, '')
    .example(`${invocation} --dataset mine=/data/mine --format mine=generic --out m.sqlite`, '')
    .example(`${invocation} --dataset x=/data/x --taxonomy x=x.json --keep-unmapped --out m.sqlite`, '')
    .example(`${invocation} --dataset pseudo=/data/pseudo --loss pseudo=ld --out m.sqlite`, '');
}

export type MergeArgs = Awaited<ReturnType<ReturnType<typeof mergeDatasetsOptions>['parseAsync']>>;

/** The first problems this run recorded and their counts, read back from the written manifest. */
function runProblems(out: string, run: MergeRun) {
  const names = run.summaries.filter((s) => s.problems > 0).map((s) => s.dataset);
  if (names.length === 0) return { rows: 0, files: 0, first: [] as string[] };
  const reader = ManifestReader.open(out);
  try {
    const roots = new Map(reader.datasets().map((d) => [d.name, d.root]));
    const counts = names.map((n) => reader.problemCount(n));
    const first = names.flatMap((n) => reader.problems(n, PROBLEMS_SHOWN)).slice(0, PROBLEMS_SHOWN).map((p) => problemLine(p, roots));
    return { rows: counts.reduce((s, c) => s + c.rows, 0), files: counts.reduce((s, c) => s + c.files, 0), first };
  } finally {
    reader.close();
  }
}

/**
 * A dataset's summary line. The rate counts the images this run read: a resumed run or an --update
 * (which copies unchanged images) says how many those were, as the total would overstate the rate.
 */
export function summaryLine(s: MergeRun['summaries'][number]): string {
  const partial = s.resumedAfter !== undefined || s.update !== undefined;
  const images = `${plural(s.images, 'image').padStart(14)}${partial ? ` (${s.read.toLocaleString('en-US')} read in this run)` : ''}`;
  const rate = Math.round(s.read / Math.max(s.seconds, 1e-9)).toLocaleString('en-US');
  return `${s.dataset.padEnd(18)} ${s.format.padEnd(14)} ${images} ${plural(s.problems, 'problem').padStart(11)} ${s.seconds.toFixed(2)} s (${rate} images/s)`;
}

/** What merge-datasets says on stderr when it finds a dataset's staging file: continued from it, or started afresh and why. */
export function resumeLine(name: string, staged: Parameters<NonNullable<MergeDatasetsOptions['onResume']>>[1]): string {
  if (staged.discarded) return `${name}: ${staged.file}, left by an interrupted run, is not continued (${staged.discarded}); ${name} starts afresh`;
  const problems = staged.problems > 0 ? ` and ${plural(staged.problems, 'problem')}` : '';
  const were = staged.images === 1 && staged.problems === 0 ? 'was' : 'were';
  return `resuming ${name}: ${plural(staged.images, 'image')}${problems} (the first ${plural(staged.items, 'item')} of its listing) ${were} written by an interrupted run to ${staged.file}; continuing after them`;
}

/** The line after a resumed dataset's summary: how many of its images the interrupted run had written. */
export function continuedLine(dataset: string, images: number): string {
  return `${dataset}: continued an interrupted merge (${plural(images, 'image')} ${images === 1 ? 'was' : 'were'} already written)`;
}

export async function runMergeDatasets(args: MergeArgs): Promise<void> {
  const specs = parseDatasetSpecs(list(args.dataset), list(args.format), list(args.variant), list(args.taxonomy), list(args.loss));
  const bar = imageCounter('merge', !args.json);
  // Ctrl-C: the dataset being written is rolled back, a new manifest's partial file removed.
  // SIGTERM, SIGHUP (a scheduler, a closed session): stopped as a kill would stop it, the progress
  // kept for the same command to continue, but with every file closed and a line saying so.
  const controller = new AbortController();
  let stoppedBy: NodeJS.Signals = 'SIGINT';
  const onSigint = () => controller.abort();
  const onTerminate = (signal: NodeJS.Signals) => {
    stoppedBy = signal;
    controller.abort(KEEP_PROGRESS);
  };
  process.once('SIGINT', onSigint);
  process.once('SIGTERM', onTerminate);
  process.once('SIGHUP', onTerminate);
  let run: MergeRun;
  try {
    run = await mergeDatasets(args.out, specs, {
      splits: args.split ? list(args.split) : undefined,
      limit: args.limit,
      workers: args.workers,
      replace: list(args.replace),
      update: list(args.update),
      // Items per staging commit (default 2,000): a tuning knob, and how the tests kill a merge between commits.
      chunk: Number(process.env.SENTSEG_MERGE_CHUNK) > 0 ? Math.floor(Number(process.env.SENTSEG_MERGE_CHUNK)) : undefined,
      onResume: (name, staged) => void process.stderr.write(`${resumeLine(name, staged)}\n`),
      onEveryRead: (name, why) => void process.stderr.write(`${name}: --update reads every image again: ${why}\n`),
      keepUnmapped: args['keep-unmapped'],
      histograms: args.histograms,
      onProgress: (n, d) => bar.update(n, { what: d }),
      // Without a terminal there is no bar: one line per dataset says what is being read.
      onDatasetStart: (name, format, root) => void (process.stderr.isTTY ? undefined : process.stderr.write(`merging ${name} (${format}) from ${root}\n`)),
      signal: controller.signal,
    });
  } catch (err) {
    bar.stop();
    if (!(err instanceof MergeInterrupted)) throw err;
    if (err.kept === null) {
      process.stderr.write(`interrupted: ${err.message}\n`);
      return await flushAndExit(EXIT.interrupted);
    }
    await new Promise<void>((resolve) => process.stderr.write(`stopped by ${stoppedBy}: ${err.message}\n`, () => resolve()));
    // Every file is closed: the signal is raised again with its default action, so the process ends
    // as the signal ends it (a shell reports 128 + its number) at once. exit() would first wait for
    // the worker threads, and one stuck in a read that never returns (a FIFO, a dead mount) would
    // keep it waiting for ever.
    process.removeAllListeners(stoppedBy);
    process.kill(process.pid, stoppedBy);
    return;
  } finally {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onTerminate);
    process.off('SIGHUP', onTerminate);
  }
  bar.stop();
  const problems = runProblems(args.out, run);
  const images = run.summaries.reduce((s, x) => s + x.images, 0);
  if (args.json) {
    process.stdout.write(`${JSON.stringify({ ...run, problems: { total: problems.rows, files: problems.files, first: problems.first } }, null, 2)}\n`);
  } else {
    for (const s of run.summaries) {
      process.stdout.write(`${summaryLine(s)}\n`);
      if (s.resumedAfter) process.stdout.write(`${continuedLine(s.dataset, s.resumedAfter.images)}\n`);
      if (s.update) {
        const n = (x: number) => x.toLocaleString('en-US');
        const kept = s.update.everyRead === undefined ? ', the others kept' : `: every image, since ${s.update.everyRead}`;
        process.stdout.write(`${s.dataset}: updated: ${n(s.update.added)} added, ${n(s.update.changed)} changed, ${n(s.update.removed)} removed (${plural(s.update.reread, 'image')} re-read${kept})\n`);
      }
      if (s.indexedSampleOrder) process.stdout.write(`${args.out}: written before the images_in_sample_order index; built it in ${s.dataset}'s transaction (listing a dataset now reads the index alone, not a table row per sample)\n`);
    }
    for (const k of run.skipped) process.stdout.write(`${k.dataset}: skipped, ${k.reason}\n`);
    if (problems.rows > 0) {
      process.stdout.write(`problems (files skipped or suspect):\n`);
      for (const line of problems.first) process.stdout.write(`  ${line}\n`);
      if (problems.rows > problems.first.length) process.stdout.write(`  ... and ${(problems.rows - problems.first.length).toLocaleString('en-US')} more (manifest problems ${args.out} lists them)\n`);
    }
    // Every dataset skipped (already in the manifest, from the same folder): nothing was written.
    if (run.summaries.length === 0 && run.skipped.length > 0 && !run.newManifest) process.stdout.write(`${args.out} unchanged: nothing merged\n`);
    else process.stdout.write(`wrote ${args.out}\n`);
  }
  if (problems.rows > 0) {
    throw new DatasetError(
      'PROBLEMS',
      `${plural(problems.files, 'file')} skipped or suspect, ${plural(problems.rows, 'problem')} (listed above; manifest problems ${args.out} lists them all); ${path.basename(args.out)} holds the ${plural(images, 'usable image')} of this run`,
    );
  }
}
