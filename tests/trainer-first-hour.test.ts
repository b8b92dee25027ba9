/**
 * The trainer's commands (train, eval, predict) as a new user meets them: usage mistakes, run
 * folders reused or opened from elsewhere, inputs that are skipped, and --help. Each run goes
 * through the committed bin (packages/trainer/bin/sentseg-model.js), as `npx sentseg-model` does.
 */
import { createHash } from 'node:crypto';
import { copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { REPO, tempDir } from './utils.js';
import { writeWorld, type World } from './training-world.js';
import { BIN as BUILT, runCli, type CliRun } from './run-cli.js';

const BIN = path.join(REPO, 'packages', 'trainer', 'bin', 'sentseg-model.js');
const dir = tempDir('sentseg-trainer-first-hour-');
/** A working directory that is not the one the runs were made from. */
const elsewhere = tempDir('sentseg-trainer-elsewhere-');
let world: World;
/** Untouched copies of the manifest and the bank, for the wrong-kind checks (nothing else opens them). */
let pristine: { manifest: string; bank: string };
/** A two-step run made from `dir` with relative paths. */
let run: string;

type Result = CliRun;
const sentsegModel = (args: string[], cwd = dir): Promise<Result> => runCli(BIN, args, { cwd });

const TINY = ['--backend', 'wasm', '--set', 'data.batchSize=3', '--set', 'data.shortEdge=64', '--set', 'data.crop=64', '--set', 'checkpointEvery=1'];
const hash = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');
const sqliteLeftovers = (folder: string) => readdirSync(folder, { recursive: true }).map(String).filter((f) => /-(wal|shm|journal)$/.test(f));

/** A usage or input mistake: exit 2, one `error:` line, no stack, no work started. */
function expectRefused(r: Result, message: string | RegExp): void {
  expect(r.code).toBe(2);
  expect(r.stderr).toMatch(/^error: /);
  expect(r.stderr).not.toMatch(/^\s+at /m);
  expect(r.stderr).not.toContain('backend:');
  expect(r.stderr.split('\n')[0]).toMatch(message);
}

beforeAll(async () => {
  world = await writeWorld(dir, { perSplit: 2 });
  mkdirSync(path.join(dir, 'pristine'));
  pristine = { manifest: path.join(dir, 'pristine', 'manifest.sqlite'), bank: path.join(dir, 'pristine', 'label-bank.sqlite') };
  copyFileSync(world.manifest, pristine.manifest);
  copyFileSync(world.bank, pristine.bank);
  // Relative paths, as a user in the data folder types them.
  const r = await sentsegModel(['train', '--manifest', 'manifest.sqlite', '--label-bank', 'label-bank.sqlite', '--steps', '2', ...TINY, '--out', 'runs/first']);
  if (r.code !== 0) throw new Error(`the first run failed: ${r.stderr}`);
  run = path.join(dir, 'runs', 'first');
}, 120_000);

describe('usage mistakes: exit 2, one line, before any work', () => {
  it('train without --out', async () => {
    expectRefused(await sentsegModel(['train', '--manifest', world.manifest, '--label-bank', world.bank]), 'error: name the run folder: --out DIR (or --resume DIR)');
  });

  it('--out naming an existing file, for train, eval and predict', async () => {
    const file = path.join(dir, 'notes.txt');
    writeFileSync(file, 'not a folder\n');
    const before = hash(file);
    const message = `error: --out ${file} is a file, not a folder`;
    expectRefused(await sentsegModel(['train', '--manifest', world.manifest, '--label-bank', world.bank, ...TINY, '--out', file]), message);
    expectRefused(await sentsegModel(['eval', '--run', run, '--manifest', world.manifest, '--dataset', 'cityscapes', '--out', file]), message);
    const photo = path.join(world.dir, 'cityscapes', 'leftImg8bit', 'val', 'aachen');
    expectRefused(await sentsegModel(['predict', '--run', run, '--input', photo, '--out', file]), message);
    expectRefused(await sentsegModel(['predict', '--run', run, '--input', photo, '--out', path.join(file, 'preds')]), `error: --out ${path.join(file, 'preds')} is inside ${file}, which is a file, not a folder`);
    expect(hash(file)).toBe(before);
  });

  const asManifest = () => new RegExp(`^error: manifest: ${pristine.bank} is a sentseg label bank \\(label-bank\\), not a sentseg manifest \\(merge-datasets\\)$`);
  const asBank = () => new RegExp(`^error: label bank: ${pristine.manifest} is a sentseg manifest \\(merge-datasets\\), not a sentseg label bank \\(label-bank\\)$`);

  it('train: a label bank given as the manifest and a manifest given as the label bank are refused, the files untouched', async () => {
    const before = { manifest: hash(pristine.manifest), bank: hash(pristine.bank) };
    expectRefused(await sentsegModel(['train', '--manifest', pristine.bank, '--label-bank', pristine.bank, ...TINY, '--out', path.join(dir, 'kinds-1')]), asManifest());
    expectRefused(await sentsegModel(['train', '--manifest', pristine.manifest, '--label-bank', pristine.manifest, ...TINY, '--out', path.join(dir, 'kinds-2')]), asBank());
    expect({ manifest: hash(pristine.manifest), bank: hash(pristine.bank) }).toEqual(before);
    expect(sqliteLeftovers(path.join(dir, 'pristine'))).toEqual([]);
    for (const out of ['kinds-1', 'kinds-2']) expect(existsSync(path.join(dir, out))).toBe(false);
  });

  it('eval and predict: the same, for --manifest and --label-bank', async () => {
    const before = { manifest: hash(pristine.manifest), bank: hash(pristine.bank) };
    expectRefused(await sentsegModel(['eval', '--run', run, '--manifest', pristine.bank, '--dataset', 'cityscapes']), asManifest());
    expectRefused(await sentsegModel(['eval', '--run', run, '--manifest', pristine.manifest, '--label-bank', pristine.manifest, '--dataset', 'cityscapes']), asBank());
    const photo = path.join(world.dir, 'cityscapes', 'leftImg8bit', 'val', 'aachen');
    expectRefused(await sentsegModel(['predict', '--run', run, '--label-bank', pristine.manifest, '--input', photo, '--out', path.join(dir, 'kinds-pred')]), asBank());
    expect({ manifest: hash(pristine.manifest), bank: hash(pristine.bank) }).toEqual(before);
    expect(sqliteLeftovers(path.join(dir, 'pristine'))).toEqual([]);
    expect(existsSync(path.join(dir, 'kinds-pred'))).toBe(false);
  });
});

describe('eval: a dataset or split the manifest lacks', () => {
  it('is refused in one line before the backend starts (no backend line)', async () => {
    expectRefused(await sentsegModel(['eval', '--run', run, '--manifest', world.manifest, '--dataset', 'cityscapes', '--split', 'validation']), /^error: dataset cityscapes has no split "validation" \(it has: .*\)$/);
    expectRefused(await sentsegModel(['eval', '--run', run, '--manifest', world.manifest, '--dataset', 'cityscape']), /^error: no dataset "cityscape" in .* \(has: .*cityscapes.*\)$/);
  });
});

describe('an existing run folder', () => {
  const files = (r: string) => ({ config: readFileSync(path.join(r, 'config.json'), 'utf8'), metrics: readFileSync(path.join(r, 'metrics.jsonl'), 'utf8'), checkpoints: readdirSync(path.join(r, 'checkpoints')).sort() });

  it('is refused without --resume or --overwrite, and left as it was', async () => {
    const before = files(run);
    expect(before.checkpoints).toEqual(['latest.json', 'step-000001', 'step-000002']);
    const r = await sentsegModel(['train', '--manifest', world.manifest, '--label-bank', world.bank, '--steps', '1', ...TINY, '--out', run]);
    expectRefused(r, `error: ${run} already holds a run (config.json, metrics.jsonl, checkpoints/): continue it with --resume ${run}, or start it over with --overwrite`);
    expect(files(run)).toEqual(before);
  });

  it('--overwrite starts over: the old checkpoints and metrics are gone', async () => {
    const again = path.join(dir, 'runs', 'again');
    expect((await sentsegModel(['train', '--manifest', world.manifest, '--label-bank', world.bank, '--steps', '2', ...TINY, '--out', again])).code).toBe(0);
    const r = await sentsegModel(['train', '--manifest', world.manifest, '--label-bank', world.bank, '--steps', '1', ...TINY, '--out', again, '--overwrite']);
    expect(r.stderr).toContain(`overwrite: removed the previous run in ${again}`);
    expect(r.code).toBe(0);
    const after = files(again);
    expect(after.checkpoints).toEqual(['latest.json', 'step-000001']);
    expect(after.metrics.trim().split('\n').map((l) => (JSON.parse(l) as { step: number }).step)).toEqual([1]);
    expect(JSON.parse(after.config)).toMatchObject({ steps: 1 });
    expect(sqliteLeftovers(again)).toEqual([]);
  });

  it('--overwrite and --resume together are a usage mistake; an empty folder is a fine --out', async () => {
    expectRefused(await sentsegModel(['train', '--resume', run, '--overwrite']), 'error: --overwrite starts a run over and --resume continues it; give one (with --out DIR for --overwrite)');
    const empty = path.join(dir, 'runs', 'empty');
    mkdirSync(empty, { recursive: true });
    expect((await sentsegModel(['train', '--manifest', world.manifest, '--label-bank', world.bank, '--steps', '1', ...TINY, '--out', empty])).code).toBe(0);
    expect(readdirSync(empty).sort()).toEqual(['checkpoints', 'config.json', 'metrics.jsonl']);
  });

  it('--resume with --steps at or below the run\'s step: exit 2 before any work, config.json untouched', async () => {
    const at = (JSON.parse(readFileSync(path.join(run, 'checkpoints', 'latest.json'), 'utf8')) as { step: number }).step;
    const before = files(run);
    expectRefused(await sentsegModel(['train', '--resume', run, '--steps', '1'], elsewhere), `error: ${run} is at step ${at}, beyond steps 1; give --steps above ${at} to continue it`);
    const nothing = `error: ${run} is already at step ${at} of ${at}: nothing to do; give --steps above ${at} to continue it`;
    expectRefused(await sentsegModel(['train', '--resume', run, '--steps', String(at)], elsewhere), nothing);
    // Without --steps, a finished run is at the steps of its config.json: the same.
    expect((JSON.parse(before.config) as { steps: number }).steps).toBe(at);
    expectRefused(await sentsegModel(['train', '--resume', run], elsewhere), nothing);
    expect(files(run)).toEqual(before);
  });

  it('--resume of a folder that holds no run says so', async () => {
    const none = path.join(dir, 'runs', 'none');
    mkdirSync(none, { recursive: true });
    expectRefused(await sentsegModel(['train', '--resume', none]), `error: ${none} holds no run to resume (no config.json); start one with --out ${none}`);
  });
});

describe('a run folder from any working directory', () => {
  it('config.json keeps absolute paths, so predict and --resume work from elsewhere', async () => {
    const config = JSON.parse(readFileSync(path.join(run, 'config.json'), 'utf8')) as { manifest: string; labelBank: string };
    expect(config.manifest).toBe(world.manifest);
    expect(config.labelBank).toBe(world.bank);
    const photo = path.join(world.dir, 'cityscapes', 'leftImg8bit', 'val', 'aachen');
    const pred = await sentsegModel(['predict', '--run', run, '--input', photo, '--out', 'preds', '--labels', 'road,sky', '--short-edge', '48'], elsewhere);
    expect(pred.stderr).not.toContain('error');
    expect(pred.code).toBe(0);
    expect(readdirSync(path.join(elsewhere, 'preds'))).toHaveLength(3);
    const resumed = await sentsegModel(['train', '--resume', run, '--steps', '3'], elsewhere);
    expect(resumed.stderr).not.toContain('error');
    expect(resumed.code).toBe(0);
    expect(resumed.stdout).toContain('steps 2 → 3 of 3');
  }, 60_000);

  it('eval takes the run\'s manifest when --manifest is not given (a run folder or a checkpoint of it)', async () => {
    const at = (JSON.parse(readFileSync(path.join(run, 'checkpoints', 'latest.json'), 'utf8')) as { step: number }).step;
    for (const [r, step] of [[run, at], [path.join(run, 'checkpoints', 'step-000002'), 2]] as const) {
      const ev = await sentsegModel(['eval', '--run', r, '--dataset', 'cityscapes', '--short-edge', '48'], elsewhere);
      expect(ev.stderr).not.toContain('error');
      expect(ev.code).toBe(0);
      expect(ev.stdout).toMatch(new RegExp(`^cityscapes val, 2 images, ss 48, checkpoint step ${step}$`, 'm'));
    }
    const help = await sentsegModel(['eval', '--help']);
    expect(help.stdout).toMatch(/--manifest\s+manifest\.sqlite holding the dataset \(default: the run's\)\s+\[string\]$/m);
  }, 60_000);

  it('eval of a run whose manifest moved says so; predict needs no manifest', async () => {
    const copy = path.join(dir, 'runs', 'manifest-moved');
    cpSync(run, copy, { recursive: true });
    const gone = path.join(dir, 'gone', 'manifest.sqlite');
    const configFile = path.join(copy, 'config.json');
    writeFileSync(configFile, JSON.stringify({ ...(JSON.parse(readFileSync(configFile, 'utf8')) as object), manifest: gone }, null, 2));
    expectRefused(await sentsegModel(['eval', '--run', copy, '--dataset', 'cityscapes'], elsewhere), `error: manifest ${gone} named in ${configFile} is missing (moved or deleted?); give its new path with --manifest FILE`);
    expect((await sentsegModel(['eval', '--run', copy, '--manifest', world.manifest, '--dataset', 'cityscapes', '--short-edge', '48'], elsewhere)).code).toBe(0);
    const photo = path.join(world.dir, 'cityscapes', 'leftImg8bit', 'val', 'aachen');
    const pred = await sentsegModel(['predict', '--run', copy, '--input', photo, '--out', 'preds-manifest-moved', '--labels', 'road,sky', '--short-edge', '48'], elsewhere);
    expect(pred.stderr).not.toContain('error');
    expect(pred.code).toBe(0);
  }, 60_000);

  const bank = path.join(dir, 'movable-bank.sqlite');
  const moved = path.join(dir, 'runs', 'moved');

  it('a file named in config.json that moved: the error names the key and the path', async () => {
    copyFileSync(world.bank, bank);
    expect((await sentsegModel(['train', '--manifest', world.manifest, '--label-bank', bank, '--steps', '1', ...TINY, '--out', moved])).code).toBe(0);
    renameSync(bank, `${bank}.away`);
    const config = path.join(moved, 'config.json');
    const message = `error: labelBank ${bank} named in ${config} is missing (moved or deleted?); give its new path with --label-bank FILE`;
    const photo = path.join(world.dir, 'cityscapes', 'leftImg8bit', 'val', 'aachen');
    expectRefused(await sentsegModel(['predict', '--run', moved, '--input', photo, '--out', 'preds-moved'], elsewhere), message);
    expectRefused(await sentsegModel(['eval', '--run', moved, '--manifest', world.manifest, '--dataset', 'cityscapes'], elsewhere), message);
    expectRefused(await sentsegModel(['train', '--resume', moved, '--steps', '2'], elsewhere), message);
  }, 60_000);

  it('given its new place, the moved run goes on', async () => {
    expect((await sentsegModel(['train', '--resume', moved, '--steps', '2', '--label-bank', `${bank}.away`], elsewhere)).code).toBe(0);
  }, 60_000);
});

describe('Ctrl-C', () => {
  it('the resume hint names the command as invoked: the package bin or the umbrella', async () => {
    for (const [bin, name] of [[BIN, 'sentseg-model'], [BUILT.sentseg, 'sentseg']] as const) {
      const out = path.join('runs', `ctrl-c-${name}`);
      const r = await runCli(bin, ['train', '--manifest', world.manifest, '--label-bank', world.bank, '--steps', '400', ...TINY, '--out', out], { cwd: dir, interruptOn: /^model: /m });
      expect(r.code).toBe(130);
      expect(r.stdout).toMatch(/^steps 0 → \d+ of 400 \(interrupted\)$/m);
      expect(r.stdout.trim().split('\n').at(-1)).toBe(`resume with: ${name} train --resume ${out}`);
    }
  }, 120_000);
});

describe('inputs that are skipped', () => {
  it('predict on a file that is no image: exit 2, says why, no empty output folder', async () => {
    writeFileSync(path.join(dir, 'notes.md'), '# notes\n');
    const r = await sentsegModel(['predict', '--run', run, '--input', 'notes.md', '--out', 'preds-none', '--labels', 'road,sky']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^skipped notes\.md: .+$/m);
    expect(r.stderr).toMatch(/^error: no image was segmented: the 1 input was skipped \(listed above\)$/m);
    expect(r.stderr).not.toMatch(/^\s+at /m);
    expect(existsSync(path.join(dir, 'preds-none'))).toBe(false);
  });

  it('predict with one unreadable image among good ones: the others are written, then exit 2', async () => {
    const photos = path.join(dir, 'photos');
    mkdirSync(photos, { recursive: true });
    copyFileSync(path.join(world.dir, 'cityscapes', 'leftImg8bit', 'val', 'aachen', 'aachen_000000_000019_leftImg8bit.png'), path.join(photos, 'good.png'));
    writeFileSync(path.join(photos, 'broken.png'), 'not a png');
    const r = await sentsegModel(['predict', '--run', run, '--input', photos, '--out', 'preds-some', '--labels', 'road,sky', '--short-edge', '48']);
    expect(r.stderr).toMatch(new RegExp(`^skipped ${path.join(photos, 'broken.png')}: .+$`, 'm'));
    expect(r.stdout).toMatch(/^1 image segmented with 2 labels .*; 1 skipped; wrote preds-some$/m);
    expect(r.stderr).toMatch(/^error: 1 of 2 inputs skipped \(listed above\); the other 1 segmented into preds-some$/m);
    expect(r.code).toBe(2);
    expect(readdirSync(path.join(dir, 'preds-some')).sort()).toEqual(['good_labels.png', 'good_legend.json', 'good_overlay.png']);
  });

  it('eval with a missing image prints its summary, then exits 2; with none readable it prints no mIoU', async () => {
    const val = path.join(world.dir, 'cityscapes', 'leftImg8bit', 'val');
    const images = readdirSync(val, { recursive: true }).map(String).filter((f) => f.endsWith('.png')).map((f) => path.join(val, f)).sort();
    expect(images).toHaveLength(2);
    const args = ['eval', '--run', run, '--manifest', world.manifest, '--dataset', 'cityscapes', '--short-edge', '48'];
    renameSync(images[0] as string, `${images[0]}.away`);
    try {
      const some = await sentsegModel([...args, '--out', 'eval-some']);
      expect(some.stderr).toMatch(new RegExp(`^skipped ${images[0]}: `, 'm'));
      expect(some.stdout).toMatch(/^cityscapes val, 1 image, ss 48, checkpoint step \d+$/m);
      expect(some.stdout).toMatch(/^mIoU\s+\d+\.\d\d/m);
      expect(some.stderr).toMatch(/^error: 1 of 2 images skipped \(listed above\): the mIoU covers the other 1$/m);
      expect(some.code).toBe(2);
      expect(existsSync(path.join(dir, 'eval-some', 'eval.json'))).toBe(true);
      // --skip-bad-images: the same report, listed skip, exit 0.
      const allowed = await sentsegModel([...args, '--skip-bad-images']);
      expect(allowed.stderr).toMatch(new RegExp(`^skipped ${images[0]}: `, 'm'));
      expect(allowed.stderr).toMatch(/^1 of 2 images skipped \(--skip-bad-images\): the mIoU covers the other 1$/m);
      expect(allowed.stdout).toMatch(/^cityscapes val, 1 image, ss 48, checkpoint step \d+$/m);
      expect(allowed.code).toBe(0);
      renameSync(images[1] as string, `${images[1]}.away`);
      try {
        const none = await sentsegModel([...args, '--out', 'eval-none']);
        expect(none.code).toBe(2);
        expect(none.stdout).not.toContain('mIoU');
        expect(none.stderr).toMatch(/^error: no image of cityscapes val could be evaluated: all 2 were skipped \(listed above\)$/m);
        // Nothing evaluated is a failure even with --skip-bad-images: never "0 images, mIoU 0.00".
        const noneAllowed = await sentsegModel([...args, '--skip-bad-images']);
        expect(noneAllowed.code).toBe(2);
        expect(noneAllowed.stdout).not.toContain('mIoU');
        expect(existsSync(path.join(dir, 'eval-none'))).toBe(false);
      } finally {
        renameSync(`${images[1]}.away`, images[1] as string);
      }
    } finally {
      renameSync(`${images[0]}.away`, images[0] as string);
    }
  }, 60_000);

  it('train that skipped unreadable images saves its checkpoint, then exits 2', async () => {
    const train = path.join(world.dir, 'cityscapes', 'leftImg8bit', 'train');
    const images = readdirSync(train, { recursive: true }).map(String).filter((f) => f.endsWith('.png')).map((f) => path.join(train, f));
    expect(images).toHaveLength(2);
    for (const image of images) renameSync(image, `${image}.away`);
    try {
      const r = await sentsegModel(['train', '--manifest', world.manifest, '--label-bank', world.bank, '--steps', '2', ...TINY, '--out', 'runs/skipping']);
      expect(r.stderr).toMatch(/^skipped cityscapes .+: image missing$/m);
      expect(r.stdout).toMatch(/^checkpoint: .*step-000002$/m);
      expect(r.stderr).toMatch(/^error: 2 unreadable images skipped \(listed above\); the steps trained on the others and the checkpoint is saved$/m);
      expect(r.code).toBe(2);
    } finally {
      for (const image of images) renameSync(`${image}.away`, image);
    }
  }, 60_000);

  it('leaves no SQLite -wal/-shm files in the run folders, nor beside the manifest and the label bank', () => {
    expect(readdirSync(path.join(dir, 'runs')).length).toBeGreaterThan(4);
    expect(sqliteLeftovers(dir)).toEqual([]);
  });
});

describe('--help of train, eval and predict', () => {
  for (const command of ['train', 'eval', 'predict']) {
    it(`${command}: plain paragraphs that wrap, and a description for every option`, async () => {
      const r = await sentsegModel([command, '--help']);
      expect(r.code).toBe(0);
      const [intro, options] = r.stdout.split('\nOptions:\n') as [string, string];
      expect(options).toBeDefined();
      // A hard line break inside a paragraph shows as a short line in the middle of it once yargs
      // wraps at its width (100 columns in a pipe): "...the encoder and text\nkind\nthe checkpoint...".
      for (const paragraph of intro.trim().split(/\n\s*\n/)) {
        const lines = paragraph.split('\n');
        for (const line of lines.slice(0, -1)) expect(line.length, `"${line}" ends a line in the middle of: ${paragraph}`).toBeGreaterThan(70);
      }
      const flags = options.split('\n').filter((l) => /^\s+(-\w, )?--[\w-]+/.test(l));
      expect(flags.length).toBeGreaterThan(3);
      for (const line of flags) {
        const description = line.replace(/^\s+(-\w, )?--[\w-]+/, '').replace(/\[[^\]]*\]/g, '').trim();
        expect(description, `option without a description: ${line.trim()}`).not.toBe('');
      }
    });
  }

  it('train documents --overwrite and --resume', async () => {
    const r = await sentsegModel(['train', '--help']);
    expect(r.stdout).toMatch(/--overwrite\s+\S/);
    expect(r.stdout).toMatch(/--resume\s+\S/);
  });
});
