import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ManifestReader } from '../src/manifest/reader.js';
import { writeCocoPanoptic, writeGrayPng, writeIdd, writeImage, writeObjects365, writeOpenImages } from '../src/testing/index.js';
import { BIN, runCli } from '../../../tests/run-cli.js';
import { tempDir } from '../../../tests/utils.js';

const dir = tempDir('sentseg-split-option-');
const run = (args: string[]) => runCli(BIN.mergeDatasets, [...args, '--workers', '0'], { cwd: dir });

/** A mask of one class with a strip of `other`. */
const mask = (w: number, h: number, value: number, other: number) => new Uint8Array(w * h).fill(value).fill(other, 0, w);

/** The formats whose splits came to chosenSplits last (ade20k, cityscapes and mapillary-vistas: tests/merge-cli.test.ts). */
const CASES: { format: string; has: string; keep: string; write: (root: string) => Promise<unknown> }[] = [
  { format: 'coco-panoptic', has: 'train, val', keep: 'val', write: (root) => writeCocoPanoptic(root, { train: 1, val: 1 }, [20, 16]) },
  {
    format: 'bdd100k',
    has: 'train, val',
    keep: 'val',
    write: async (root) => {
      for (const split of ['train', 'val']) {
        await writeImage(path.join(root, 'images', '10k', split, `${split}1.jpg`), 16, 8, 1);
        writeGrayPng(path.join(root, 'labels', 'sem_seg', 'masks', split, `${split}1.png`), 16, 8, mask(16, 8, 0, 255));
      }
      // The test split ships images without masks: not a split to merge.
      await writeImage(path.join(root, 'images', '10k', 'test', 'test1.jpg'), 16, 8, 1);
    },
  },
  { format: 'idd', has: 'train, val', keep: 'val', write: (root) => writeIdd(root, { train: 1, val: 1 }, [24, 16], { level3Pngs: false }) },
  {
    format: 'sun-rgbd',
    has: 'test, train',
    keep: 'test',
    write: async (root) => {
      for (const [i, split] of ['train', 'test'].entries()) {
        await writeImage(path.join(root, 'image', split, `img-00000${i + 1}.jpg`), 16, 8, 1);
        writeGrayPng(path.join(root, 'semseg-label37', split, `0000000${i + 1}.png`), 16, 8, mask(16, 8, 3, 255));
      }
    },
  },
  { format: 'openimages', has: 'train, validation', keep: 'validation', write: (root) => writeOpenImages(root, { train: 1, validation: 1 }, [24, 16], ['/m/0k4j']) },
  { format: 'objects365', has: 'train, val', keep: 'val', write: (root) => writeObjects365(root, { train: 1, val: 1 }, [24, 16], { version: 'v2', categories: [{ id: 1, name: 'Person' }] }) },
  {
    format: 'generic',
    // Images right in images/ are the split "all".
    has: 'all, train, val',
    keep: 'val',
    write: async (root) => {
      for (const rel of ['train/g1', 'val/g2', 'g3']) {
        await writeImage(path.join(root, 'images', `${rel}.jpg`), 16, 8, 1);
        writeGrayPng(path.join(root, 'masks', `${rel}.png`), 16, 8, mask(16, 8, 1, 0));
      }
      writeFileSync(path.join(root, 'classes.txt'), 'background\ncar\n');
    },
  },
];

const rootOf = (format: string) => path.join(dir, format);

beforeAll(async () => {
  for (const c of CASES) await c.write(rootOf(c.format));
});

describe('--split naming no split a dataset has', () => {
  it.each(CASES)('$format: exit 2, one line naming the splits it has ($has), no manifest written', async ({ format, has }) => {
    const out = path.join(dir, `${format}-refused.sqlite`);
    const r = await run(['--dataset', `mine=${rootOf(format)}`, '--format', `mine=${format}`, '--out', out, '--split', 'nosuchsplit']);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toBe(`error: no split "nosuchsplit" in ${format} dataset "mine" (has: ${has}); no manifest written (${out} does not exist)\n`);
    expect(existsSync(out)).toBe(false);
  });

  it('one --split for every dataset of a run: each reads the splits of it it has, and only those', async () => {
    const out = path.join(dir, 'kept.sqlite');
    const datasets = CASES.flatMap(({ format }) => ['--dataset', `${format}=${rootOf(format)}`]);
    const r = await run([...datasets, '--out', out, '--split', 'val,validation,test']);
    expect(r.code, r.stderr).toBe(0);
    const reader = ManifestReader.open(out);
    try {
      expect(Object.fromEntries(reader.datasets().map((d) => [d.name, d.splits]))).toEqual(Object.fromEntries(CASES.map((c) => [c.format, [c.keep]])));
    } finally {
      reader.close();
    }
  });

  it('a dataset already in the manifest is skipped, not refused, when --split names none of its splits', async () => {
    const out = path.join(dir, 'skipped.sqlite');
    expect((await run(['--dataset', `sun-rgbd=${rootOf('sun-rgbd')}`, '--out', out, '--split', 'test'])).code).toBe(0);
    const r = await run(['--dataset', `sun-rgbd=${rootOf('sun-rgbd')}`, '--dataset', `idd=${rootOf('idd')}`, '--out', out, '--split', 'val']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('sun-rgbd: skipped, already in the manifest');
    expect(r.stdout).toMatch(/idd +idd +1 image /);
  });
});
