import { existsSync } from 'node:fs';
import path from 'node:path';
import { DatasetError } from '../errors.js';
import { walkFiles, stem } from '../paths.js';
import { taxonomyFor } from '../taxonomy.js';
import { folderSplits } from './splits.js';
import { grayDenseDataset, type FormatAdapter, type OpenOptions, type OpenedDataset, type SampleOrProblem } from './types.js';

const SPLITS = ['train', 'val'];

/** The two published layouts of BDD100K semantic segmentation. */
function layout(root: string): { images: string; labels: string; maskName: (id: string) => string; version: string } | null {
  if (existsSync(path.join(root, 'images', '10k')) && existsSync(path.join(root, 'labels', 'sem_seg', 'masks'))) {
    return { images: 'images/10k', labels: 'labels/sem_seg/masks', maskName: (id) => `${id}.png`, version: 'bdd100k images/10k + labels/sem_seg/masks' };
  }
  if (existsSync(path.join(root, 'seg', 'images')) && existsSync(path.join(root, 'seg', 'labels'))) {
    return { images: 'seg/images', labels: 'seg/labels', maskName: (id) => `${id}_train_id.png`, version: 'bdd100k seg (2018 release)' };
  }
  return null;
}

/** BDD100K sem_seg: 10k images with label PNGs of train ids 0..18, 255 = ignore. */
export const bdd100k: FormatAdapter = {
  name: 'bdd100k',
  title: 'BDD100K semantic segmentation (images/10k + sem_seg masks)',
  annotation: 'dense',
  detect: (root) => layout(root) !== null,
  open(root: string, options: OpenOptions): OpenedDataset {
    const found = layout(root);
    if (!found) throw new DatasetError('NOT_A_DATASET', `not a BDD100K folder (no images/10k + labels/sem_seg/masks, nor seg/images + seg/labels): ${root}`);
    const taxonomy = taxonomyFor('bdd100k', options);
    // A split is a folder of masks (the test split has images alone: nothing to merge).
    const splits = folderSplits('bdd100k', path.join(root, found.labels), SPLITS, options.splits, options.datasetName);
    return grayDenseDataset('bdd100k', found.version, taxonomy, function* (): Iterable<SampleOrProblem> {
      for (const split of splits) {
        for (const rel of walkFiles(path.join(root, found.images, split), (n) => /\.jpe?g$/i.test(n), false)) {
          const image = `${found.images}/${split}/${rel}`;
          const mask = `${found.labels}/${split}/${found.maskName(stem(rel))}`;
          if (!existsSync(path.join(root, mask))) yield { problem: { file: image, reason: `no annotation ${mask}` } };
          else yield { sample: { split, image, mask } };
        }
      }
    });
  },
};
