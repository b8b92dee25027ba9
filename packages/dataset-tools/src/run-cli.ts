import cliProgress from 'cli-progress';
import type { Argv } from 'yargs';
import { DatasetError } from './errors.js';

/** A counter bar on stderr when it is a terminal. */
export function counterBar(label: string): { update(n: number, what: string): void; stop(): void } {
  if (process.stderr.isTTY !== true) return { update: () => undefined, stop: () => undefined };
  const bar = new cliProgress.SingleBar({ format: `${label} {value} images | {what}`, stream: process.stderr }, cliProgress.Presets.shades_classic);
  bar.start(0, 0, { what: '' });
  return { update: (n, what) => bar.update(n, { what }), stop: () => bar.stop() };
}

/** Parses and runs a command line: usage and dataset errors exit 2, bugs exit 1. */
export async function runDatasetCli(parser: Argv, name: string): Promise<never> {
  try {
    await parser
      .strict()
      .help()
      .alias('h', 'help')
      .version(false)
      .wrap(Math.min(110, process.stdout.columns ?? 100))
      .fail((msg, err) => {
        if (err) throw err;
        process.stderr.write(`error: ${msg}\nrun ${name} --help for usage\n`);
        process.exit(2);
      })
      .parseAsync();
    process.exit(0);
  } catch (err) {
    if (err instanceof DatasetError) {
      process.stderr.write(`error: ${err.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`error: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  }
}
