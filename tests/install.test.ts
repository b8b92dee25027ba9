// What a first `npm ci` on a fresh clone must give a user: every bin the README names linked and
// runnable, and npm itself quiet about the project's config. CI runs this right after one `npm ci`
// on a fresh clone, which is the case that used to fail (bins pointing into dist/ were skipped).
import { execFileSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { REPO } from './utils.js';
import { runProgram, startCli } from './run-cli.js';

const WORKSPACES = ['common', 'label-bank', 'dataset-tools', 'trainer', 'cli'];
const bins: { bin: string; pkg: string; target: string }[] = WORKSPACES.flatMap((pkg) => {
  const json = JSON.parse(readFileSync(path.join(REPO, 'packages', pkg, 'package.json'), 'utf8')) as { bin?: Record<string, string> };
  return Object.entries(json.bin ?? {}).map(([bin, target]) => ({ bin, pkg, target: path.join('packages', pkg, target) }));
});
const tracked = new Set(execFileSync('git', ['ls-files'], { cwd: REPO, encoding: 'utf8' }).split('\n'));
/** Bins kept under their old name until 0.2: the old name, and the bin it runs. */
const RENAMED: Record<string, string> = { 'sentseg-train': 'sentseg-model' };
const NOTE = 'note: sentseg-train is now called sentseg-model; the old name will be removed in 0.2\n';

describe('the bins the README names', () => {
  it('are the five commands and one old name', () => {
    expect(bins.map((b) => b.bin).sort()).toEqual(['label-bank', 'manifest', 'merge-datasets', 'sentseg', 'sentseg-model', 'sentseg-train']);
  });

  it.each(bins)('$bin is a committed, executable launcher outside dist/ (npm links bins before prepare builds dist/)', ({ target }) => {
    expect(target.split(path.sep)).not.toContain('dist');
    expect(tracked.has(target.split(path.sep).join('/'))).toBe(true);
    expect(readFileSync(path.join(REPO, target), 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
    accessSync(path.join(REPO, target), constants.X_OK);
  });

  it.each(bins)('node_modules/.bin/$bin is linked by npm ci and prints its help', async ({ bin, target }) => {
    const link = path.join(REPO, 'node_modules', '.bin', bin);
    expect(existsSync(link), `${link} missing: npm did not link the bin`).toBe(true);
    expect(realpathSync(link)).toBe(realpathSync(path.join(REPO, target)));
    const r = await runProgram(link, ['--help'], { cwd: REPO });
    expect(r.stderr).toBe(bin in RENAMED ? NOTE : '');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^${RENAMED[bin] ?? bin} `));
  });

  it('a launcher whose build is missing says how to build, exit 2', async () => {
    const script = `import('@sentseg/common/launch').then((m) => m.launch(new URL('file:///nowhere/sentseg/packages/x/dist/cli.js'), 'label-bank'))`;
    const r = await runProgram(process.execPath, ['--input-type=module', '-e', script], { cwd: REPO });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: label-bank is not built \(\/nowhere\/sentseg\/packages\/x\/dist\/cli\.js is missing\): run `npm run build` in \/nowhere\/sentseg\/\n$/);
  });

  it('a launcher given node flags runs its entry in a node started with them: same arguments, output and exit code', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sentseg-launch-'));
    try {
      mkdirSync(path.join(dir, 'dist'));
      writeFileSync(path.join(dir, 'dist', 'cli.js'), `process.stdout.write(JSON.stringify({ execArgv: process.execArgv, args: process.argv.slice(2) }));\nprocess.exitCode = 3;\n`);
      const launcher = path.join(dir, 'bin.mjs');
      writeFileSync(launcher, `import { launch } from ${JSON.stringify(pathToFileURL(path.join(REPO, 'packages', 'common', 'launch.mjs')).href)};\nawait launch(new URL('./dist/cli.js', import.meta.url), 'x', ['--max-semi-space-size=1']);\n`);
      const r = await runProgram(process.execPath, [launcher, '--out', 'a b.sqlite'], { cwd: dir });
      expect(r.code).toBe(3);
      expect(JSON.parse(r.stdout)).toEqual({ execArgv: ['--max-semi-space-size=1'], args: ['--out', 'a b.sqlite'] });
      // Started with the flags already: the entry runs in this node.
      const direct = await runProgram(process.execPath, ['--max-semi-space-size=1', launcher, 'x'], { cwd: dir });
      expect(direct.code).toBe(3);
      expect(JSON.parse(direct.stdout)).toEqual({ execArgv: ['--max-semi-space-size=1'], args: ['x'] });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a relaunched entry is stopped with SIGTERM when its launcher is killed alone (SIGKILL), instead of running on unseen', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sentseg-launch-kill-'));
    try {
      mkdirSync(path.join(dir, 'dist'));
      // The entry records its pid, then waits forever; on SIGTERM it records that and exits.
      writeFileSync(
        path.join(dir, 'dist', 'cli.js'),
        `import { writeFileSync } from 'node:fs';\nprocess.on('SIGTERM', () => { writeFileSync('stopped', 'SIGTERM'); process.exit(0); });\nwriteFileSync('pid', String(process.pid));\nsetInterval(() => undefined, 1000);\n`,
      );
      const launcher = path.join(dir, 'bin.mjs');
      writeFileSync(launcher, `import { launch } from ${JSON.stringify(pathToFileURL(path.join(REPO, 'packages', 'common', 'launch.mjs')).href)};\nawait launch(new URL('./dist/cli.js', import.meta.url), 'x', ['--max-semi-space-size=1']);\n`);
      const run = startCli(launcher, [], { cwd: dir });
      const waitFor = async (file: string) => {
        for (let i = 0; i < 200 && !existsSync(path.join(dir, file)); i++) await new Promise((r) => setTimeout(r, 100));
        return existsSync(path.join(dir, file));
      };
      expect(await waitFor('pid')).toBe(true);
      const childPid = Number(readFileSync(path.join(dir, 'pid'), 'utf8'));
      run.child.kill('SIGKILL');
      expect((await run.done).signal).toBe('SIGKILL');
      expect(await waitFor('stopped')).toBe(true);
      expect(readFileSync(path.join(dir, 'stopped'), 'utf8')).toBe('SIGTERM');
      const alive = () => {
        try {
          process.kill(childPid, 0);
          return true;
        } catch {
          return false;
        }
      };
      for (let i = 0; i < 50 && alive(); i++) await new Promise((r) => setTimeout(r, 100));
      expect(alive()).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('sentseg-train, the old name of sentseg-model', () => {
  const bin = (name: string) => path.join(REPO, 'node_modules', '.bin', name);
  it.each([
    ['--help'],
    ['eval', '--help'],
    ['train'], // a usage mistake: no run folder
    ['tarin', '--out', 'x'], // an unknown command
    ['predict', '--run', path.join(REPO, 'nowhere'), '--input', 'x.png', '--out', 'x'], // an input mistake
  ])('%s: runs what sentseg-model runs (same stdout, exit code and stderr) after one note on stderr', async (...args: string[]) => {
    const renamed = await runProgram(bin('sentseg-model'), args, { cwd: REPO });
    const old = await runProgram(bin('sentseg-train'), args, { cwd: REPO });
    expect(old.code).toBe(renamed.code);
    expect(old.stdout).toBe(renamed.stdout);
    expect(old.stderr).toBe(NOTE + renamed.stderr);
  });
});

describe('sentseg merge-datasets', () => {
  // The real launcher, copied next to a stand-in entry that prints how its node was started; the copy
  // sits inside the repository so that it resolves @sentseg/* as packages/cli/bin/sentseg.js does.
  it('runs the merge in a node started with the merge-datasets bin\'s flags; other commands in the node as started', async () => {
    const dir = mkdtempSync(path.join(REPO, 'packages', 'cli', '.launch-test-'));
    try {
      mkdirSync(path.join(dir, 'bin'));
      mkdirSync(path.join(dir, 'dist'));
      writeFileSync(path.join(dir, 'bin', 'sentseg.js'), readFileSync(path.join(REPO, 'packages', 'cli', 'bin', 'sentseg.js')));
      writeFileSync(path.join(dir, 'dist', 'cli.js'), `process.stdout.write(JSON.stringify({ execArgv: process.execArgv, args: process.argv.slice(2), gc: typeof globalThis.gc }));\nprocess.exitCode = 3;\n`);
      const { MERGE_NODE_FLAGS } = await import('@sentseg/dataset-tools/node-flags');
      expect(MERGE_NODE_FLAGS).toEqual(['--max-semi-space-size=1', '--expose-gc']);
      const merge = await runProgram(process.execPath, [path.join(dir, 'bin', 'sentseg.js'), 'merge-datasets', '--out', 'a b.sqlite'], { cwd: dir });
      expect(merge.code).toBe(3);
      expect(JSON.parse(merge.stdout)).toEqual({ execArgv: MERGE_NODE_FLAGS, args: ['merge-datasets', '--out', 'a b.sqlite'], gc: 'function' });
      const train = await runProgram(process.execPath, [path.join(dir, 'bin', 'sentseg.js'), 'train', '--merge-datasets'], { cwd: dir });
      expect(train.code).toBe(3);
      expect(JSON.parse(train.stdout)).toEqual({ execArgv: [], args: ['train', '--merge-datasets'], gc: 'undefined' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('passes the merge\'s output and exit code through the relaunch', async () => {
    const bin = path.join(REPO, 'packages', 'cli', 'bin', 'sentseg.js');
    const help = await runProgram(process.execPath, [bin, 'merge-datasets', '--help'], { cwd: REPO });
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^sentseg merge-datasets --dataset NAME=PATH/);
    const wrong = await runProgram(process.execPath, [bin, 'merge-datasets', '--out', 'x.sqlite'], { cwd: REPO });
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/^error: Missing required argument: dataset\n/);
  });
});

describe('npm with this project', () => {
  it('prints no warning about the project config on every command', async () => {
    const r = await runProgram('npm', ['pkg', 'get', 'name'], { cwd: REPO });
    expect(r.code).toBe(0);
    expect(r.stderr).not.toMatch(/warn/i);
  });

  it('has reviewed every dependency install script (onnxruntime-node’s CUDA and tfjs-node’s libtensorflow downloads are denied)', async () => {
    const r = await runProgram('npm', ['install-scripts', 'ls'], { cwd: REPO });
    if (r.code !== 0 && /Unknown command|not a valid command/i.test(r.stderr + r.stdout)) return; // npm < 11.16 has no install-scripts
    expect(r.stdout).toContain('No packages with unreviewed install scripts');
    const cudaLib = path.join(REPO, 'node_modules', 'onnxruntime-node', 'bin', 'napi-v6', 'linux', 'x64', 'libonnxruntime_providers_cuda.so');
    expect(existsSync(cudaLib)).toBe(false);
    expect(existsSync(path.join(REPO, 'node_modules', '@tensorflow', 'tfjs-node', 'deps', 'lib'))).toBe(false);
  });
});
