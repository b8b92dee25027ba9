import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { beforeAll, describe, expect, it } from 'vitest';
import { DatasetError } from '../src/errors.js';
import { ManifestReader, SAMPLE_PAGE_SQL } from '../src/manifest/reader.js';
import { validateManifest } from '../src/manifest/validate.js';
import { imageId } from '../src/manifest/writer.js';
import { mergeDatasets, parseDatasetSpecs } from '../src/merge.js';
import { writeAde20k, writeCityscapes, writeCocoPanoptic, writeGrayPng, type GeneratedSet } from '../src/testing/index.js';
import { tempDir } from '../../../tests/utils.js';
import { dumpManifest, expectedLabels, taxonomyTable } from '../../../tests/manifest-helpers.js';

const dir = tempDir();
let city: GeneratedSet;
let ade: GeneratedSet;
let coco: Awaited<ReturnType<typeof writeCocoPanoptic>>;

beforeAll(async () => {
  city = await writeCityscapes(path.join(dir, 'cityscapes'), { train: 6, val: 3 }, [32, 16]);
  ade = await writeAde20k(path.join(dir, 'ADEChallengeData2016'), { training: 5, validation: 2 }, [24, 20]);
  coco = await writeCocoPanoptic(path.join(dir, 'coco'), { train: 4, val: 2 }, [20, 16]);
});

const specs = (...pairs: string[]) => parseDatasetSpecs(pairs.map((p) => { const [n, r] = p.split('='); return `${n}=${path.join(dir, r as string)}`; }));

