import { existsSync } from 'node:fs';
import path from 'node:path';
import { DatasetError } from '../errors.js';
import { listFiles, stem } from '../paths.js';
import { taxonomyFor } from '../taxonomy.js';
import { grayDenseDataset, type FormatAdapter, type OpenOptions, type OpenedDataset, type SampleOrProblem } from './types.js';

const SPLITS = ['training', 'validation'];

/** Splits present: images/<split> with annotations/<split> (an evaluation-only download has validation alone). */
const presentSplits = (root: string) => SPLITS.filter((s) => existsSync(path.join(root, 'images', s)) && existsSync(path.join(root, 'annotations', s)));

/** ADE20K SceneParsing (ADEChallengeData2016): images/<split>/*.jpg + annotations/<split>/*.png, 0 = other. */
export const ade20k: FormatAdapter = {
  name: 'ade20k',
  title: 'ADE20K SceneParsing (ADEChallengeData2016)',
  annotation: 'dense',
  detect: (root) => presentSplits(root).length > 0,
  open(root: string, options: OpenOptions): OpenedDataset {
    const present = presentSplits(root);
    if (present.length === 0) throw new DatasetError('NOT_A_DATASET', `not an ADE20K folder (no images/<split> with annotations/<split> for training or validation): ${root}`);
    const taxonomy = taxonomyFor('ade20k', options);
    const splits = present.filter((s) => !options.splits || options.splits.includes(s));
    return grayDenseDataset('ade20k', 'ADEChallengeData2016', taxonomy, function* (): Iterable<SampleOrProblem> {
      for (const split of splits) {
        const masks = new Set(listFiles(path.join(root, 'annotations', split), (n) => n.endsWith('.png')).map(stem));
        for (const img of listFiles(path.join(root, 'images', split), (n) => /\.jpe?g$/i.test(n))) {
          const image = `images/${split}/${img}`;
          const id = stem(img);
          if (!masks.has(id)) {
            yield { problem: { file: image, reason: `no annotation annotations/${split}/${id}.png` } };
            continue;
          }
          masks.delete(id);
          yield { sample: { split, image, mask: `annotations/${split}/${id}.png` } };
        }
        for (const orphan of masks) yield { problem: { file: `annotations/${split}/${orphan}.png`, reason: 'annotation without an image' } };
      }
    });
  },
};
