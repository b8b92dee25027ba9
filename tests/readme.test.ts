// The READMEs' commands are the first thing a new user types. This runs the root README's
// first-hour block as written, and checks every other command example against the real --help of
// the command it names, so a renamed flag or a bare `label-bank` (not on PATH) fails here.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO, SHARED } from './utils.js';
import { runProgram } from './run-cli.js';

const BINS = ['sentseg', 'label-bank', 'merge-datasets', 'manifest', 'sentseg-model'];
const READMES = ['README.md', ...readdirSync(path.join(REPO, 'packages')).map((p) => path.join('packages', p, 'README.md'))].filter((f) => existsSync(path.join(REPO, f)));

/** The shell commands of a markdown file's sh code blocks, continuation lines joined, comments dropped. */
function shellCommands(markdown: string): string[] {
  const blocks = [...markdown.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1] as string);
  return blocks.flatMap((b) => b.replace(/\\\n\s*/g, '').split('\n')).map(stripComment).map((l) => l.trim()).filter((l) => l !== '');
}

function stripComment(line: string): string {
  let quote = '';
  for (let i = 0; i < line.length; i++) {
    const c = line[i] as string;
    if (quote) quote = c === quote ? '' : quote;
    else if (c === '"' || c === "'") quote = c;
    else if (c === '#' && (i === 0 || line[i - 1] === ' ')) return line.slice(0, i);
  }
  return line;
}

/** Shell words of one simple command (quotes removed; no expansions are used in the READMEs). */
function words(line: string): string[] {
  return [...line.matchAll(/"([^"]*)"|'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2] ?? (m[3] as string));
}

// Child processes are awaited, never run synchronously: a blocked test worker misses vitest's RPC deadline.
const exec = promisify(execFile);
const helpCache = new Map<string, Promise<string>>();
function helpOf(command: string[]): Promise<string> {
  const key = command.join(' ');
  let help = helpCache.get(key);
  if (help === undefined) {
    help = exec(path.join(REPO, 'node_modules', '.bin', command[0] as string), [...command.slice(1), '--help'], { cwd: REPO, env: { ...process.env, FORCE_COLOR: '0' } }).then((r) => r.stdout);
    helpCache.set(key, help);
  }
  return help;
}

const examples = READMES.flatMap((file) => shellCommands(readFileSync(path.join(REPO, file), 'utf8')).map((line) => ({ file, line })));

describe('README command examples', () => {
  it("the package table's command column names the bins npm links for that package", () => {
    const rows = [...readFileSync(path.join(REPO, 'README.md'), 'utf8').matchAll(/^\| `(packages\/[^`]+)` \| ([^|]*) \|/gm)];
    expect(rows.length).toBeGreaterThan(0);
    for (const [, pkg, cell] of rows) {
      const bins = Object.keys((JSON.parse(readFileSync(path.join(REPO, pkg as string, 'package.json'), 'utf8')) as { bin?: Record<string, string> }).bin ?? {});
      // Backticked names outside parentheses are commands a user types; inside them, its subcommands.
      const named = [...(cell as string).replace(/\([^)]*\)/g, '').matchAll(/`([^`]+)`/g)].map((m) => m[1]);
      for (const name of named) expect(bins, `${pkg}: ${cell}`).toContain(name);
    }
  });

  it('the READMEs hold examples of every command', () => {
    const named = new Set(examples.filter((e) => e.line.startsWith('npx ')).map((e) => words(e.line)[1]));
    for (const bin of ['sentseg', 'label-bank', 'merge-datasets', 'manifest']) expect(named).toContain(bin);
  });

  it.each(examples.filter((e) => BINS.includes(words(e.line)[0] as string)))('$file: "$line" is run through npx (the bins are not on PATH after npm ci)', ({ line }) => {
    expect(line).toMatch(/^npx /);
  });

  it.each(examples.filter((e) => e.line.startsWith('npx ') && BINS.includes(words(e.line)[1] as string)))('$file: every flag of "$line" is in its command\'s --help', async ({ line }) => {
    const w = words(line).slice(1);
    const command = [w[0] as string];
    // Subcommands: the words before the first flag that the parent's help lists as commands.
    for (const word of w.slice(1)) {
      if (word.startsWith('-')) break;
      if (!new RegExp(`^\\s+${command.join(' ')} ${word}\\b`, 'm').test(await helpOf(command))) break;
      command.push(word);
    }
    const help = await helpOf(command);
    for (const flag of w.filter((x) => x.startsWith('--'))) {
      const name = flag.split('=')[0] as string;
      const listed = name.startsWith('--no-') ? help.includes(`--${name.slice(5)}`) || help.includes(name) : help.includes(name);
      expect(listed, `${name} is not in \`${command.join(' ')} --help\``).toBe(true);
    }
  });
});

const FIRST_HOUR = /<!-- first-hour[^>]*-->\n```sh\n([\s\S]*?)```/;

describe.skipIf(!existsSync(path.join(SHARED, 'datasets')))('the README\'s first hour, typed as written', () => {
  const cache = path.join(REPO, '.cache');
  mkdirSync(cache, { recursive: true });
  // Inside the checkout, so npx finds its bins, exactly as from the checkout's root.
  const cwd = mkdtempSync(path.join(cache, 'readme-first-hour-'));
  afterAll(() => rmSync(cwd, { recursive: true, force: true }));

  it('every line exits 0 and the files it promises are there', async () => {
    const block = FIRST_HOUR.exec(readFileSync(path.join(REPO, 'README.md'), 'utf8'));
    expect(block, 'README.md has no first-hour block').not.toBeNull();
    const lines = shellCommands(`\`\`\`sh\n${(block as RegExpExecArray)[1]}\`\`\``);
    expect(lines.length).toBeGreaterThanOrEqual(8);
    for (const line of lines) {
      const r = await runProgram('bash', ['-c', line.replaceAll('../shared/', `${SHARED}/`)], { cwd });
      expect(r.code, `${line}\n${r.stdout.slice(-2000)}\n${r.stderr.slice(-2000)}`).toBe(0);
    }
    for (const file of ['manifest.sqlite', 'label-bank.sqlite', 'run/config.json', 'run/metrics.jsonl']) expect(existsSync(path.join(cwd, 'first-hour', file)), file).toBe(true);
    const photos = readdirSync(path.join(SHARED, 'datasets', 'photos')).filter((f) => f.endsWith('.png'));
    const written = readdirSync(path.join(cwd, 'first-hour', 'predictions'));
    for (const photo of photos) expect(written).toContain(`${path.parse(photo).name}_overlay.png`);
    // Nothing left beside the SQLite files once every command has ended.
    expect(readdirSync(path.join(cwd, 'first-hour')).filter((f) => /-(wal|shm)$|\.partial-/.test(f))).toEqual([]);
  }, 240_000);
});
