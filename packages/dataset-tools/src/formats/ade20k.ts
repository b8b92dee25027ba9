import { existsSync } from 'node:fs';
import path from 'node:path';
import { DatasetError } from '../errors.js';
import { listFiles, stem } from '../paths.js';
import { chosenSplits } from './splits.js';
import { taxonomyFor } from '../taxonomy.js';
import { grayDenseDataset, type FormatAdapter, type OpenOptions, type OpenedDataset, type SampleOrProblem } from './types.js';

const SPLITS = ['training', 'validation'];

/** ADE20K's folder names, spelled once: the reader below and the fixture writer (testing/write-layouts.ts). */
export const ADE20K_PATHS = { imageDir: 'images', maskDir: 'annotations', maskExt: '.png' } as const;
const P = ADE20K_PATHS;

/** Splits present: images/<split> with annotations/<split> (an evaluation-only download has validation alone). */
const presentSplits = (root: string) => SPLITS.filter((s) => existsSync(path.join(root, P.imageDir, s)) && existsSync(path.join(root, P.maskDir, s)));

/** ADE20K SceneParsing (ADEChallengeData2016): images/<split>/*.jpg + annotations/<split>/*.png, 0 = other. */
export const ade20k: FormatAdapter = {
  name: 'ade20k',
  title: 'ADE20K SceneParsing (ADEChallengeData2016)',
  annotation: 'dense',
  detect: (root) => presentSplits(root).length > 0,
  open(root: string, options: OpenOptions): OpenedDataset {
    const present = presentSplits(root);
    if (present.length === 0) throw new DatasetError('NOT_A_DATASET', `not an ADE20K folder (no ${P.imageDir}/<split> with ${P.maskDir}/<split> for training or validation): ${root}`);
    const taxonomy = taxonomyFor('ade20k', options);
    const splits = chosenSplits('ade20k', present, options.splits, options.datasetName);
    return grayDenseDataset('ade20k', 'ADEChallengeData2016', taxonomy, function* (): Iterable<SampleOrProblem> {
      for (const split of splits) {
        const masks = new Set(listFiles(path.join(root, P.maskDir, split), (n) => n.endsWith(P.maskExt)).map(stem));
        for (const img of listFiles(path.join(root, P.imageDir, split), (n) => /\.jpe?g$/i.test(n))) {
          const image = `${P.imageDir}/${split}/${img}`;
          const id = stem(img);
          if (!masks.has(id)) {
            yield { problem: { file: image, reason: `no annotation ${P.maskDir}/${split}/${id}${P.maskExt}` } };
            continue;
          }
          masks.delete(id);
          yield { sample: { split, image, mask: `${P.maskDir}/${split}/${id}${P.maskExt}` } };
        }
        for (const orphan of masks) yield { problem: { file: `${P.maskDir}/${split}/${orphan}${P.maskExt}`, reason: 'annotation without an image' } };
      }
    });
  },
};
