#!/usr/bin/env node
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { runCommandLine } from '@sentseg/common';
import { isDatasetError } from './errors.js';
import { mergeDatasetsOptions, runMergeDatasets } from './commands/merge.js';

// Options and usage on the top-level parser, not in the default command's builder: there yargs would
// print a stray "merge-datasets" line above the usage.
const parser = mergeDatasetsOptions(yargs(hideBin(process.argv)).scriptName('merge-datasets'));
await runCommandLine(parser.command('$0', false, (y) => y, (args) => runMergeDatasets(args)), 'merge-datasets', isDatasetError, { requireCommand: false });
