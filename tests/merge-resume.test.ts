/**
 * merge-datasets killed outright part-way through a dataset continues where it stopped when the
 * same command runs again, and ends with the manifest an uninterrupted run writes; readers of the
 * manifest never see the half-merged dataset.
 */
import Database from 'better-sqlite3';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { REPO, tempDir } from './utils.js';
import { dumpManifest } from './manifest-helpers.js';
import { ManifestReader } from '@sentseg/dataset-tools';
import { writeAde20k, writeCityscapes } from '@sentseg/dataset-tools/testing';
import { runCli, startCli } from './run-cli.js';

const MERGE = path.join(REPO, 'packages', 'dataset-tools', 'dist', 'cli.js');
const dir = tempDir('sentseg-merge-resume-');
const big = path.join(dir, 'big');
const ade = path.join(dir, 'ade');
const IMAGES = 400;
const CHUNK = 50;
// The mask of image 300 (the 151st in listing order: the even images are in aachen/, listed first) is
// replaced by a FIFO nobody writes to while the first run is killed: reading it blocks, so the run is
// reliably stuck with its chunks up to item 150 committed, and no further.
const STUCK = 150;
const stuckMask = path.join(big, 'gtFine', 'train', 'aachen', `aachen_000300_000019_gtFine_labelIds.png`);

beforeAll(async () => {
  await writeCityscapes(big, { train: IMAGES }, [32, 16], 21);
  await writeAde20k(ade, { training: 5 }, [24, 20]);
});

const env = { SENTSEG_MERGE_CHUNK: String(CHUNK) };

/** The items of `dataset` an unfinished run has committed to its staging file (0 while there is none). */
function stagedItems(out: string, dataset: string): number {
  const file = `${out}.merging-${dataset}`;
  if (!existsSync(file)) return 0;
  try {
    const db = new Database(file, { readonly: true, fileMustExist: true });
    try {
      return Number(db.prepare(`SELECT value FROM resume WHERE key = 'items'`).pluck().get() ?? 0);
    } finally {
      db.close();
    }
  } catch {
    return 0;
  }
}

/** Runs the merge with the FIFO in place and kills it (SIGKILL, or `signal`) once its staging file holds `atLeast` items. */
async function killMidway(args: string[], out: string, atLeast: number, signal: NodeJS.Signals = 'SIGKILL'): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  // Moved aside and back (not copied): its size and mtime stay those of the reference run.
  renameSync(stuckMask, `${stuckMask}.real`);
  execFileSync('mkfifo', [stuckMask]);
  try {
    const started = startCli(MERGE, args, { cwd: dir, env });
    const deadline = Date.now() + 120_000;
    while (stagedItems(out, 'big') < atLeast && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    started.child.kill(signal);
    const r = await started.done;
    if (signal === 'SIGKILL') expect(r.signal, r.stderr).toBe('SIGKILL');
    return r;
  } finally {
    rmSync(stuckMask);
    renameSync(`${stuckMask}.real`, stuckMask);
  }
}

const leftovers = (out: string) => readdirSync(path.dirname(out)).filter((f) => f.startsWith(`${path.basename(out)}.`) || f.startsWith(`${path.basename(out)}-`));

