import { existsSync, readdirSync, statSync } from 'node:fs';
import { DatasetError } from '../errors.js';
import { ade20k } from './ade20k.js';
import { bdd100k } from './bdd100k.js';
import { cityscapes } from './cityscapes.js';
import { cocoPanoptic } from './coco-panoptic.js';
import { generic } from './generic.js';
import { idd } from './idd.js';
import { objects365 } from './objects365.js';
import { openImages } from './openimages.js';
import { mapillaryVistas } from './mapillary-vistas.js';
import { sunRgbd } from './sun-rgbd.js';
import type { FormatAdapter } from './types.js';

/** Every format merge-datasets reads, in detection order (most specific first). */
export const FORMATS: FormatAdapter[] = [ade20k, idd, cityscapes, cocoPanoptic, objects365, openImages, mapillaryVistas, bdd100k, sunRgbd, generic];

export function formatByName(name: string): FormatAdapter {
  const found = FORMATS.find((f) => f.name === name);
  if (!found) throw new DatasetError('UNKNOWN_FORMAT', `unknown format "${name}" (known: ${FORMATS.map((f) => f.name).join(', ')})`);
  return found;
}

/** Throws NOT_A_DATASET when `root` is not a folder, or an empty one. */
export function checkDatasetFolder(root: string): void {
  if (!existsSync(root) || !statSync(root).isDirectory()) throw new DatasetError('NOT_A_DATASET', `dataset folder not found: ${root}`);
  if (readdirSync(root).length === 0) throw new DatasetError('NOT_A_DATASET', `dataset folder is empty: ${root}`);
}

/** The format of a dataset folder, or a clear error naming the folder (and the --format flag for dataset `name`). */
export function detectFormat(root: string, name = 'NAME'): FormatAdapter {
  checkDatasetFolder(root);
  const found = FORMATS.find((f) => f.detect(root));
  if (!found) throw new DatasetError('UNKNOWN_FORMAT', `cannot tell the format of ${root}; name it with --format ${name}=FORMAT (formats: ${FORMATS.map((f) => f.name).join(', ')})`);
  return found;
}
