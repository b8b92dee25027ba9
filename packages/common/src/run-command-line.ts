import type { Argv } from 'yargs';

/**
 * Runs a sentseg command line: help, usage errors (exit 2), the package's own typed errors
 * (`isUserError`: exit 2 with the message), anything else (a bug: exit 1 with the stack).
 */
export async function runCommandLine(
  parser: Argv,
  name: string,
  isUserError: (err: unknown) => boolean,
  options: { requireCommand?: boolean } = {},
): Promise<never> {
  const withCommand = options.requireCommand === false ? parser : parser.demandCommand(1, 'name a command');
  const configured = withCommand
    .strict()
    .help()
    .alias('h', 'help')
    .version(false)
    .wrap(Math.min(110, process.stdout.columns ?? 100))
    .fail((msg, err) => {
      if (err) throw err;
      process.stderr.write(`error: ${msg}\nrun ${name} --help for usage\n`);
      process.exit(2);
    });
  try {
    await configured.parseAsync();
    process.exit(0);
  } catch (err) {
    if (isUserError(err)) {
      process.stderr.write(`error: ${(err as Error).message}\n`);
      process.exit(2);
    }
    process.stderr.write(`error: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  }
}
