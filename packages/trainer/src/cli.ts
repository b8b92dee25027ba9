#!/usr/bin/env node
import { runCommandLine } from '@sentseg/common';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { evalCommand, isTrainerUserError, trainCommand } from './commands.js';

await runCommandLine(evalCommand(trainCommand(yargs(hideBin(process.argv)).scriptName('sentseg-train'))), 'sentseg-train', isTrainerUserError);
