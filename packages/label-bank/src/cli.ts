#!/usr/bin/env node
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { labelBankCommands, reportError } from './commands.js';

const parser = labelBankCommands(yargs(hideBin(process.argv)).scriptName('label-bank'))
  .help()
  .alias('h', 'help')
  .version(false)
  .wrap(Math.min(110, process.stdout.columns ?? 100))
  .fail((msg, err) => {
    if (err) throw err;
    process.stderr.write(`error: ${msg}\nrun label-bank --help for usage\n`);
    process.exit(2);
  });

try {
  await parser.parseAsync();
  process.exit(0);
} catch (err) {
  process.exit(reportError(err));
}
