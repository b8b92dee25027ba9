#!/usr/bin/env node
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { labelBankCommands, runCommandLine } from './commands.js';

await runCommandLine(labelBankCommands(yargs(hideBin(process.argv)).scriptName('label-bank')), 'label-bank');
