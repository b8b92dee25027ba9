// One way for the end-to-end tests to run a built command as a user does: a child process of node
// on the package's dist entry, output collected, exit code and signal kept.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { REPO } from './utils.js';

/** The built entry of every command. */
export const BIN = {
  sentseg: path.join(REPO, 'packages', 'cli', 'dist', 'cli.js'),
  labelBank: path.join(REPO, 'packages', 'label-bank', 'dist', 'cli.js'),
  mergeDatasets: path.join(REPO, 'packages', 'dataset-tools', 'dist', 'cli.js'),
  manifest: path.join(REPO, 'packages', 'dataset-tools', 'dist', 'manifest-cli.js'),
  sentsegModel: path.join(REPO, 'packages', 'trainer', 'dist', 'cli.js'),
} as const;

export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Wall time from start to close. */
  ms: number;
}

export interface CliOptions {
  cwd: string;
  /** Send SIGINT once stdout or stderr matches (a user's Ctrl-C at a known point). */
  interruptOn?: RegExp;
  /** Send SIGKILL after this many milliseconds (a crash at an arbitrary point). */
  killAfterMs?: number;
  /** Environment variables to set (or, given as undefined, to remove) for the child. */
  env?: Record<string, string | undefined>;
}

export interface StartedCli {
  child: ChildProcessWithoutNullStreams;
  stdout: () => string;
  stderr: () => string;
  done: Promise<CliRun>;
}

/** Starts `node <bin> ...args`; `done` resolves when it has closed. */
export function startCli(bin: string, args: string[], options: CliOptions): StartedCli {
  if (!existsSync(bin)) throw new Error(`${bin} is missing: run npm run build (npm test does)`);
  return startProgram(process.execPath, [bin, ...args], options);
}

/**
 * Runs any program (npm, bash, a linked bin) to its end. Tests never use spawnSync for commands
 * that take seconds: a blocked test worker misses vitest's RPC deadline under load.
 */
export function runProgram(file: string, args: string[], options: CliOptions): Promise<CliRun> {
  return startProgram(file, args, options).done;
}

function startProgram(file: string, args: string[], options: CliOptions): StartedCli {
  const started = Date.now();
  const env: NodeJS.ProcessEnv = { ...process.env, FORCE_COLOR: '0' };
  for (const [key, value] of Object.entries(options.env ?? {})) {
    if (value === undefined) delete env[key];
    else env[key] = value;
  }
  const child = spawn(file, args, { cwd: options.cwd, env });
  let stdout = '';
  let stderr = '';
  let interrupted = false;
  const watch = () => {
    if (options.interruptOn && !interrupted && options.interruptOn.test(stdout + stderr)) {
      interrupted = true;
      child.kill('SIGINT');
    }
  };
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
    watch();
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
    watch();
  });
  if (options.killAfterMs !== undefined) setTimeout(() => child.kill('SIGKILL'), options.killAfterMs);
  const done = new Promise<CliRun>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr, ms: Date.now() - started })));
  return { child, stdout: () => stdout, stderr: () => stderr, done };
}

/** Runs `node <bin> ...args` to its end. */
export function runCli(bin: string, args: string[], options: CliOptions): Promise<CliRun> {
  return startCli(bin, args, options).done;
}
