// The demo given a wrong path, or stopped: one clear line before any work, and nothing of its own
// left behind (a half-made report would read as a result). The happy path is tests/demo.test.ts.
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { HAS_TOKENIZER, SHARED, tempDir } from './utils.js';
import { BIN, runCli } from './run-cli.js';

const dir = tempDir('sentseg-demo-errors-');
const QUICK = ['--seeds', '1', '--steps', '3', '--scale', '0.1'];

/** Runs `sentseg demo ...`; with `interruptOn`, Ctrl-C once the output matches it. */
const demo = (args: string[], interruptOn?: RegExp) => runCli(BIN.sentseg, ['demo', ...args], { cwd: dir, interruptOn });

describe('sentseg demo refuses bad paths before any work', () => {
  it('--out naming a file: exit 2, one line, the file untouched', async () => {
    const file = path.join(dir, 'notes.txt');
    writeFileSync(file, 'mine');
    const r = await demo(['--out', file, ...QUICK]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`error: --out ${file} is a file: the demo writes a folder (name a new or existing folder)\n`);
    expect(r.stdout).toBe('');
  });

  it('--shared without models/: exit 2 naming it, no output folder made', async () => {
    const out = path.join(dir, 'no-shared');
    const r = await demo(['--out', out, '--shared', path.join(dir, 'nowhere'), ...QUICK]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: --shared .*nowhere has no models\/ folder/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(existsSync(out)).toBe(false);
  });
});

describe.runIf(HAS_TOKENIZER)('a demo that fails or is stopped removes what it wrote', () => {
  it('a --model folder that is not a text encoder: exit 2 after the merge, the folder left with the user\'s file only', async () => {
    const out = path.join(dir, 'bad-model');
    mkdirSync(out);
    writeFileSync(path.join(out, 'mine.txt'), 'keep me');
    const notModel = path.join(dir, 'not-a-model');
    mkdirSync(notModel);
    const r = await demo(['--out', out, '--shared', SHARED, '--model', notModel, ...QUICK]);
    expect(r.code).toBe(2);
    expect(r.stdout).toContain('── merge:');
    expect(r.stdout).toContain(`demo failed: its partial output in ${out} was removed`);
    expect(r.stderr).toMatch(/^error: not a CLIP text encoder/);
    expect(readdirSync(out)).toEqual(['mine.txt']);
  }, 120_000);

  it('Ctrl-C during training: exit 130, the child runs stopped, the folder it made removed', async () => {
    const out = path.join(dir, 'interrupted');
    const r = await demo(['--out', out, '--shared', SHARED, ...QUICK], /── train:/);
    expect(r.code).toBe(130);
    expect(r.stderr).toContain(`interrupted: the demo's partial output in ${out} was removed`);
    expect(existsSync(out)).toBe(false);
  }, 120_000);
});
