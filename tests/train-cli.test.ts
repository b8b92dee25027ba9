import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { REPO, tempDir } from './utils.js';
import { writeWorld, type World } from './training-world.js';
import { startCli } from './run-cli.js';

const SENTSEG = path.join(REPO, 'packages', 'cli', 'dist', 'cli.js');
const dir = tempDir('sentseg-train-cli-');
let world: World;

beforeAll(async () => {
  world = await writeWorld(dir);
}, 60_000);

const start = (args: string[]) => startCli(SENTSEG, args, { cwd: dir });

const configFile = () => {
  const file = path.join(dir, 'run.yaml');
  writeFileSync(
    file,
    [`manifest: ${world.manifest}`, `labelBank: ${world.bank}`, 'backend: wasm', 'checkpointEvery: 50', 'data:', '  batchSize: 3', '  shortEdge: 64', '  crop: 64', 'optimizer:', '  lr: 0.001', ''].join('\n'),
  );
  return file;
};

describe('sentseg merge-datasets and manifest', () => {
  it('merge a dataset, then validate and summarise the manifest', async () => {
    const out = path.join(dir, 'umbrella.sqlite');
    const merged = await start(['merge-datasets', '--dataset', `city=${path.join(world.dir, 'cityscapes')}`, '--format', 'city=cityscapes', '--out', out, '--workers', '0']).done;
    expect(merged.code).toBe(0);
    expect(merged.stdout).toMatch(/^city\s+cityscapes\s+6 images\s+0 problems/m);
    const valid = await start(['manifest', 'validate', out, '--workers', '0']).done;
    expect(valid.code).toBe(0);
    expect(valid.stdout).toContain('6 images checked, 0 problems');
    const none = await start(['manifest']).done;
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('name a command: stats, validate or problems');
  });
});

