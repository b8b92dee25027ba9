import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { DatasetError } from '../errors.js';
import { listFiles, stem } from '../paths.js';
import { taxonomyFor } from '../taxonomy.js';
import { grayDenseDataset, type FormatAdapter, type OpenOptions, type OpenedDataset, type SampleOrProblem } from './types.js';

const SPLITS = ['training', 'validation'];

/** The v1.2 class list: config.json (the v1.2 download) or config_v1.2.json (the v2.0 download). */
function configFile(root: string): string | null {
  for (const name of ['config_v1.2.json', 'config.json']) if (existsSync(path.join(root, name))) return path.join(root, name);
  return null;
}

/** Label folder of a split: <split>/v1.2/labels (the v2.0 download) or <split>/labels (v1.2). */
function labelsDir(root: string, split: string): string {
  const nested = path.join(split, 'v1.2', 'labels');
  return existsSync(path.join(root, nested)) ? nested : path.join(split, 'labels');
}

/**
 * Mapillary Vistas v1.2: <split>/images/*.jpg + <split>/labels/*.png, 8-bit palette PNGs whose
 * palette index is the class id in config.json order (66 classes, 65 = unlabeled).
 */
export const mapillaryVistas: FormatAdapter = {
  name: 'mapillary-vistas',
  title: 'Mapillary Vistas v1.2 (config.json + <split>/images + <split>/labels palette PNGs)',
  detect: (root) => configFile(root) !== null && existsSync(path.join(root, 'training', 'images')),
  open(root: string, options: OpenOptions): OpenedDataset {
    const config = configFile(root);
    if (!config) throw new DatasetError('NOT_A_DATASET', `not a Mapillary Vistas folder (no config.json or config_v1.2.json): ${root}`);
    let classes: { readable?: string; name?: string }[];
    try {
      classes = (JSON.parse(readFileSync(config, 'utf8')) as { labels: { readable?: string; name?: string }[] }).labels;
      if (!Array.isArray(classes)) throw new Error('no "labels" list');
    } catch (err) {
      throw new DatasetError('NOT_A_DATASET', `unreadable Mapillary config (${(err as Error).message}): ${config}`);
    }
    const taxonomy = taxonomyFor('mapillary-vistas', options);
    if (classes.length !== taxonomy.classes.length) {
      throw new DatasetError(
        'NOT_A_DATASET',
        `${config} lists ${classes.length} classes; the mapillary-vistas taxonomy covers v1.2's ${taxonomy.classes.length} (v2.0's 124-class labels are not supported yet)`,
      );
    }
    const mismatch = classes.findIndex((c, i) => c.readable !== undefined && c.readable !== taxonomy.classes[i]?.name);
    if (mismatch >= 0) throw new DatasetError('NOT_A_DATASET', `${config}: class ${mismatch} is "${classes[mismatch]?.readable}", the taxonomy expects "${taxonomy.classes[mismatch]?.name}"`);
    const splits = SPLITS.filter((s) => !options.splits || options.splits.includes(s)).filter((s) => existsSync(path.join(root, s, 'images')));
    return grayDenseDataset('mapillary-vistas', 'v1.2', taxonomy, function* (): Iterable<SampleOrProblem> {
      for (const split of splits) {
        const labels = labelsDir(root, split);
        const masks = new Set(listFiles(path.join(root, labels), (n) => n.endsWith('.png')).map(stem));
        for (const img of listFiles(path.join(root, split, 'images'), (n) => /\.jpe?g$/i.test(n))) {
          const image = `${split}/images/${img}`;
          const id = stem(img);
          if (!masks.has(id)) {
            yield { problem: { file: image, reason: `no label ${labels}/${id}.png` } };
            continue;
          }
          masks.delete(id);
          yield { sample: { split, image, mask: `${labels.split(path.sep).join('/')}/${id}.png` } };
        }
        for (const orphan of masks) yield { problem: { file: `${labels}/${orphan}.png`, reason: 'label without an image' } };
      }
    });
  },
};
