#!/usr/bin/env node
import { runCommandLine } from '@sentseg/common';
import { isDatasetError, manifestCommands, mergeDatasetsOptions, runMergeDatasets } from '@sentseg/dataset-tools';
import { isLabelBankError, labelBankCommands } from '@sentseg/label-bank';
import { boxEmbeddingsCommand, evalCommand, isTrainerUserError, predictCommand, trainCommand } from '@sentseg/trainer';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { DEMO_DEFAULTS, runDemo } from './demo/index.js';
import { isDemoError } from './demo/errors.js';
import { defaultSharedDir } from './demo/shared-dir.js';

// One entry point over the packages: `sentseg label-bank ...` runs exactly what the `label-bank` bin runs.
const parser = yargs(hideBin(process.argv))
  .scriptName('sentseg')
  .usage('$0 <command>\n\nSemantic segmentation from sentences: every class label becomes the embedding of a sentence that describes it.')
  .command('merge-datasets', 'read datasets in their official layouts into one SQLite manifest', (y) => mergeDatasetsOptions(y, '$0 merge-datasets'), (args) => runMergeDatasets(args))
  .command('manifest', 'statistics, validation and recorded problems of a manifest', (y) => manifestCommands(y).demandCommand(1, 'name a command: stats, validate or problems'))
  .command('label-bank', 'label descriptions, CLIP sentence embeddings and the similarity report', (y) => labelBankCommands(y, 'sentseg label-bank'))
  .command(
    'demo',
    'the whole pipeline on bundled data: synthetic world → merge → label bank → train three ways × seeds → eval → predict → demo-out/report.html',
    (y) =>
      y
        .usage(
          '$0 demo [--out demo-out]\n\n' +
            'Writes a synthetic scene world in four dataset layouts (Cityscapes, ADE20K, COCO panoptic, generic) with different class names, ' +
            'merges it (plus the real samples under <shared>/datasets), builds a label bank (WordNet descriptions; CLIP and lexical-baseline embeddings), ' +
            'trains SegFormer-tiny three ways — (a) one dataset one-hot, (b) merged one-hot, (c) merged sentence embeddings — over several seeds, ' +
            'evaluates every run on every validation split and a held-out dataset, predicts held-out scenes, and writes report.html.',
        )
        .option('out', { type: 'string', default: 'demo-out', describe: 'output folder (its demo files are replaced)' })
        .option('shared', { type: 'string', default: defaultSharedDir(), defaultDescription: '$SENTSEG_SHARED, else ../shared beside the checkout', describe: 'the shared folder with models/ and datasets/' })
        .option('model', { type: 'string', describe: 'CLIP text tower folder in transformers.js layout (default: a real CLIP under <shared>/models; else a generated random-weight one, and the experiment uses the lexical baseline)' })
        .option('seeds', { type: 'string', default: DEMO_DEFAULTS.seeds.join(','), describe: 'training seeds, comma-separated (at least one)' })
        .option('steps', { type: 'number', default: DEMO_DEFAULTS.steps, describe: 'training steps of every run' })
        .option('scale', { type: 'number', default: DEMO_DEFAULTS.scale, describe: 'world size (1 = 48 training and 12 validation images per dataset; less for quick runs)' })
        .option('jobs', { type: 'number', describe: 'training runs at a time (default: cores, at most 2)' })
        .option('loss-resolution', { type: 'string', choices: ['output', 'label', 'both'], defaultDescription: "the trainer's losses.resolution", describe: 'where the pixel losses are taken (losses.resolution); both: (c) trained at each, compared' })
        .check((a) => {
          const seeds = String(a.seeds).split(',').map(Number);
          if (seeds.length === 0 || seeds.some((s) => !Number.isInteger(s))) throw new Error(`--seeds takes integers, comma-separated; got "${a.seeds}"`);
          if (!Number.isInteger(a.steps) || (a.steps as number) < 1) throw new Error('--steps must be a positive integer');
          if (!((a.scale as number) > 0 && (a.scale as number) <= 4)) throw new Error('--scale must be in (0, 4]');
          return true;
        }),
    async (args) => {
      await runDemo({ out: args.out, shared: args.shared, model: args.model, seeds: String(args.seeds).split(',').map(Number), steps: args.steps, scale: args.scale, jobs: args.jobs, lossResolution: args['loss-resolution'] as 'output' | 'label' | 'both' | undefined });
    },
  );

await runCommandLine(predictCommand(evalCommand(boxEmbeddingsCommand(trainCommand(parser)))), 'sentseg', (err) => isLabelBankError(err) || isTrainerUserError(err) || isDatasetError(err) || isDemoError(err));
