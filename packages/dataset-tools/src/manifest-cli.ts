#!/usr/bin/env node
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { runCommandLine } from '@sentseg/common';
import { isDatasetError } from './errors.js';
import { manifestCommands } from './commands/manifest.js';

await runCommandLine(manifestCommands(yargs(hideBin(process.argv)).scriptName('manifest')), 'manifest', isDatasetError);
