import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { detectFormat } from '../src/formats/index.js';
import { ManifestReader } from '../src/manifest/reader.js';
import { mergeDatasets, parseDatasetSpecs } from '../src/merge.js';
import { writeAde20k, writeCityscapes, writeCocoPanoptic, writeGrayPng, writeIdd, writeImage, writeMapillaryVistas, writeObjects365, writeOpenImages } from '../src/testing/index.js';
import { readTaxonomy } from '../src/taxonomy.js';
import { tempDir } from '../../../tests/utils.js';

const dir = tempDir('sentseg-single-split-');

/** A mask of one class with a strip of `other`, so every format sees a known id and a second value. */
const mask = (w: number, h: number, value: number, other: number) => new Uint8Array(w * h).fill(value).fill(other, 0, w);

/**
 * Evaluation-only downloads hold one split: ADEChallengeData2016 with images/validation and
 * annotations/validation only, a Mapillary copy with validation/ only, a SUN RGB-D test set. Each
 * format must recognise such a folder, and read it when the dataset is named after the format.
 * Folders are written with the test writers where they exist, by hand for the three formats without one.
 */
const CASES: { format: string; split: string; write: (root: string) => Promise<unknown>; splits?: string[] }[] = [
  { format: 'ade20k', split: 'validation', write: (root) => writeAde20k(root, { validation: 2 }, [16, 12]) },
  { format: 'cityscapes', split: 'val', write: (root) => writeCityscapes(root, { val: 2 }, [32, 16]) },
  // Cityscapes' test masks are placeholders: read when asked for (the default run says so, below).
  { format: 'cityscapes', split: 'test', write: (root) => writeCityscapes(root, { test: 1 }, [32, 16]), splits: ['test'] },
  { format: 'coco-panoptic', split: 'val', write: (root) => writeCocoPanoptic(root, { val: 2 }, [20, 16]) },
  { format: 'mapillary-vistas', split: 'validation', write: (root) => writeMapillaryVistas(root, { validation: 2 }, [8, 8], readTaxonomy('mapillary-vistas').classes.map((c) => c.name)) },
  { format: 'idd', split: 'val', write: (root) => writeIdd(root, { val: 1 }, [24, 16], { level3Pngs: false }) },
  { format: 'objects365', split: 'val', write: (root) => writeObjects365(root, { val: 2 }, [24, 16], { version: 'v2', categories: [{ id: 1, name: 'Person' }] }) },
  { format: 'openimages', split: 'validation', write: (root) => writeOpenImages(root, { validation: 2 }, [24, 16], ['/m/0k4j']) },
  { format: 'openimages', split: 'test', write: (root) => writeOpenImages(root, { test: 1 }, [24, 16], ['/m/0k4j']) },
  {
    format: 'bdd100k',
    split: 'val',
    write: async (root) => {
      await writeImage(path.join(root, 'images', '10k', 'val', 'b1.jpg'), 16, 8, 1);
      writeGrayPng(path.join(root, 'labels', 'sem_seg', 'masks', 'val', 'b1.png'), 16, 8, mask(16, 8, 0, 255));
    },
  },
  {
    format: 'sun-rgbd',
    split: 'test',
    write: async (root) => {
      await writeImage(path.join(root, 'image', 'test', 'img-000001.jpg'), 16, 8, 1);
      writeGrayPng(path.join(root, 'semseg-label37', 'test', '00000001.png'), 16, 8, mask(16, 8, 3, 255));
    },
  },
  {
    format: 'generic',
    split: 'val',
    write: async (root) => {
      await writeImage(path.join(root, 'images', 'val', 'g1.jpg'), 16, 8, 1);
      writeGrayPng(path.join(root, 'masks', 'val', 'g1.png'), 16, 8, mask(16, 8, 1, 0));
      writeFileSync(path.join(root, 'classes.txt'), 'background\ncar\n');
    },
  },
];

describe('a folder holding a single split', () => {
  it.each(CASES)('$format with only $split is detected, and read when the dataset is named $format', async ({ format, split, write, splits }) => {
    const root = path.join(dir, `${format}-${split}`);
    await write(root);
    expect(detectFormat(root).name).toBe(format);
    const out = path.join(dir, `${format}-${split}.sqlite`);
    const run = await mergeDatasets(out, parseDatasetSpecs([`${format}=${root}`]), { workers: 0, splits });
    expect(run.summaries.map((s) => [s.format, s.problems])).toEqual([[format, 0]]);
    expect(run.summaries[0]?.images).toBeGreaterThan(0);
    const reader = ManifestReader.open(out);
    expect(reader.dataset(format).splits).toEqual([split]);
    reader.close();
  });

  it('a Cityscapes folder with only the test split says why nothing is read by default', async () => {
    const root = path.join(dir, 'cityscapes-test');
    await expect(mergeDatasets(path.join(dir, 'cs-test-default.sqlite'), parseDatasetSpecs([`cityscapes=${root}`]), { workers: 0 })).rejects.toThrow(
      /no train or val split in .*cityscapes-test \(found: test; the test labels are placeholders, --split test reads them anyway\)/,
    );
  });
});
