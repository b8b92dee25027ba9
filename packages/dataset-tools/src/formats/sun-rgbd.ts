import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { PNG } from 'pngjs';
import { DatasetError } from '../errors.js';
import { listFiles, walkFiles } from '../paths.js';
import { taxonomyFor } from '../taxonomy.js';
import { folderSplits } from './splits.js';
import type { FormatAdapter, OpenOptions, OpenedDataset, SampleOrProblem } from './types.js';

export type SunRgbdVariant = 'mseg' | 'official';
const SPLITS = ['train', 'test'];

/**
 * Which encoding the label maps use, from the values in up to `limit` masks: 255 present → MSeg's
 * 0..36 with 255 unlabeled; else 0 present and nothing above 37 → the toolbox's 1..37 with 0 unlabeled.
 */
export function detectSunVariant(maskFiles: string[], limit = 8): SunRgbdVariant | null {
  let zero = false;
  for (const file of maskFiles.slice(0, limit)) {
    let png: PNG;
    try {
      png = PNG.sync.read(readFileSync(file));
    } catch {
      continue;
    }
    for (let i = 0; i < png.data.length; i += 4) {
      const v = png.data[i] as number;
      if (v === 255) return 'mseg';
      if (v > 37) return null;
      if (v === 0) zero = true;
    }
  }
  return zero ? 'official' : null;
}

/**
 * SUN RGB-D 37-class label maps in MSeg's layout: image/<split>/img-NNNNNN.jpg with
 * semseg-label37/<split>/NNNNNNNN.png. Variant mseg (0..36, 255 unlabeled) or official (1..37, 0 unlabeled).
 */
export const sunRgbd: FormatAdapter = {
  name: 'sun-rgbd',
  title: 'SUN RGB-D 37-class label maps',
  annotation: 'dense',
  detect: (root) => existsSync(path.join(root, 'image')) && existsSync(path.join(root, 'semseg-label37')),
  open(root: string, options: OpenOptions): OpenedDataset {
    if (!sunRgbd.detect(root)) throw new DatasetError('NOT_A_DATASET', `not a SUN RGB-D folder (no image/ and semseg-label37/): ${root}`);
    // Before the variant is detected from the masks: a --split naming no split is the error to show.
    const splits = folderSplits('sun-rgbd', path.join(root, 'image'), SPLITS, options.splits, options.datasetName);
    const maskFiles = splits.flatMap((s) => listFiles(path.join(root, 'semseg-label37', s), (n) => n.endsWith('.png')).map((f) => path.join(root, 'semseg-label37', s, f)));
    let variant: SunRgbdVariant;
    if (options.variant !== undefined) {
      if (options.variant !== 'mseg' && options.variant !== 'official') throw new DatasetError('BAD_ARGUMENT', `SUN RGB-D variant must be mseg or official (--variant ${options.datasetName ?? 'NAME'}=mseg), not "${options.variant}"`);
      variant = options.variant;
    } else {
      const found = detectSunVariant(maskFiles);
      if (!found) throw new DatasetError('BAD_ARGUMENT', `cannot tell the SUN RGB-D label encoding from the masks; pass --variant ${options.datasetName ?? 'NAME'}=mseg (0..36, 255 unlabeled) or --variant ${options.datasetName ?? 'NAME'}=official (1..37, 0 unlabeled): ${root}`);
      variant = found;
    }
    const taxonomy = taxonomyFor('sun-rgbd', options);
    const shift = variant === 'official' ? 1 : 0;
    return {
      format: 'sun-rgbd',
      version: 'SUN RGB-D 37',
      variant,
      annotation: 'dense',
      loss: 'hd',
      encoding: { kind: 'gray' },
      classes: taxonomy.classes.map((c) => ({ ...c, id: c.id + shift })),
      ignoreValues: variant === 'official' ? [0] : [255],
      *samples(): Iterable<SampleOrProblem> {
        for (const split of splits) {
          for (const rel of walkFiles(path.join(root, 'image', split), (n) => /^img-\d+\.jpe?g$/i.test(n), false)) {
            const number = Number(/(\d+)/.exec(rel)?.[1]);
            const image = `image/${split}/${rel}`;
            const mask = `semseg-label37/${split}/${String(number).padStart(8, '0')}.png`;
            if (!existsSync(path.join(root, mask))) yield { problem: { file: image, reason: `no label map ${mask}` } };
            else yield { sample: { split, image, mask } };
          }
        }
      },
    };
  },
};