describe('merge-datasets killed outright continues where it stopped', () => {
  it('a new manifest: the finished dataset is kept, the killed one continues from its last chunk, and the result equals an uninterrupted merge', async () => {
    const args = (out: string) => ['--dataset', `ade=${ade}`, '--dataset', `big=${big}`, '--out', out, '--workers', '1'];
    const reference = path.join(dir, 'reference.sqlite');
    const ref = await runCli(MERGE, args(reference), { cwd: dir, env });
    expect(ref.code, ref.stderr).toBe(0);

    const out = path.join(dir, 'resumed.sqlite');
    await killMidway(args(out), out, STUCK - CHUNK);
    expect(existsSync(out)).toBe(false);
    const staged = stagedItems(out, 'big');
    expect(staged).toBeGreaterThanOrEqual(STUCK - CHUNK);
    expect(staged).toBeLessThanOrEqual(STUCK);

    const again = await runCli(MERGE, args(out), { cwd: dir, env });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain('ade: skipped, merged by the interrupted run of this command (kept from its partial file)');
    expect(again.stderr).toContain(`resuming big: ${staged} images (the first ${staged} items of its listing) were written by an interrupted run to ${out}.merging-big; continuing after them`);
    // The summary says how many of the images this run read (its rate counts those alone).
    expect(again.stdout).toMatch(new RegExp(`big +cityscapes +${IMAGES} images \\(${IMAGES - staged} read in this run\\) +0 problems`));
    expect(again.stdout).toContain(`big: continued an interrupted merge (${staged} images were already written)`);
    expect(leftovers(out)).toEqual([]);
    expect(dumpManifest(out)).toEqual(dumpManifest(reference));
  });

  it('an existing manifest: readers see it without the killed dataset meanwhile; the same command then finishes it', async () => {
    const reference = path.join(dir, 'reference-existing.sqlite');
    const out = path.join(dir, 'existing.sqlite');
    for (const file of [reference, out]) {
      const first = await runCli(MERGE, ['--dataset', `ade=${ade}`, '--out', file], { cwd: dir });
      expect(first.code, first.stderr).toBe(0);
    }
    const args = (file: string) => ['--dataset', `big=${big}`, '--out', file, '--workers', '1'];
    expect((await runCli(MERGE, args(reference), { cwd: dir, env })).code).toBe(0);

    await killMidway(args(out), out, CHUNK);
    const reader = ManifestReader.open(out);
    expect(reader.datasets().map((d) => [d.name, d.images])).toEqual([['ade', 5]]);
    reader.close();

    const again = await runCli(MERGE, args(out), { cwd: dir, env });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/^resuming big: \d+ images/m);
    expect(leftovers(out)).toEqual([]);
    expect(dumpManifest(out)).toEqual(dumpManifest(reference));
  });

  it('SIGTERM stops as a kill does, its progress kept, but says so and closes every file (no -wal/-shm), even with a worker stuck in a read; the same command continues', async () => {
    const args = (out: string) => ['--dataset', `ade=${ade}`, '--dataset', `big=${big}`, '--out', out, '--workers', '1'];
    const reference = path.join(dir, 'reference-term.sqlite');
    expect((await runCli(MERGE, args(reference), { cwd: dir, env })).code).toBe(0);
    const out = path.join(dir, 'terminated.sqlite');
    // Stopped once the run is stuck on the FIFO (items up to it committed): a worker is in a read that never returns.
    const stopped = await killMidway(args(out), out, STUCK, 'SIGTERM');
    // Ended by SIGTERM itself, raised again once every file was closed: a shell reports exit 143.
    expect([stopped.code, stopped.signal], stopped.stderr).toEqual([null, 'SIGTERM']);
    const kept = leftovers(out).sort();
    expect(kept).toEqual([expect.stringMatching(/^terminated\.sqlite\.merging-big$/), expect.stringMatching(/^terminated\.sqlite\.partial-\d+$/)]);
    expect(stopped.stderr).toContain(
      `stopped by SIGTERM: no manifest written yet (${out} does not exist); ade kept in ${path.join(dir, kept[1] as string)}; big's progress kept in ${out}.merging-big; the same command continues from there\n`,
    );
    const staged = stagedItems(out, 'big');
    expect(staged).toBe(STUCK);

    const again = await runCli(MERGE, args(out), { cwd: dir, env });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain('ade: skipped, merged by the interrupted run of this command (kept from its partial file)');
    expect(again.stderr).toContain(`resuming big: ${staged} images`);
    expect(leftovers(out)).toEqual([]);
    expect(dumpManifest(out)).toEqual(dumpManifest(reference));
  });

  it('other arguments do not continue a staging file: the dataset starts afresh and says why', async () => {
    const out = path.join(dir, 'changed-args.sqlite');
    await killMidway(['--dataset', `big=${big}`, '--out', out, '--workers', '1'], out, CHUNK);
    const again = await runCli(MERGE, ['--dataset', `big=${big}`, '--out', out, '--workers', '1', '--no-histograms'], { cwd: dir, env });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain(`big: ${out}.merging-big, left by an interrupted run, is not continued (it was written with other arguments); big starts afresh`);
    expect(again.stderr).not.toContain('resuming');
    expect(leftovers(out)).toEqual([]);
  });

  it('a partial file of a dead run holding a dataset this run does not name is not taken over', async () => {
    const out = path.join(dir, 'other-datasets.sqlite');
    await killMidway(['--dataset', `ade=${ade}`, '--dataset', `big=${big}`, '--out', out, '--workers', '1'], out, CHUNK);
    const again = await runCli(MERGE, ['--dataset', `big=${big}`, '--out', out, '--workers', '1'], { cwd: dir, env });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).not.toContain('skipped');
    const reader = ManifestReader.open(out);
    expect(reader.datasets().map((d) => [d.name, d.images])).toEqual([['big', IMAGES]]);
    reader.close();
  });
});