describe('merge-datasets on generated fixtures', () => {
  it('a reader keeps up with rows another connection commits after it listed the datasets', async () => {
    const out = path.join(dir, 'live.sqlite');
    await mergeDatasets(out, specs('cityscapes=cityscapes'), { workers: 0 });
    const reader = ManifestReader.open(out);
    expect(reader.datasets()[0]).toMatchObject({ name: 'cityscapes', images: 9, splits: ['train', 'val'] });
    expect(reader.imageIds('cityscapes', 'train')).toHaveLength(6);
    const writer = new Database(out);
    writer.prepare(`INSERT INTO images (id, dataset, split, image_path, mask_path, width, height) VALUES (?, 'cityscapes', ?, ?, NULL, 32, 16)`).run(1e12, 'train', 'leftImg8bit/train/zz/zz_000000_000019_leftImg8bit.png');
    writer.prepare(`INSERT INTO images (id, dataset, split, image_path, mask_path, width, height) VALUES (?, 'cityscapes', ?, ?, NULL, 32, 16)`).run(1e12 + 1, 'test', 'leftImg8bit/test/zz/zz_000001_000019_leftImg8bit.png');
    writer.close();
    expect(reader.datasets()[0]).toMatchObject({ images: 11, splits: ['test', 'train', 'val'] });
    const ids = reader.imageIds('cityscapes', 'train');
    expect(ids).toHaveLength(7);
    expect(ids[6]).toBe(1e12);
    expect([...reader.samples('cityscapes', 'test')].map((s) => s.id)).toEqual([1e12 + 1]);
    reader.close();
  });

  it("lists a split's samples from one index, without a table lookup per sample", async () => {
    const out = path.join(dir, 'plan.sqlite');
    await mergeDatasets(out, specs('cityscapes=cityscapes'), { workers: 0 });
    const db = new Database(out, { readonly: true });
    const plan = db.prepare(`EXPLAIN QUERY PLAN ${SAMPLE_PAGE_SQL}`).all('cityscapes', 'train', '', 1000) as { detail: string }[];
    db.close();
    expect(plan.map((p) => p.detail)).toEqual([expect.stringContaining('USING COVERING INDEX images_in_sample_order')]);
    // Page by page (2 samples a page: pages end inside and at the end of a split) as in one page;
    // the sampler's ids in the same order.
    const reader = ManifestReader.open(out);
    const whole = [...reader.samples('cityscapes', undefined, 100)];
    expect(whole.map((s) => s.split)).toEqual([...Array(6).fill('train'), ...Array(3).fill('val')]);
    expect([...reader.samples('cityscapes', undefined, 2)]).toEqual(whole);
    expect([...reader.samples('cityscapes', 'val', 3)]).toEqual(whole.slice(6));
    expect(reader.imageIds('cityscapes', 'train')).toEqual(whole.slice(0, 6).map((s) => s.id));
    expect(whole.map((s) => path.relative(city.root, s.image))).toEqual([...whole.map((s) => path.relative(city.root, s.image))].sort());
    reader.close();
  });

  it('writes images, splits and per-label pixel counts that match the masks', async () => {
    const out = path.join(dir, 'm1.sqlite');
    const run = await mergeDatasets(out, specs('cityscapes=cityscapes', 'ade20k=ADEChallengeData2016', 'coco=coco'), { workers: 2 });
    expect(run.summaries.map((s) => [s.dataset, s.format, s.images, s.problems])).toEqual([
      ['cityscapes', 'cityscapes', 9, 0],
      ['ade20k', 'ade20k', 7, 0],
      ['coco', 'coco-panoptic', 6, 0],
    ]);
    const reader = ManifestReader.open(out);
    const info = Object.fromEntries(reader.datasets().map((d) => [d.name, d]));
    expect(info.cityscapes).toMatchObject({ images: 9, splits: ['train', 'val'], annotation: 'dense', loss: 'hd', format: 'cityscapes' });
    expect(info.ade20k?.splits).toEqual(['training', 'validation']);

    const check = (dataset: string, set: Map<string, Map<number, number>>, table: Map<number, number | null>) => {
      const samples = [...reader.samples(dataset)];
      expect(samples).toHaveLength(set.size);
      for (const s of samples) {
        const rel = path.relative(info[dataset]!.root, s.image).split(path.sep).join('/');
        const counts = set.get(rel);
        expect(counts, rel).toBeDefined();
        expect(reader.imageLabels(s.id).map((r) => [r.labelId, r.pixels])).toEqual(expectedLabels(counts!, table));
        expect(s.id).toBe(imageId(dataset, s.split, rel));
      }
    };
    check('cityscapes', city.counts, taxonomyTable('cityscapes'));
    check('ade20k', ade.counts, taxonomyTable('ade20k'));
    check('coco', coco.categoryCounts, taxonomyTable('coco-panoptic'));

    // The trainer's lookup table agrees with the taxonomy; panoptic segments are stored per image.
    const lut = reader.lut('cityscapes');
    expect(lut[26]).toBe(taxonomyTable('cityscapes').get(26)); // car
    expect(lut[1]).toBe(255); // ego vehicle: ignored
    const first = reader.samples('coco').next().value!;
    expect(reader.segments(first.id).size).toBeGreaterThan(0);
    reader.close();
  });

  it('gives the same manifest for the same inputs, and adds a dataset without touching the others', async () => {
    const a = path.join(dir, 'a.sqlite');
    const b = path.join(dir, 'b.sqlite');
    await mergeDatasets(a, specs('cityscapes=cityscapes', 'ade20k=ADEChallengeData2016'), { workers: 2 });
    await mergeDatasets(b, specs('cityscapes=cityscapes'), { workers: 0 });
    const before = dumpManifest(b);
    const run = await mergeDatasets(b, specs('cityscapes=cityscapes', 'ade20k=ADEChallengeData2016'), { workers: 1 });
    expect(run.skipped).toEqual([{ dataset: 'cityscapes', reason: 'already in the manifest; --replace cityscapes to redo it, --update cityscapes to re-read its changed files' }]);
    const after = dumpManifest(b);
    expect(after).toEqual(dumpManifest(a));
    expect(after.images?.filter((r) => (r as { dataset: string }).dataset === 'cityscapes')).toEqual(before.images);

    const replaced = await mergeDatasets(b, specs('cityscapes=cityscapes'), { replace: ['cityscapes'], limit: 2 });
    expect(replaced.summaries[0]?.images).toBe(2);
    const reader = ManifestReader.open(b);
    expect(reader.dataset('cityscapes').images).toBe(2);
    expect(reader.dataset('ade20k').images).toBe(7);
    reader.close();
  });

  it('refuses a dataset already in the manifest from another folder, before writing anything; --replace takes the new folder', async () => {
    const out = path.join(dir, 'other-root.sqlite');
    await mergeDatasets(out, specs('ade20k=ADEChallengeData2016'), { workers: 0 });
    const before = dumpManifest(out);
    const other = path.join(dir, 'ade-other');
    await writeAde20k(other, { validation: 1 }, [24, 20]);
    const err = await mergeDatasets(out, [...specs('cityscapes=cityscapes'), ...parseDatasetSpecs([`ade20k=${other}`])], { workers: 0 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DatasetError);
    expect((err as DatasetError).code).toBe('BAD_ARGUMENT');
    expect((err as DatasetError).message).toBe(
      `ade20k is already in ${out}, merged from ${path.join(dir, 'ADEChallengeData2016')}, not from ${other}: --replace ade20k replaces it with ${other}, or --dataset OTHER-NAME=${other} adds that folder beside it; ${out} is as it was`,
    );
    expect(dumpManifest(out)).toEqual(before);
    const replaced = await mergeDatasets(out, parseDatasetSpecs([`ade20k=${other}`]), { workers: 0, replace: ['ade20k'] });
    expect(replaced.summaries.map((s) => [s.dataset, s.images])).toEqual([['ade20k', 1]]);
    const reader = ManifestReader.open(out);
    expect(reader.dataset('ade20k').root).toBe(other);
    reader.close();
  });

  it('reads a dataset named after a format as that format, and says so when the folder looks like another one', async () => {
    await expect(mergeDatasets(path.join(dir, 'swapped.sqlite'), specs('cityscapes=ADEChallengeData2016'), { workers: 0 })).rejects.toThrow(
      /^not a Cityscapes folder \(no leftImg8bit\/ and gtFine\/\): .*ADEChallengeData2016; the dataset is named cityscapes, so it is read as cityscapes, but the folder looks like ade20k: /,
    );
    await expect(mergeDatasets(path.join(dir, 'swapped.sqlite'), parseDatasetSpecs([`x=${path.join(dir, 'cityscapes')}`], ['x=ade20k']), { workers: 0 })).rejects.toThrow(
      /^not an ADE20K folder .*cityscapes; --format x=ade20k reads it as ade20k, but the folder looks like cityscapes$/,
    );
    expect(existsSync(path.join(dir, 'swapped.sqlite'))).toBe(false);
  });

  it('keeps unmapped classes as new labels only when asked', async () => {
    const out = path.join(dir, 'keep.sqlite');
    const root = path.join(dir, 'ade-unmapped');
    const computer = 75; // ADE "computer" is unmapped
    writeGrayPng(path.join(root, 'annotations', 'training', 'ADE_train_00000001.png'), 4, 2, Uint8Array.from([computer, computer, 1, 1, 1, 1, 0, 0]));
    mkdirSync(path.join(root, 'images', 'training'), { recursive: true });
    copyFileSync(path.join(dir, 'ADEChallengeData2016', 'images', 'training', 'ADE_train_00000001.jpg'), path.join(root, 'images', 'training', 'ADE_train_00000001.jpg'));
    // image is 24×20, mask 4×2: a size mismatch; make a matching image instead
    const { writeImage } = await import('../src/testing/index.js');
    await writeImage(path.join(root, 'images', 'training', 'ADE_train_00000001.jpg'), 4, 2, 0);
    await mergeDatasets(out, parseDatasetSpecs([`ade20k=${root}`]), { keepUnmapped: true });
    const reader = ManifestReader.open(out);
    const computerLabel = reader.labels().find((l) => l.name === 'computer');
    // The 9 unmapped ADE classes become labels 238.. in source-id order: plant (18), signboard (44), computer (75), ...
    expect(reader.labels().filter((l) => l.origin === 'unmapped:ade20k').map((l) => l.id)).toEqual([238, 239, 240, 241, 242, 243, 244, 245, 246]);
    expect(computerLabel).toMatchObject({ id: 240, origin: 'unmapped:ade20k' });
    const s = reader.samples('ade20k').next().value!;
    expect(reader.imageLabels(s.id)).toEqual([{ labelId: taxonomyTable('ade20k').get(1), pixels: 4 }, { labelId: 240, pixels: 2 }]);
    reader.close();
  });
});

describe('bad input', () => {
  it('turns broken files into problems rows and keeps the good images', async () => {
    const root = path.join(dir, 'bad-city');
    await writeCityscapes(root, { train: 6 }, [32, 16], 9);
    const mask = (i: number) => path.join(root, 'gtFine', 'train', i % 2 === 0 ? 'aachen' : 'bremen', `${i % 2 === 0 ? 'aachen' : 'bremen'}_${String(i).padStart(6, '0')}_000019_gtFine_labelIds.png`);
    writeFileSync(mask(0), 'not a png at all');
    truncateSync(mask(1), 60);
    rmSync(mask(2));
    writeGrayPng(mask(3), 16, 8, new Uint8Array(128).fill(7));
    writeGrayPng(mask(4), 32, 16, new Uint8Array(512).fill(7).fill(77, 0, 10));
    const out = path.join(dir, 'bad.sqlite');
    const run = await mergeDatasets(out, parseDatasetSpecs([`cityscapes=${root}`]), { workers: 2 });
    expect(run.summaries[0]).toMatchObject({ images: 2, problems: 5 });
    const reader = ManifestReader.open(out);
    const problems = reader.problems("cityscapes").map((p) => `${path.basename(p.file)}: ${p.reason}`);
    // In the dataset's order (city folders, then names): listing and decoding problems alike.
    expect(problems).toEqual([
      expect.stringMatching(/^aachen_000000_000019_gtFine_labelIds\.png: corrupt or truncated PNG/),
      'aachen_000002_000019_leftImg8bit.png: no annotation gtFine/train/aachen/aachen_000002_000019_gtFine_labelIds.png',
      'aachen_000004_000019_gtFine_labelIds.png: ids not in the cityscapes taxonomy, counted as ignored: 77 (10 px)',
      expect.stringMatching(/^bremen_000001_000019_gtFine_labelIds\.png: corrupt or truncated PNG/),
      'bremen_000003_000019_gtFine_labelIds.png: mask 16×8 does not match image 32×16',
    ]);
    reader.close();
  });

  it('rejects paths outside the dataset root and malformed JSON as problems', async () => {
    const root = path.join(dir, 'bad-coco');
    await writeCocoPanoptic(root, { train: 2, val: 1 }, [20, 16], 5);
    const json = path.join(root, 'annotations', 'panoptic_train2017.json');
    const parsed = JSON.parse(readFileSync(json, 'utf8')) as { annotations: { file_name: string }[]; images: { file_name: string }[] };
    parsed.annotations[0]!.file_name = '../../../../etc/passwd';
    writeFileSync(json, JSON.stringify(parsed));
    writeFileSync(path.join(root, 'annotations', 'panoptic_val2017.json'), '{"annotations": [');
    const out = path.join(dir, 'coco-bad.sqlite');
    const run = await mergeDatasets(out, parseDatasetSpecs([`coco=${root}`]));
    expect(run.summaries[0]).toMatchObject({ images: 1, problems: 2 });
    const reader = ManifestReader.open(out);
    expect(reader.problems().map((p) => p.reason)).toEqual([
      expect.stringMatching(/annotation #0 names a file outside the dataset root: \.\.\/\.\.\/\.\.\/\.\.\/etc\/passwd/),
      expect.stringMatching(/^malformed JSON/),
    ]);
    reader.close();
  });

  it('refuses an empty folder, a missing folder and a folder of the wrong format, leaving no manifest', async () => {
    const empty = path.join(dir, 'empty');
    mkdirSync(empty, { recursive: true });
    const out = path.join(dir, 'none.sqlite');
    await expect(mergeDatasets(out, parseDatasetSpecs([`x=${empty}`]))).rejects.toThrow(/dataset folder is empty: .*empty/);
    await expect(mergeDatasets(out, parseDatasetSpecs([`x=${path.join(dir, 'nope')}`]))).rejects.toThrow(/dataset folder not found/);
    await expect(mergeDatasets(out, parseDatasetSpecs([`x=${path.join(dir, 'coco', 'annotations')}`]))).rejects.toThrow(/cannot tell the format of .*annotations; name it/);
    await expect(mergeDatasets(out, parseDatasetSpecs([`x=${path.join(dir, 'cityscapes')}`], ['x=ade20k']))).rejects.toThrow(DatasetError);
    await expect(mergeDatasets(out, parseDatasetSpecs([`x=${path.join(dir, 'cityscapes')}`], ['x=ade20k']))).rejects.toThrow(/not an ADE20K folder .*cityscapes/);
    expect(existsSync(out)).toBe(false);
  });

  it('a dataset that fails leaves the manifest as it was', async () => {
    const out = path.join(dir, 'keep-old.sqlite');
    await mergeDatasets(out, specs('ade20k=ADEChallengeData2016'));
    const before = dumpManifest(out);
    const broken = path.join(dir, 'all-broken');
    await writeCityscapes(broken, { train: 2 }, [8, 8], 4);
    for (const f of ['aachen_000000_000019', 'bremen_000001_000019']) writeFileSync(path.join(broken, 'gtFine', 'train', f.split('_')[0]!, `${f}_gtFine_labelIds.png`), 'x');
    await expect(mergeDatasets(out, parseDatasetSpecs([`cityscapes=${broken}`]))).rejects.toThrow(/no usable images in cityscapes dataset "cityscapes"/);
    expect(dumpManifest(out)).toEqual(before);
  });
});

describe('manifest validate', () => {
  it('finds files that went missing or changed after the merge', async () => {
    const root = path.join(dir, 'to-break');
    await writeAde20k(root, { training: 3 }, [16, 12], 7);
    const out = path.join(dir, 'validate.sqlite');
    await mergeDatasets(out, parseDatasetSpecs([`ade20k=${root}`]));
    let reader = ManifestReader.open(out);
    expect((await validateManifest(reader, { workers: 1 })).problems).toEqual([]);
    reader.close();
    rmSync(path.join(root, 'images', 'training', 'ADE_train_00000001.jpg'));
    writeGrayPng(path.join(root, 'annotations', 'training', 'ADE_train_00000002.png'), 16, 12, new Uint8Array(192).fill(200));
    reader = ManifestReader.open(out);
    const report = await validateManifest(reader, { workers: 1 });
    reader.close();
    expect(report.checked).toBe(3);
    expect(report.problems.map((p) => `${path.basename(p.file)}: ${p.reason}`)).toEqual([
      'ADE_train_00000002.png: ids not in the taxonomy: 200 (192 px)',
      'ADE_train_00000001.jpg: image missing',
    ]);
  });
});
