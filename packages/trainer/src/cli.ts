#!/usr/bin/env node
import { runCommandLine } from '@sentseg/common';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { boxEmbeddingsCommand, evalCommand, isTrainerUserError, predictCommand, trainCommand } from './commands.js';

await runCommandLine(predictCommand(evalCommand(boxEmbeddingsCommand(trainCommand(yargs(hideBin(process.argv)).scriptName('sentseg-model'))))), 'sentseg-model', isTrainerUserError);
