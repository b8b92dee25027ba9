import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { DatasetError, type Problem } from '../errors.js';
import { insideRoot } from '../paths.js';
import { taxonomyFor } from '../taxonomy.js';
import type { DenseSample, FormatAdapter, OpenOptions, OpenedDataset, SampleOrProblem } from './types.js';

const JSON_NAME = /^panoptic_(\w+?)(\d{4})\.json$/;

interface PanopticJson {
  images?: { id: number; file_name: string }[];
  annotations?: { image_id?: number; file_name: string; segments_info: { id: number; category_id: number }[] }[];
  categories?: { id: number; name: string }[];
}

/** annotations/panoptic_<split><year>.json files, as [split, year, relative path]. */
function annotationFiles(root: string): [string, string, string][] {
  const dir = path.join(root, 'annotations');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .map((name) => JSON_NAME.exec(name))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => [m[1] as string, m[2] as string, `annotations/${m[0]}`] as [string, string, string])
    .sort((a, b) => a[2].localeCompare(b[2]));
}

function splitSamples(root: string, split: string, year: string, jsonRel: string): { samples: DenseSample[]; problems: Problem[] } {
  const problems: Problem[] = [];
  let parsed: PanopticJson;
  try {
    parsed = JSON.parse(readFileSync(path.join(root, jsonRel), 'utf8')) as PanopticJson;
  } catch (err) {
    return { samples: [], problems: [{ file: jsonRel, reason: `malformed JSON: ${(err as Error).message}` }] };
  }
  if (!Array.isArray(parsed.annotations)) return { samples: [], problems: [{ file: jsonRel, reason: 'no "annotations" array' }] };
  const imageNames = new Map((parsed.images ?? []).map((i) => [i.id, i.file_name]));
  const samples: DenseSample[] = [];
  parsed.annotations.forEach((a, index) => {
    if (typeof a?.file_name !== 'string' || !Array.isArray(a.segments_info)) {
      problems.push({ file: jsonRel, reason: `annotation #${index} has no file_name or segments_info` });
      return;
    }
    const mask = `annotations/panoptic_${split}${year}/${a.file_name}`;
    const imageName = (a.image_id !== undefined ? imageNames.get(a.image_id) : undefined) ?? a.file_name.replace(/\.png$/i, '.jpg');
    const image = `${split}${year}/${imageName}`;
    if (!insideRoot(root, mask) || !insideRoot(root, image)) {
      problems.push({ file: jsonRel, reason: `annotation #${index} names a file outside the dataset root: ${a.file_name}` });
      return;
    }
    samples.push({ split, image, mask, segments: a.segments_info.map((s) => [s.id, s.category_id]) });
  });
  samples.sort((x, y) => x.image.localeCompare(y.image));
  return { samples, problems };
}

/**
 * COCO Panoptic: annotations/panoptic_<split>2017.json (segments_info per image) + the PNGs of
 * annotations/panoptic_<split>2017/ (segment id = R + 256·G + 256²·B) + images in <split>2017/.
 */
export const cocoPanoptic: FormatAdapter = {
  name: 'coco-panoptic',
  title: 'COCO Panoptic 2017',
  detect: (root) => annotationFiles(root).length > 0,
  open(root: string, options: OpenOptions): OpenedDataset {
    const files = annotationFiles(root).filter(([split]) => !options.splits || options.splits.includes(split));
    if (files.length === 0) throw new DatasetError('NOT_A_DATASET', `not a COCO panoptic folder (no annotations/panoptic_<split>2017.json): ${root}`);
    const taxonomy = taxonomyFor('coco-panoptic', options);
    return {
      format: 'coco-panoptic',
      version: `panoptic ${files.map(([s, y]) => `${s}${y}`).join(', ')}`,
      variant: null,
      annotation: 'dense',
      loss: 'hd',
      encoding: { kind: 'panoptic-rgb' },
      classes: taxonomy.classes,
      ignoreValues: [],
      *samples(): Iterable<SampleOrProblem> {
        for (const [split, year, jsonRel] of files) {
          const { samples, problems } = splitSamples(root, split, year, jsonRel);
          for (const problem of problems) yield { problem };
          for (const sample of samples) yield { sample };
        }
      },
    };
  },
};
