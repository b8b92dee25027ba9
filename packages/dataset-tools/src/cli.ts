#!/usr/bin/env node
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { runCommandLine } from '@sentseg/common';
import { isDatasetError } from './errors.js';
import { mergeDatasetsOptions, runMergeDatasets } from './merge-command.js';

const parser = yargs(hideBin(process.argv)).scriptName('merge-datasets');
await runCommandLine(parser.command('$0', false, (y) => mergeDatasetsOptions(y), (args) => runMergeDatasets(args)), 'merge-datasets', isDatasetError, { requireCommand: false });