describe('sentseg train', () => {
  it('documents its settings in --help', async () => {
    const r = await start(['train', '--help']).done;
    expect(r.code).toBe(0);
    for (const flag of ['--config', '--set', '--resume', '--backend', '--out']) expect(r.stdout).toContain(flag);
  });

  it('names an unknown config key and exits 2', async () => {
    const r = await start(['train', '--config', configFile(), '--set', 'optimizer.learningRate=0.1', '--out', path.join(dir, 'bad')]).done;
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('error: unknown config key "optimizer.learningRate" in --set optimizer.learningRate=0.1');
    expect(existsSync(path.join(dir, 'bad'))).toBe(false);
  });

  it('refuses, before it starts, a step too large for WebAssembly: one line naming what would fit, exit 2', async () => {
    const out = path.join(dir, 'huge');
    const r = await start(['train', '--config', configFile(), '--set', 'model.variant=b0', '--set', 'data.crop=2048', '--set', 'data.shortEdge=2048', '--out', out]).done;
    expect(r.code).toBe(2);
    const errorLines = r.stderr.split('\n').filter((l) => l.startsWith('error:'));
    expect(errorLines).toHaveLength(1);
    expect(errorLines[0]).toMatch(/a training step of SegFormer-b0 at data\.crop 2048 with data\.batchSize 3 even with every activation recomputed needs about \d+ MiB of WebAssembly memory.*what fits: .*data\.crop \d+ at batch 3/);
    expect(r.stderr).not.toMatch(/^\s+at /m);
    expect(r.stderr).not.toContain('Aborted');
    expect(existsSync(path.join(out, 'metrics.jsonl'))).toBe(false);
  });

  it('model.recompute=off refuses a step whose activations cannot all be kept, naming auto; an unknown value is refused', async () => {
    const out = path.join(dir, 'kept');
    const r = await start(['train', '--config', configFile(), '--set', 'model.variant=b0', '--set', 'data.crop=704', '--set', 'data.shortEdge=704', '--set', 'model.recompute=off', '--out', out]).done;
    expect(r.code).toBe(2);
    const errorLines = r.stderr.split('\n').filter((l) => l.startsWith('error:'));
    expect(errorLines).toHaveLength(1);
    expect(errorLines[0]).toMatch(/SegFormer-b0 at data\.crop 704 with data\.batchSize 3 keeping every activation \(model\.recompute=off\) needs about \d+ MiB .*\(or model\.recompute=auto, or --backend tensorflow\)/);
    expect(existsSync(out)).toBe(false);
    const bad = await start(['train', '--config', configFile(), '--set', 'model.recompute=sometimes', '--out', out]).done;
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('model.recompute must be auto, off, encoder, on, got "sometimes"');
  });

  it('trains to the end when the reader of its stderr goes away (train ... 2>&1 | head -3)', async () => {
    const out = path.join(dir, 'headless');
    const child = spawn(process.execPath, [SENTSEG, 'train', '--config', configFile(), '--steps', '4', '--out', out], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    // As `head` does: read the first lines, then close the pipe.
    child.stderr.once('data', () => child.stderr.destroy());
    child.stdout.resume();
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    expect(code).toBe(0);
    expect(readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n')).toHaveLength(4);
    expect(existsSync(path.join(out, 'checkpoints', 'latest.json'))).toBe(true);
  }, 120_000);

  it('on Ctrl-C saves a checkpoint and exits; --resume goes on from it', async () => {
    const run = path.join(dir, 'interrupted');
    const { child, done } = start(['train', '--config', configFile(), '--steps', '400', '--out', run]);
    const metrics = path.join(run, 'metrics.jsonl');
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline && !(existsSync(metrics) && readFileSync(metrics, 'utf8').split('\n').length > 2)) await new Promise((r) => setTimeout(r, 100));
    child.kill('SIGINT');
    const r = await done;
    expect(r.stderr).toMatch(/^backend: wasm \(asked for\)$/m);
    expect(r.stderr).toContain('interrupt: finishing this step and saving a checkpoint');
    expect(r.code).toBe(130);
    const latest = JSON.parse(readFileSync(path.join(run, 'checkpoints', 'latest.json'), 'utf8')) as { step: number };
    expect(latest.step).toBeGreaterThanOrEqual(2);
    expect(latest.step).toBeLessThan(400);
    expect(r.stdout).toContain(`steps 0 → ${latest.step} of 400 (interrupted)`);
    expect(r.stdout).toContain(`resume with: sentseg train --resume ${run}`);

    const resumed = await start(['train', '--resume', run, '--steps', String(latest.step + 2)]).done;
    expect(resumed.stderr).toContain(`resumed from ${path.join(run, 'checkpoints', `step-${String(latest.step).padStart(6, '0')}`)} at step ${latest.step}`);
    expect(resumed.code).toBe(0);
    expect(resumed.stdout).toContain(`steps ${latest.step} → ${latest.step + 2} of ${latest.step + 2}`);
    const steps = readFileSync(metrics, 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { step: number }).step);
    expect(steps).toEqual(Array.from({ length: latest.step + 2 }, (_, i) => i + 1));
  }, 120_000);

  it('eval prints per-class IoU and mIoU for ss and ms + flip and writes its files', async () => {
    const run = path.join(dir, 'short');
    const trained = await start(['train', '--config', configFile(), '--steps', '2', '--out', run]).done;
    expect(trained.code).toBe(0);
    const ss = await start(['eval', '--run', run, '--manifest', world.manifest, '--dataset', 'cityscapes', '--split', 'val', '--short-edge', '48', '--out', path.join(dir, 'eval-ss')]).done;
    expect(ss.stderr).toBe('backend: wasm (no native TensorFlow package loads; WebAssembly is the fastest pure backend here (see npm run bench))\n');
    expect(ss.code).toBe(0);
    expect(ss.stdout).toMatch(/^cityscapes val, 2 images, ss 48, checkpoint step 2$/m);
    expect(ss.stdout).toMatch(/^road\s+\d+\.\d\d$/m);
    expect(ss.stdout).toMatch(/^mIoU\s+\d+\.\d\d  \(over \d+ of \d+ classes/m);
    for (const f of ['eval.json', 'eval.md', 'confusion.json', 'confusion.png']) expect(existsSync(path.join(dir, 'eval-ss', f))).toBe(true);
    const ms = await start(['eval', '--run', run, '--manifest', world.manifest, '--dataset', 'coco', '--scales', '40,64', '--flip', '--zero-shot-from', world.manifest, '--json']).done;
    expect(ms.code).toBe(0);
    const report = JSON.parse(ms.stdout) as { mode: string; images: number; miou: number; unseenLabels: string[] };
    expect(report).toMatchObject({ mode: 'ms 40/64 + flip', images: 2, unseenLabels: [] });
    const bad = await start(['eval', '--run', run, '--manifest', world.manifest, '--dataset', 'coco', '--split', 'test']).done;
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('error: dataset coco has no split "test" (it has: train, val)');

    const photos = path.join(world.dir, 'cityscapes', 'leftImg8bit', 'val');
    const pred = await start(['predict', '--run', run, '--input', path.join(photos, 'aachen'), '--out', path.join(dir, 'pred'), '--labels', 'road,sky,car', '--short-edge', '48']).done;
    expect(pred.code).toBe(0);
    expect(pred.stdout).toMatch(/^1 image segmented with 3 labels in .* s \(.* images\/s\); 0 skipped; wrote /m);
    for (const f of ['aachen_000000_000019_leftImg8bit_labels.png', 'aachen_000000_000019_leftImg8bit_overlay.png', 'aachen_000000_000019_leftImg8bit_legend.json']) {
      expect(existsSync(path.join(dir, 'pred', f))).toBe(true);
    }
    const unknown = await start(['predict', '--run', run, '--input', path.join(photos, 'aachen'), '--out', path.join(dir, 'pred2'), '--labels', 'road,lawn gnome']).done;
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('error: label "lawn gnome" is not in');
  }, 120_000);
});

