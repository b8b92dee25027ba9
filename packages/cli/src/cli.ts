#!/usr/bin/env node
import { runCommandLine } from '@sentseg/common';
import { isDatasetError, manifestCommands, mergeDatasetsOptions, runMergeDatasets } from '@sentseg/dataset-tools';
import { isLabelBankError, labelBankCommands } from '@sentseg/label-bank';
import { evalCommand, isTrainerUserError, predictCommand, trainCommand } from '@sentseg/trainer';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { defaultSharedDir, runDemo } from './demo.js';

// One entry point over the packages: `sentseg label-bank ...` runs exactly what the `label-bank` bin runs.
const parser = yargs(hideBin(process.argv))
  .scriptName('sentseg')
  .usage('$0 <command>\n\nSemantic segmentation from sentences: every class label becomes the embedding of a sentence that describes it.')
  .command('merge-datasets', 'read datasets in their official layouts into one SQLite manifest', (y) => mergeDatasetsOptions(y, '$0 merge-datasets'), (args) => runMergeDatasets(args))
  .command('manifest', 'statistics and validation of a manifest', (y) => manifestCommands(y).demandCommand(1, 'name a command: stats or validate'))
  .command('label-bank', 'label descriptions, CLIP sentence embeddings and the similarity report', (y) => labelBankCommands(y))
  .command(
    'demo',
    'the main job on bundled data: label bank from the shipped descriptions, embeddings, similarity report',
    (y) =>
      y
        .option('out', { type: 'string', default: 'demo-out', describe: 'output folder' })
        .option('shared', { type: 'string', default: defaultSharedDir(), describe: 'the shared folder with models/ and datasets/' })
        .option('model', { type: 'string', describe: 'text encoder folder (default: a real CLIP under <shared>/models, else a generated one)' }),
    async (args) => {
      await runDemo({ out: args.out, shared: args.shared, model: args.model });
    },
  );

await runCommandLine(predictCommand(evalCommand(trainCommand(parser))), 'sentseg', (err) => isLabelBankError(err) || isTrainerUserError(err) || isDatasetError(err));
