import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { DatasetError } from '../errors.js';
import { listFiles, stem } from '../paths.js';
import { taxonomyFor } from '../taxonomy.js';
import { chosenSplits } from './splits.js';
import { grayDenseDataset, type FormatAdapter, type OpenOptions, type OpenedDataset, type SampleOrProblem } from './types.js';

const SPLITS = ['training', 'validation'];

type Version = 'v1.2' | 'v2.0';

/**
 * Mapillary Vistas' folder and file names, spelled once: the reader below and the fixture writer
 * (testing/write-layouts.ts). The class list of each version, by the names it is found under (the
 * last is the one that version's own download ships), and the folders of a split.
 */
export const MAPILLARY_PATHS = {
  configs: { 'v1.2': ['config_v1.2.json', 'config.json'], 'v2.0': ['config_v2.0.json'] } as Record<Version, readonly string[]>,
  imageDir: 'images',
  labelDir: 'labels',
} as const;
const P = MAPILLARY_PATHS;

/** The class list of a version: config.json or config_v1.2.json (v1.2), config_v2.0.json (v2.0). */
function configFile(root: string, version: Version): string | null {
  for (const name of P.configs[version]) if (existsSync(path.join(root, name))) return path.join(root, name);
  return null;
}

/** Label folder of a split: <split>/<version>/labels (the v2.0 download) or <split>/labels (v1.2). */
function labelsDir(root: string, split: string, version: Version): string {
  const nested = path.join(split, version, P.labelDir);
  return existsSync(path.join(root, nested)) ? nested : path.join(split, P.labelDir);
}

/** The version to read: --variant, else v1.2 where its config exists (the paper's 66 classes), else v2.0. */
function chooseVersion(root: string, variant: string | undefined, name = 'NAME'): Version {
  if (variant !== undefined) {
    if (variant !== 'v1.2' && variant !== 'v2.0') throw new DatasetError('BAD_ARGUMENT', `mapillary-vistas variant must be v1.2 or v2.0 (--variant ${name}=v1.2 or --variant ${name}=v2.0), not "${variant}"`);
    return variant;
  }
  return configFile(root, 'v1.2') ? 'v1.2' : 'v2.0';
}

/**
 * Mapillary Vistas v1.2 and v2.0: <split>/images/*.jpg + <split>/labels/*.png (or <split>/v1.2|v2.0/labels/
 * in the v2.0 download), 8-bit palette PNGs whose palette index is the class id in config order
 * (v1.2: 66 classes, v2.0: 124; the void classes are ignored).
 */
export const mapillaryVistas: FormatAdapter = {
  name: 'mapillary-vistas',
  title: 'Mapillary Vistas v1.2 / v2.0 (config + <split>/images + <split>/labels palette PNGs; --variant NAME=v2.0 for the 124 classes)',
  annotation: 'dense',
  // Either split alone will do (an evaluation-only copy has validation/ only).
  detect: (root) => (configFile(root, 'v1.2') !== null || configFile(root, 'v2.0') !== null) && SPLITS.some((s) => existsSync(path.join(root, s, P.imageDir))),
  open(root: string, options: OpenOptions): OpenedDataset {
    const version = chooseVersion(root, options.variant, options.datasetName);
    const config = configFile(root, version);
    if (!config) throw new DatasetError('NOT_A_DATASET', `not a Mapillary Vistas ${version} folder (no ${[...P.configs[version]].reverse().join(' or ')}): ${root}`);
    let classes: { readable?: string; name?: string }[];
    try {
      classes = (JSON.parse(readFileSync(config, 'utf8')) as { labels: { readable?: string; name?: string }[] }).labels;
      if (!Array.isArray(classes)) throw new Error('no "labels" list');
    } catch (err) {
      throw new DatasetError('NOT_A_DATASET', `unreadable Mapillary config (${(err as Error).message}): ${config}`);
    }
    const taxonomy = taxonomyFor(version === 'v2.0' ? 'mapillary-vistas-v2' : 'mapillary-vistas', options);
    if (classes.length !== taxonomy.classes.length) {
      throw new DatasetError('NOT_A_DATASET', `${config} lists ${classes.length} classes; the ${version} taxonomy has ${taxonomy.classes.length}${version === 'v1.2' && classes.length === 124 ? ` (a v2.0 list: use --variant ${options.datasetName ?? 'NAME'}=v2.0)` : ''}`);
    }
    // v1.2's taxonomy names are the readable names, v2.0's the machine names (animal--bird).
    const nameOf = (c: { readable?: string; name?: string }) => (version === 'v2.0' ? c.name : c.readable);
    const mismatch = classes.findIndex((c, i) => nameOf(c) !== undefined && nameOf(c) !== taxonomy.classes[i]?.name);
    if (mismatch >= 0) throw new DatasetError('NOT_A_DATASET', `${config}: class ${mismatch} is "${nameOf(classes[mismatch] as { name?: string })}", the taxonomy expects "${taxonomy.classes[mismatch]?.name}"`);
    const splits = chosenSplits('mapillary-vistas', SPLITS.filter((s) => existsSync(path.join(root, s, P.imageDir))), options.splits, options.datasetName);
    return grayDenseDataset('mapillary-vistas', version, taxonomy, function* (): Iterable<SampleOrProblem> {
      for (const split of splits) {
        const labels = labelsDir(root, split, version);
        const masks = new Set(listFiles(path.join(root, labels), (n) => n.endsWith('.png')).map(stem));
        for (const img of listFiles(path.join(root, split, P.imageDir), (n) => /\.jpe?g$/i.test(n))) {
          const image = `${split}/${P.imageDir}/${img}`;
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
