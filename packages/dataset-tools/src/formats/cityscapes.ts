import { existsSync } from 'node:fs';
import path from 'node:path';
import { DatasetError } from '../errors.js';
import { walkFiles } from '../paths.js';
import { taxonomyFor } from '../taxonomy.js';
import { folderSplits, subfolders } from './splits.js';
import { grayDenseDataset, type FormatAdapter, type OpenOptions, type OpenedDataset, type SampleOrProblem } from './types.js';

const SPLITS = ['train', 'val'];

/** Cityscapes' folder and file names, spelled once: the reader below and the fixture writer (testing/write-layouts.ts). */
export const CITYSCAPES_PATHS = {
  imageDir: 'leftImg8bit',
  maskDir: 'gtFine',
  imageSuffix: '_leftImg8bit.png',
  maskSuffix: '_gtFine_labelIds.png',
} as const;
const P = CITYSCAPES_PATHS;

/**
 * Cityscapes: leftImg8bit/<split>/<city>/<name>_leftImg8bit.png with gtFine/<split>/<city>/<name>_gtFine_labelIds.png.
 * Masks hold the 34 labelIds; the taxonomy maps the 19 train classes to labels and ignores the rest.
 */
export const cityscapes: FormatAdapter = {
  name: 'cityscapes',
  title: 'Cityscapes (leftImg8bit + gtFine labelIds)',
  annotation: 'dense',
  detect: (root) => existsSync(path.join(root, P.imageDir)) && existsSync(path.join(root, P.maskDir)),
  open(root: string, options: OpenOptions): OpenedDataset {
    if (!cityscapes.detect(root)) throw new DatasetError('NOT_A_DATASET', `not a Cityscapes folder (no ${P.imageDir}/ and ${P.maskDir}/): ${root}`);
    const taxonomy = taxonomyFor('cityscapes', options);
    const splits = folderSplits('cityscapes', path.join(root, P.imageDir), SPLITS, options.splits, options.datasetName);
    if (splits.length === 0 && options.splits === undefined) {
      const found = subfolders(path.join(root, P.imageDir));
      // The test split's gtFine masks are placeholders (all "unlabeled"): read only when asked for.
      throw new DatasetError('NOT_A_DATASET', `no train or val split in ${root} (found: ${found.join(', ') || 'none'}${found.includes('test') ? '; the test labels are placeholders, --split test reads them anyway' : ''})`);
    }
    return grayDenseDataset('cityscapes', P.maskDir, taxonomy, function* (): Iterable<SampleOrProblem> {
      for (const split of splits) {
        for (const rel of walkFiles(path.join(root, P.imageDir, split), (n) => n.endsWith(P.imageSuffix))) {
          const image = `${P.imageDir}/${split}/${rel}`;
          const mask = `${P.maskDir}/${split}/${rel.slice(0, -P.imageSuffix.length)}${P.maskSuffix}`;
          if (!existsSync(path.join(root, mask))) yield { problem: { file: image, reason: `no annotation ${mask}` } };
          else yield { sample: { split, image, mask } };
        }
      }
    });
  },
};
