#!/usr/bin/env node
import { runCommandLine } from '@sentseg/common';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { isLabelBankError, labelBankCommands } from './commands.js';

await runCommandLine(labelBankCommands(yargs(hideBin(process.argv)).scriptName('label-bank')), 'label-bank', isLabelBankError);
