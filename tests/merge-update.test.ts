/**
 * merge-datasets --update NAME: only the images whose files changed (size or mtime) are read again;
 * image ids stay the same; the run says how many images were added, changed and removed, and the
 * manifest ends as a full merge of the folder as it is now would write it.
 */
import { copyFileSync, rmSync, utimesSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { REPO, tempDir } from './utils.js';
import { dumpManifest, expectedLabels, taxonomyTable } from './manifest-helpers.js';
import Database from 'better-sqlite3';
import { MANIFEST_SCHEMA_VERSION, ManifestReader } from '@sentseg/dataset-tools';
import { writeCityscapes, writeGrayPng } from '@sentseg/dataset-tools/testing';
import { runCli } from './run-cli.js';

const MERGE = path.join(REPO, 'packages', 'dataset-tools', 'dist', 'cli.js');
const dir = tempDir('sentseg-merge-update-');
const root = path.join(dir, 'cityscapes');
const W = 32;
const H = 16;
const file = (kind: 'image' | 'mask', i: number) => {
  const city = i % 2 === 0 ? 'aachen' : 'bremen';
  const name = `${city}_${String(i).padStart(6, '0')}_000019`;
  return kind === 'image' ? path.join(root, 'leftImg8bit', 'train', city, `${name}_leftImg8bit.png`) : path.join(root, 'gtFine', 'train', city, `${name}_gtFine_labelIds.png`);
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

    // The same rows, row for row, as a merge of the folder as it is now.
    const fresh = path.join(dir, 'fresh.sqlite');
    expect((await runCli(MERGE, ['--dataset', `cityscapes=${root}`, '--out', fresh], { cwd: dir })).code).toBe(0);
    expect(dumpManifest(out)).toEqual(dumpManifest(fresh));

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

  it('names a dataset given with --dataset: another name is one line, exit 2', async () => {
    const r = await runCli(MERGE, ['--dataset', `cityscapes=${root}`, '--update', 'city', '--out', path.join(dir, 'x.sqlite')], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('error: --update name "city" has no --dataset city=PATH (the folder to re-read)\n');
  });
});
