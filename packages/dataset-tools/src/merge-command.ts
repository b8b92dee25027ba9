import os from 'node:os';
import type { Argv } from 'yargs';
import { FORMATS } from './formats/index.js';
import { mergeDatasets, parseDatasetSpecs } from './merge.js';
import { counterBar } from './run-cli.js';

const list = (v: unknown): string[] => (Array.isArray(v) ? v : v === undefined ? [] : [v]).flatMap((x) => String(x).split(',')).filter((x) => x !== '');

/** The merge-datasets options and usage (the merge-datasets bin, or `sentseg merge-datasets`). */
export function mergeDatasetsOptions(y: Argv, invocation = '$0') {
  return y
    .usage(
      `${invocation} --dataset NAME=PATH [--dataset NAME=PATH ...] --out manifest.sqlite\n\nReads segmentation datasets in their official layouts into one SQLite manifest. ` +
        `Formats: ${FORMATS.map((f) => `${f.name} (${f.title})`).join('; ')}. The format is detected, or taken from the dataset name, or from --format.`,
    )
    .option('dataset', { type: 'string', array: true, demandOption: true, describe: 'NAME=PATH of a dataset root (repeat)' })
    .option('out', { type: 'string', demandOption: true, describe: 'manifest file (created, or extended one dataset at a time)' })
    .option('format', { type: 'string', array: true, describe: 'NAME=FORMAT when detection is not wanted' })
    .option('variant', { type: 'string', array: true, describe: 'NAME=VARIANT (sun-rgbd: mseg | official)' })
    .option('taxonomy', { type: 'string', array: true, describe: 'NAME=FILE: a taxonomy JSON (the form of manifests/taxonomy/*.json) replacing the format\'s built-in one' })
    .option('split', { type: 'string', array: true, describe: 'only these splits (dataset-native names, comma-separated)' })
    .option('limit', { type: 'number', describe: 'at most this many images per dataset (quick runs)' })
    .option('workers', { type: 'number', default: os.cpus().length, describe: 'worker threads decoding masks (0 = none)' })
    .option('replace', { type: 'string', array: true, describe: 'redo these datasets if already in the manifest' })
    .option('keep-unmapped', { type: 'boolean', default: false, describe: 'add unmapped source classes as new labels' })
    .option('histograms', { type: 'boolean', default: true, describe: 'decode masks for per-label pixel counts (--no-histograms: sizes only)' })
    .option('json', { type: 'boolean', default: false, describe: 'print the summary as JSON' })
    .example(`${invocation} --dataset cityscapes=/data/cityscapes --dataset ade20k=/data/ADEChallengeData2016 --out manifest.sqlite`, '')
    .example(`${invocation} --dataset mine=/data/mine --format mine=generic --out manifest.sqlite --limit 100`, '')
    .example(`${invocation} --dataset ade=/data/ADEChallengeData2016 --taxonomy ade=my-ade.json --keep-unmapped --out manifest.sqlite`, 'own class names: "unmapped" classes become labels named after them');
}

export type MergeArgs = Awaited<ReturnType<ReturnType<typeof mergeDatasetsOptions>['parseAsync']>>;

export async function runMergeDatasets(args: MergeArgs): Promise<void> {
  const specs = parseDatasetSpecs(list(args.dataset), list(args.format), list(args.variant), list(args.taxonomy));
  const bar = args.json ? { update: () => undefined, stop: () => undefined } : counterBar('merge');
  const run = await mergeDatasets(args.out, specs, {
    splits: args.split ? list(args.split) : undefined,
    limit: args.limit,
    workers: args.workers,
    replace: list(args.replace),
    keepUnmapped: args['keep-unmapped'],
    histograms: args.histograms,
    onProgress: (n, d) => bar.update(n, d),
  });
  bar.stop();
  if (args.json) {
    process.stdout.write(`${JSON.stringify(run, null, 2)}\n`);
    return;
  }
  for (const s of run.summaries) {
    process.stdout.write(`${s.dataset.padEnd(18)} ${s.format.padEnd(14)} ${String(s.images).padStart(7)} images ${String(s.problems).padStart(5)} problems ${s.seconds.toFixed(2)} s (${(s.images / Math.max(s.seconds, 1e-9)).toFixed(0)} images/s)\n`);
  }
  for (const k of run.skipped) process.stdout.write(`${k.dataset}: skipped, ${k.reason}\n`);
  process.stdout.write(`wrote ${args.out}\n`);
}
