// Every command's --help, read the way a new user reads it: each option says what it does, and the
// text is wrapped by yargs alone (a '\n' inside a sentence made lines like "given)," or an example
// broken over four lines). Walks every bin and every subcommand its help lists.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import path from 'node:path';
import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { REPO } from './utils.js';
import { runCli } from './run-cli.js';

/** yargs wraps at min(110, columns); a pipe has no columns, so 100 here (see runCommandLine). */
const WIDTH = 100;
const BINS = ['sentseg', 'label-bank', 'merge-datasets', 'manifest', 'sentseg-model'];
const SECTION = /^(Commands|Options|Positionals|Examples):$/;

const run = promisify(execFile);

/** The --help text of a command (a failing --help rejects, naming the command). Never blocks the event loop: vitest's RPC needs it. */
async function help(command: string[]): Promise<string> {
  const { stdout } = await run(path.join(REPO, 'node_modules', '.bin', command[0] as string), [...command.slice(1), '--help'], { cwd: REPO, env: { ...process.env, FORCE_COLOR: '0' } });
  return stdout;
}

/** Every command path reachable from the bins, with its help text. */
async function allHelps(): Promise<{ command: string; text: string }[]> {
  const out: { command: string; text: string }[] = [];
  const visit = async (command: string[]): Promise<void> => {
    const text = await help(command);
    out.push({ command: command.join(' '), text });
    const commands = section(text, 'Commands');
    for (const line of commands) {
      const m = new RegExp(`^  ${command.join(' ')} ([a-z][\\w-]*)`).exec(line);
      if (m && m[1] !== undefined) await visit([...command, m[1]]);
    }
  };
  for (const bin of BINS) await visit([bin]);
  return out;
}

function section(text: string, name: string): string[] {
  const lines = text.split('\n');
  const start = lines.indexOf(`${name}:`);
  if (start < 0) return [];
  const rest = lines.slice(start + 1);
  const end = rest.findIndex((l) => SECTION.test(l));
  return end < 0 ? rest : rest.slice(0, end);
}

const helps = await allHelps();

describe('--help of every command', () => {
  it('covers the bins and their subcommands', () => {
    const names = helps.map((h) => h.command);
    for (const c of ['sentseg demo', 'sentseg train', 'sentseg eval', 'sentseg predict', 'sentseg label-bank embed', 'sentseg manifest stats', 'label-bank fetch', 'manifest validate', 'merge-datasets']) expect(names).toContain(c);
  });

  it.each(helps)('$command: every option has a description', ({ text }) => {
    const undescribed = [...section(text, 'Options'), ...section(text, 'Positionals')]
      .map((line) => /^\s+(?:-\w, )?(--?[\w-]+|[a-z][\w-]*)\s+(.*)$/.exec(line))
      .filter((m): m is RegExpExecArray => m !== null && /^\s{0,8}(-|[a-z])/.test(m.input))
      .filter((m) => (m[2] as string).replace(/\[[^\]]*\]/g, '').trim() === '')
      .map((m) => m[1]);
    expect(undescribed).toEqual([]);
  });

  it.each(helps)('$command: reads the same on every machine (no path of this checkout, no core count in a default)', ({ text }) => {
    // A machine-specific default changes the wrapping: CI's shorter path once joined a description to its tags.
    expect(text).not.toContain(path.dirname(REPO));
    expect(text).not.toMatch(/--workers[^\n]*\[default: \d+\]/);
  });

  it.each(helps)('$command: no description runs into its [type] tags', ({ text }) => {
    const joined = section(text, 'Options').filter((line) => /[^ ]\[(string|number|boolean|array|required|default|choices)/.test(line));
    expect(joined).toEqual([]);
  });

  it.each(helps)('$command: the text before the option table is wrapped by yargs alone (no line broken early)', ({ text }) => {
    const lines = text.split('\n');
    const head = lines.slice(0, Math.max(0, lines.findIndex((l) => SECTION.test(l))));
    const early: string[] = [];
    head.forEach((line, i) => {
      const next = head[i + 1];
      if (line === '' || next === undefined || next === '') return;
      const nextWord = next.trimStart().split(' ')[0] as string;
      // A greedy wrapper breaks a line only when the next word does not fit on it.
      if (line.length + 1 + nextWord.length <= WIDTH) early.push(`${line} ⏎ ${nextWord}`);
    });
    expect(early).toEqual([]);
  });

  it.each(helps.filter((h) => section(h.text, 'Examples').length > 0))('$command: every example is one line that can be copied', ({ command, text }) => {
    const bin = command.split(' ')[0] as string;
    const broken = section(text, 'Examples').filter((l) => l.trim() !== '' && !l.startsWith(`  ${bin} `));
    expect(broken).toEqual([]);
  });
});

