/**
 * merge-datasets --update NAME: only the images whose files changed (size or mtime) are read again;
 * image ids stay the same; the run says how many images were added, changed and removed, and the
 * manifest ends as a full merge of the folder as it is now would write it.
 */
import { copyFileSync, existsSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { REPO, tempDir } from './utils.js';
import { expectedLabels, manifestContent, taxonomyTable } from './manifest-helpers.js';
import Database from 'better-sqlite3';
import { MANIFEST_SCHEMA_VERSION, ManifestReader } from '@sentseg/dataset-tools';
import { writeCityscapes, writeGrayPng, writeOpenImages } from '@sentseg/dataset-tools/testing';
import { runCli } from './run-cli.js';

const MERGE = path.join(REPO, 'packages', 'dataset-tools', 'dist', 'cli.js');
const dir = tempDir('sentseg-merge-update-');
const root = path.join(dir, 'cityscapes');
const W = 32;
const H = 16;
const file = (kind: 'image' | 'mask', i: number, at = root) => {
  const city = i % 2 === 0 ? 'aachen' : 'bremen';
  const name = `${city}_${String(i).padStart(6, '0')}_000019`;
  return kind === 'image' ? path.join(at, 'leftImg8bit', 'train', city, `${name}_leftImg8bit.png`) : path.join(at, 'gtFine', 'train', city, `${name}_gtFine_labelIds.png`);
};
const idsByPath = (out: string) => {
  const reader = ManifestReader.open(out);
  try {
    return new Map([...reader.samples('cityscapes')].map((s) => [path.relative(root, s.image), s.id]));
  } finally {
    reader.close();
  }
};

beforeAll(async () => {
  await writeCityscapes(root, { train: 20 }, [W, H], 31);
});

describe('merge-datasets --update NAME', () => {
  it('re-reads the changed, added and removed images only, keeps the ids of the rest, and ends as a full merge would', async () => {
    const out = path.join(dir, 'm.sqlite');
    const first = await runCli(MERGE, ['--dataset', `cityscapes=${root}`, '--out', out], { cwd: dir });
    expect(first.code, first.stderr).toBe(0);
    const before = idsByPath(out);
    expect(before.size).toBe(20);

    // Image 2's mask now says "road" (labelId 7) everywhere; image 3 is gone; image 100 is new.
    writeGrayPng(file('mask', 2), W, H, new Uint8Array(W * H).fill(7));
    utimesSync(file('mask', 2), new Date(), new Date(Date.now() + 5000));
    rmSync(file('image', 3));
    rmSync(file('mask', 3));
    copyFileSync(file('image', 4), file('image', 100));
    copyFileSync(file('mask', 4), file('mask', 100));

    const update = await runCli(MERGE, ['--dataset', `cityscapes=${root}`, '--update', 'cityscapes', '--out', out], { cwd: dir });
    expect(update.code, update.stderr).toBe(0);
    expect(update.stdout).toContain('cityscapes: updated: 1 added, 1 changed, 1 removed (2 images re-read, the others kept)');
    // The rate counts the 2 images this run read, not the 20 the dataset has.
    const line = /cityscapes +cityscapes +20 images \(2 read in this run\) +0 problems ([\d.]+) s \(([\d,]+) images\/s\)/.exec(update.stdout);
    expect(line, update.stdout).not.toBeNull();
    const [seconds, rate] = [Number(line?.[1]), Number(line?.[2]?.replace(/,/g, ''))];
    expect(rate).toBeGreaterThanOrEqual(Math.floor(2 / (seconds + 0.005)));
    expect(rate).toBeLessThanOrEqual(Math.ceil(2 / Math.max(seconds - 0.005, 0.001)));

    const after = idsByPath(out);
    expect(after.size).toBe(20);
    for (const [rel, id] of before) if (!rel.includes('_000003_')) expect(after.get(rel), rel).toBe(id);
    expect([...after.keys()].filter((rel) => !before.has(rel))).toEqual([path.relative(root, file('image', 100))]);
    const reader = ManifestReader.open(out);
    const changed = after.get(path.relative(root, file('image', 2))) as number;
    expect(reader.imageLabels(changed).map((l) => [l.labelId, l.pixels])).toEqual(expectedLabels(new Map([[7, W * H]]), taxonomyTable('cityscapes')));
    reader.close();

    // The same rows as a merge of the folder as it is now (kept rows stay where they were, so not in the same row order).
    const fresh = path.join(dir, 'fresh.sqlite');
    expect((await runCli(MERGE, ['--dataset', `cityscapes=${root}`, '--out', fresh], { cwd: dir })).code).toBe(0);
    expect(manifestContent(out)).toEqual(manifestContent(fresh));

    // Nothing changed since: nothing is read again.
    const again = await runCli(MERGE, ['--dataset', `cityscapes=${root}`, '--update', 'cityscapes', '--out', out], { cwd: dir });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain('cityscapes: updated: 0 added, 0 changed, 0 removed (0 images re-read, the others kept)');
  });

  it('a manifest written before images_in_sample_order still lists the same samples, and --update builds that index in its transaction, saying so', async () => {
    const out = path.join(dir, 'old-index.sqlite');
    expect((await runCli(MERGE, ['--dataset', `cityscapes=${root}`, '--out', out], { cwd: dir })).code).toBe(0);
    const listing = (file: string) => {
      const reader = ManifestReader.open(file);
      try {
        return { samples: [...reader.samples('cityscapes')], ids: reader.imageIds('cityscapes', 'train') };
      } finally {
        reader.close();
      }
    };
    const expected = listing(out);
    expect(expected.samples).toHaveLength(20);
    // The previous layout: the sample order's index covers (dataset, split, image_path) only.
    const old = new Database(out);
    old.exec(`DROP INDEX images_in_sample_order; CREATE INDEX images_by_split_path ON images (dataset, split, image_path);`);
    old.close();
    const indexes = () => {
      const db = new Database(out, { readonly: true });
      try {
        return {
          names: db.prepare(`SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'images' AND name NOT LIKE 'sqlite_%' ORDER BY name`).pluck().all(),
          version: db.prepare(`SELECT value FROM meta WHERE key = 'schema_version'`).pluck().get(),
        };
      } finally {
        db.close();
      }
    };
    expect(indexes()).toEqual({ names: ['images_by_split_path'], version: String(MANIFEST_SCHEMA_VERSION) });
    expect(listing(out)).toEqual(expected);

    const update = await runCli(MERGE, ['--dataset', `cityscapes=${root}`, '--update', 'cityscapes', '--out', out], { cwd: dir });
    expect(update.code, update.stderr).toBe(0);
    expect(update.stdout).toContain(`${out}: written before the images_in_sample_order index; built it in cityscapes's transaction`);
    expect(indexes()).toEqual({ names: ['images_in_sample_order'], version: String(MANIFEST_SCHEMA_VERSION) });
    expect(listing(out)).toEqual(expected);
    // Said once: the next run finds the index.
    const again = await runCli(MERGE, ['--dataset', `cityscapes=${root}`, '--update', 'cityscapes', '--out', out], { cwd: dir });
    expect(again.stdout).not.toContain('images_in_sample_order');
  });

  it('refuses what would otherwise be another merge than an update, in one line, leaving the manifest as it was', async () => {
    const out = path.join(dir, 'refusals.sqlite');
    expect((await runCli(MERGE, ['--dataset', `cityscapes=${root}`, '--out', out], { cwd: dir })).code).toBe(0);
    const digest = () => createHash('sha256').update(readFileSync(out)).digest('hex');
    const before = digest();
    const other = path.join(dir, 'other-cityscapes');
    await writeCityscapes(other, { train: 2 }, [W, H], 34);
    const cases: [string[], RegExp][] = [
      // Another folder: as without --update (it would have removed every image the other folder lacks).
      [['--dataset', `cityscapes=${other}`, '--update', 'cityscapes'], /^error: cityscapes is already in .*refusals\.sqlite, merged from .*, not from .*other-cityscapes: --replace cityscapes replaces it/],
      // A dataset the manifest does not hold: nothing to update (it would have been merged in full).
      [['--dataset', `city2=${root}`, '--format', 'city2=cityscapes', '--update', 'city2'], /^error: --update city2: city2 is not in .*refusals\.sqlite, so there is nothing to update \(without --update, city2 is merged in full\); .* is as it was$/m],
      [['--dataset', `cityscapes=${root}`, '--update', 'cityscapes', '--replace', 'cityscapes'], /^error: --update cityscapes and --replace cityscapes contradict each other/],
      [['--dataset', `cityscapes=${root}`, '--update'], /^error: Not enough arguments following: update$/m],
    ];
    for (const [args, message] of cases) {
      const r = await runCli(MERGE, [...args, '--out', out], { cwd: dir });
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(digest(), args.join(' ')).toBe(before);
    }
    // --update into a manifest that does not exist yet: refused, and none is written.
    const missing = path.join(dir, 'missing.sqlite');
    const r = await runCli(MERGE, ['--dataset', `cityscapes=${root}`, '--update', 'cityscapes', '--out', missing], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: --update cityscapes: .*missing\.sqlite does not exist yet, so there is nothing to update .*; nothing written\n$/);
    expect(existsSync(missing)).toBe(false);
  });

  it('names a dataset given with --dataset: another name is one line, exit 2', async () => {
    const r = await runCli(MERGE, ['--dataset', `cityscapes=${root}`, '--update', 'city', '--out', path.join(dir, 'x.sqlite')], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('error: --update name "city" has no --dataset city=PATH (the folder to re-read)\n');
  });

  it('keeps the problems of unchanged images, and drops those of an image whose file was fixed', async () => {
    const at = path.join(dir, 'with-problems');
    await writeCityscapes(at, { train: 6 }, [W, H], 32);
    const out = path.join(dir, 'problems.sqlite');
    // Masks 1 and 4 hold an id no Cityscapes class has: a problem each, the images are kept.
    for (const i of [1, 4]) writeGrayPng(file('mask', i, at), W, H, new Uint8Array(W * H).fill(200));
    // A merge with problems writes the usable images and exits non-zero, saying so.
    const first = await runCli(MERGE, ['--dataset', `cityscapes=${at}`, '--out', out], { cwd: dir });
    expect(first.code, first.stderr).toBe(2);
    expect(first.stderr).toContain('2 problems');
    const problems = () => {
      const reader = ManifestReader.open(out);
      try {
        return reader.problems('cityscapes', 100).map((p) => path.basename(p.file)).sort();
      } finally {
        reader.close();
      }
    };
    expect(problems()).toEqual([path.basename(file('mask', 4, at)), path.basename(file('mask', 1, at))]);

    // Image 0 changes (its problems are none); mask 4 is fixed.
    writeGrayPng(file('mask', 0, at), W, H, new Uint8Array(W * H).fill(7));
    writeGrayPng(file('mask', 4, at), W, H, new Uint8Array(W * H).fill(8));
    for (const i of [0, 4]) utimesSync(file('mask', i, at), new Date(), new Date(Date.now() + 5000));
    const update = await runCli(MERGE, ['--dataset', `cityscapes=${at}`, '--update', 'cityscapes', '--out', out], { cwd: dir });
    expect(update.code, update.stderr).toBe(2);
    expect(update.stderr).toContain('1 problem');
    expect(update.stdout).toContain('cityscapes: updated: 0 added, 2 changed, 0 removed (2 images re-read, the others kept)');
    expect(update.stdout).toMatch(/cityscapes +cityscapes +6 images \(2 read in this run\) +1 problem /);
    expect(problems()).toEqual([path.basename(file('mask', 1, at))]);
    const fresh = path.join(dir, 'problems-fresh.sqlite');
    expect((await runCli(MERGE, ['--dataset', `cityscapes=${at}`, '--out', fresh], { cwd: dir })).code).toBe(2);
    expect(manifestContent(out)).toEqual(manifestContent(fresh));
  });

  it('reads every image again when the dataset was merged with other settings, and says why', async () => {
    const at = path.join(dir, 'settings');
    await writeCityscapes(at, { train: 4 }, [W, H], 33);
    const out = path.join(dir, 'settings.sqlite');
    expect((await runCli(MERGE, ['--dataset', `cityscapes=${at}`, '--no-histograms', '--out', out], { cwd: dir })).code).toBe(0);
    const labelRows = () => {
      const db = new Database(out, { readonly: true });
      try {
        return db.prepare(`SELECT COUNT(*) FROM image_labels`).pluck().get() as number;
      } finally {
        db.close();
      }
    };
    expect(labelRows()).toBe(0);

    // No file changed, but the rows were read without histograms: keeping them would leave the pixel counts out.
    const update = await runCli(MERGE, ['--dataset', `cityscapes=${at}`, '--update', 'cityscapes', '--out', out], { cwd: dir });
    expect(update.code, update.stderr).toBe(0);
    expect(update.stderr).toContain('cityscapes: --update reads every image again: it was merged with --no-histograms\n');
    expect(update.stdout).toContain('cityscapes: updated: 0 added, 4 changed, 0 removed (4 images re-read: every image, since it was merged with --no-histograms)');
    expect(labelRows()).toBeGreaterThan(0);
    const fresh = path.join(dir, 'settings-fresh.sqlite');
    expect((await runCli(MERGE, ['--dataset', `cityscapes=${at}`, '--out', fresh], { cwd: dir })).code).toBe(0);
    expect(manifestContent(out)).toEqual(manifestContent(fresh));

    // A manifest that does not record how it was read (as merge-datasets wrote them before) is read again too.
    const db = new Database(out);
    db.prepare(`DELETE FROM meta WHERE key LIKE 'read_settings:%'`).run();
    db.close();
    const older = await runCli(MERGE, ['--dataset', `cityscapes=${at}`, '--update', 'cityscapes', '--out', out], { cwd: dir });
    expect(older.code, older.stderr).toBe(0);
    expect(older.stdout).toContain('(4 images re-read: every image, since the manifest does not say how its images were read');
    // Recorded now: the next update keeps them.
    const again = await runCli(MERGE, ['--dataset', `cityscapes=${at}`, '--update', 'cityscapes', '--out', out], { cwd: dir });
    expect(again.stdout).toContain('cityscapes: updated: 0 added, 0 changed, 0 removed (0 images re-read, the others kept)');
    expect(manifestContent(out)).toEqual(manifestContent(fresh));
  });

  it('keeps the instance masks of unchanged OpenImages images, and replaces those of a changed one', async () => {
    const at = path.join(dir, 'openimages');
    const names = { '/m/0k4j': 'Car', '/m/0bt9lr': 'Dog', '/m/01g317': 'Person' };
    const oi = await writeOpenImages(at, { train: 6 }, [40, 24], Object.keys(names), 12, names);
    const out = path.join(dir, 'openimages.sqlite');
    const first = await runCli(MERGE, ['--dataset', `openimages=${at}`, '--out', out], { cwd: dir });
    expect(first.code, first.stderr).toBe(0);

    // Image 1's first mask is redrawn; image 5 is gone, with its rows of the CSV.
    const images = [...oi.instances.keys()];
    const redrawn = (oi.instances.get(images[1] as string) as { maskPath: string }[])[0]?.maskPath as string;
    writeGrayPng(path.join(at, 'masks', 'train', redrawn), 20, 12, new Uint8Array(20 * 12).fill(255));
    utimesSync(path.join(at, 'masks', 'train', redrawn), new Date(), new Date(Date.now() + 5000));
    const gone = images[5] as string;
    rmSync(path.join(at, gone));
    const csv = path.join(at, 'train-annotations-object-segmentation.csv');
    const goneId = path.basename(gone, path.extname(gone));
    writeFileSync(csv, readFileSync(csv, 'utf8').split('\n').filter((line) => !line.includes(`,${goneId},`)).join('\n'));

    const update = await runCli(MERGE, ['--dataset', `openimages=${at}`, '--update', 'openimages', '--out', out], { cwd: dir });
    expect(update.code, update.stderr).toBe(0);
    expect(update.stdout).toContain('openimages: updated: 0 added, 1 changed, 1 removed (1 image re-read, the others kept)');
    const fresh = path.join(dir, 'openimages-fresh.sqlite');
    expect((await runCli(MERGE, ['--dataset', `openimages=${at}`, '--out', fresh], { cwd: dir })).code).toBe(0);
    expect(manifestContent(out)).toEqual(manifestContent(fresh));
  });
});
