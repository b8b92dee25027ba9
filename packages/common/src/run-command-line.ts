import type { Argv } from 'yargs';
import { flushAndExit } from './exit.js';

/** The one exit-code rule of every sentseg command. */
export const EXIT = {
  /** The command did all it was asked. */
  ok: 0,
  /** A bug: the stack is printed. */
  bug: 1,
  /** Bad input or usage, or a run that skipped inputs: one line saying what, never a stack. */
  badInput: 2,
  /** Stopped by Ctrl-C (128 + SIGINT) after saving what can be resumed. */
  interrupted: 130,
} as const;

/**
 * Runs a sentseg command line: help, usage errors (exit 2), the package's own typed errors
 * (`isUserError`: exit 2 with the message), anything else (a bug: exit 1 with the stack).
 * The process ends only after stdout and stderr have drained, so piped output is never cut.
 */
export async function runCommandLine(
  parser: Argv,
  name: string,
  isUserError: (err: unknown) => boolean,
  options: { requireCommand?: boolean } = {},
): Promise<never> {
  // `sentseg ... | head` closes the pipe early: that is the reader's choice, not an error. Nothing
  // more can reach a closed pipe, so exiting here loses nothing (flushAndExit would wait on it).
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(EXIT.ok);
    throw err;
  });
  // `sentseg train ... 2>&1 | head` closes stderr as well: a long run (a training, a merge) then goes
  // on to its end without its progress lines, instead of dying mid-step with nothing said (an
  // unhandled EPIPE there ended the process with 7 and left a run folder with no checkpoint).
  process.stderr.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE' || err.code === 'ERR_STREAM_DESTROYED') return;
    throw err;
  });
  let usageError: string | undefined;
  let failedCommand = name;
  const withCommand = options.requireCommand === false ? parser : parser.demandCommand(1, 'name a command');
  const configured = withCommand
    .strict()
    .help()
    .alias('h', 'help')
    .version(false)
    .wrap(Math.min(110, process.stdout.columns ?? 100))
    // yargs hands usage mistakes (unknown option, a failed .check) over with a message, and an error
    // thrown by a command's handler with none: only the latter can be a bug.
    .fail((msg: string | null, err: Error | undefined, usage: unknown) => {
      if (msg === null || msg === undefined) throw err;
      usageError = msg;
      failedCommand = commandOfUsage(usage, name);
      throw err ?? new Error(msg);
    });
  try {
    await configured.parseAsync();
    return await flushAndExit(EXIT.ok);
  } catch (err) {
    if (usageError !== undefined) {
      process.stderr.write(`error: ${readableUsageError(usageError, process.argv.slice(2))}\nrun ${failedCommand} --help for usage\n`);
      return await flushAndExit(EXIT.badInput);
    }
    if (isUserError(err)) {
      process.stderr.write(`error: ${(err as Error).message}\n`);
      return await flushAndExit(EXIT.badInput);
    }
    process.stderr.write(`error: ${(err as Error)?.stack ?? String(err)}\n`);
    return await flushAndExit(EXIT.bug);
  }
}

/**
 * yargs' "Unknown arguments: bogus-flag, bogusFlag" as the user typed it: "unknown option
 * --bogus-flag". yargs lists an option under its kebab and camel names and strips "no-" from a
 * negated one (--no-such → "such"); each is named once, as it appears in `argv`. A word that is
 * no option (a mistyped command, an extra positional) is quoted. Any other message is returned unchanged.
 */
export function readableUsageError(message: string, argv: string[]): string {
  const match = /^Unknown arguments?: (.*)$/.exec(message);
  if (!match) return message;
  const listed = (match[1] as string).split(', ').filter((s) => s !== '');
  const kebab = (name: string) => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
  const typed = argv.filter((a) => a.startsWith('-')).map((a) => a.split('=')[0] as string);
  const named: string[] = [];
  for (const name of listed) {
    const candidates = [`--${name}`, `--${kebab(name)}`, `--no-${name}`, `--no-${kebab(name)}`, `-${name}`];
    const found = typed.find((t) => candidates.includes(t));
    const shown = found ?? (argv.includes(name) ? `"${name}"` : `--${kebab(name)}`);
    if (!named.includes(shown)) named.push(shown);
  }
  const options = named.filter((n) => n.startsWith('-'));
  const words = named.filter((n) => !n.startsWith('-'));
  const parts: string[] = [];
  if (options.length > 0) parts.push(`unknown option${options.length > 1 ? 's' : ''} ${options.join(', ')}`);
  if (words.length > 0) parts.push(`unknown command or argument${words.length > 1 ? 's' : ''} ${words.join(', ')}`);
  return parts.join('; ');
}

/**
 * The command a usage mistake was made in (`label-bank embed`), read from the usage line yargs
 * declared for it ("$0 embed [options]"): its words up to the first placeholder or option. yargs
 * hands its usage object to .fail as the third argument; the program's name when it has none.
 */
function commandOfUsage(usage: unknown, name: string): string {
  const getUsage = (usage as { getUsage?: unknown } | null)?.getUsage;
  if (typeof getUsage !== 'function') return name;
  const lines = (getUsage as () => unknown)() as unknown;
  const line = Array.isArray(lines) && Array.isArray(lines[0]) ? lines[0][0] : undefined;
  if (typeof line !== 'string') return name;
  const words = line.split(/\s+/).slice(1);
  const end = words.findIndex((w) => /^[-<[]/.test(w));
  return [name, ...(end < 0 ? words : words.slice(0, end))].join(' ');
}