describe('benchmark --help', () => {
  it('scale-bench --help says what it measures and lists no internal option', async () => {
    const { stdout } = await run(process.execPath, [path.join(REPO, 'packages', 'dataset-tools', 'dist', 'bench', 'scale-bench.js'), '--help'], { cwd: REPO, env: { ...process.env, FORCE_COLOR: '0' } });
    expect(stdout).toMatch(/^scale-bench\.js \[--scale N \.\.\.\].*\n\nMeasures merge-datasets at real scale/);
    for (const internal of ['--child', '--root', '--name', '--out']) expect(stdout).not.toContain(internal);
    for (const option of ['--scale', '--formats', '--data', '--keep', '--workers']) expect(stdout).toContain(option);
  });

  it('scale-bench with an unknown --formats entry: one line, exit 2, and no temp folder left behind', async () => {
    const before = new Set(readdirSync(tmpdir()).filter((f) => f.startsWith('sentseg-scale-bench-')));
    const r = await runCli(path.join(REPO, 'packages', 'dataset-tools', 'dist', 'bench', 'scale-bench.js'), ['--formats', 'nosuch', '--scale', '10'], { cwd: REPO });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('error: --formats: unknown format "nosuch" (cityscapes, objects365, openimages, coco-panoptic)\n');
    expect(readdirSync(tmpdir()).filter((f) => f.startsWith('sentseg-scale-bench-') && !before.has(f))).toEqual([]);
  });

  it('infer-bench --help prints its usage and measures nothing (it was refused as an unknown argument)', async () => {
    const help = await runCli(path.join(REPO, 'packages', 'trainer', 'dist', 'bench', 'infer-bench.js'), ['--help'], { cwd: REPO });
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^usage: infer-bench\.js \[--samples ade20k,sun .*\n\nWithout arguments \(npm run bench\)/);
    expect(help.stdout).not.toContain('inference bench:');
    expect(help.stderr).toBe('');
  });

  it('train-bench --help names --rounds; --rounds without --backend, or not a positive integer, is one line and exit 2', async () => {
    const bench = path.join(REPO, 'packages', 'trainer', 'dist', 'bench', 'train-bench.js');
    const help = await runCli(bench, ['--help'], { cwd: REPO });
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^usage: train-bench\.js \[--backend wasm\|cpu\|tensorflow \[--rounds N\]\]/);
    expect(help.stdout).toContain('--rounds N (with --backend) repeats ours-then-PyTorch N times and prints the median ratio');
    expect(help.stdout).not.toContain('trainer bench:');
    const alone = await runCli(bench, ['--rounds', '3'], { cwd: REPO });
    expect(alone.code).toBe(2);
    expect(alone.stderr).toBe('train-bench: --rounds needs --backend (rounds of one backend against PyTorch)\n');
    const zero = await runCli(bench, ['--backend', 'wasm', '--rounds', '0'], { cwd: REPO });
    expect(zero.code).toBe(2);
    expect(zero.stderr).toBe('train-bench: --rounds takes a positive integer, got "0"\n');
    expect(zero.stdout).toBe('');
  });

  it('train-bench --backend NAME for a backend that does not load: says so, runs no PyTorch, exit 2', async () => {
    const bench = path.join(REPO, 'packages', 'trainer', 'dist', 'bench', 'train-bench.js');
    const r = await runCli(bench, ['--backend', 'tensorflow', '--steps', '1'], { cwd: REPO });
    // Where tfjs-node does load (an opt-in install), the bench runs instead: nothing to check here.
    if (!r.stdout.includes('backend tensorflow: not available')) return;
    expect(r.code).toBe(2);
    expect(r.stdout).not.toContain('PyTorch peer');
    expect(r.stdout).not.toContain('ratio ours/PyTorch');
  }, 120_000);

  it('train-memory-bench --help prints its usage and measures nothing; sizes that are not VARIANT CROP BATCH triples are exit 2', async () => {
    const bench = path.join(REPO, 'packages', 'trainer', 'dist', 'bench', 'train-memory-bench.js');
    const help = await runCli(bench, ['--help'], { cwd: REPO });
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^usage: train-memory-bench\.js \[VARIANT CROP BATCH\]\.\.\.\n\nTimes one SegFormer training step/);
    expect(help.stdout).not.toContain('training-memory bench:');
    const bad = await runCli(bench, ['b0', '512'], { cwd: REPO });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe('error: expected sizes as VARIANT CROP BATCH triples (variant tiny or b0 or b1 or b2 or b3 or b4 or b5, crop a multiple of 32, batch ≥ 1), got "b0 512"\nrun train-memory-bench.js --help for usage\n');
  });
});
