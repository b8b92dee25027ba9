import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DatasetError } from './errors.js';

/** What a source class becomes: a label of manifests/labels.json, or ignored, or not yet mapped. */
export type ClassTarget = { kind: 'label'; label: string } | { kind: 'ignore' } | { kind: 'unmapped' };

export interface SourceClass {
  /** The value in the mask (dense), the category id (COCO, Objects365) or the class id (OpenImages). */
  id: number;
  name: string;
  /** The dataset's own code for the class, where it is not a number (OpenImages MIDs such as /m/0k4j). */
  code?: string;
  target: ClassTarget;
}

export interface Taxonomy {
  dataset: string;
  description: string;
  classes: SourceClass[];
  /** Mask values that mean "no label" (ignored, not counted as unknown). */
  ignoreValues: number[];
}

const here = path.dirname(fileURLToPath(import.meta.url));
export const MANIFESTS_DIR = path.resolve(here, '..', '..', '..', 'manifests');

/** The label names of manifests/labels.json, in id order. */
export function readLabelNames(file = path.join(MANIFESTS_DIR, 'labels.json')): string[] {
  const parsed = JSON.parse(readFileSync(file, 'utf8')) as { labels: { name: string }[] };
  return parsed.labels.map((l) => l.name);
}

interface TaxonomyFile {
  dataset: string;
  description: string;
  ignoreValues?: number[];
  classes: { id: number; name: string; label: string; code?: string }[];
}

/**
 * Reads manifests/taxonomy/<name>.json (or `file`, a taxonomy of the same form that replaces it)
 * and checks every class resolves to a known label, `ignore` or `unmapped`.
 */
export function readTaxonomy(name: string, labels: string[] = readLabelNames(), dir = path.join(MANIFESTS_DIR, 'taxonomy'), file = path.join(dir, `${name}.json`)): Taxonomy {
  let raw: TaxonomyFile;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8')) as TaxonomyFile;
  } catch (err) {
    throw new DatasetError('TAXONOMY', `cannot read taxonomy (${(err as Error).message}): ${file}`);
  }
  if (!Array.isArray(raw?.classes)) throw new DatasetError('TAXONOMY', `taxonomy has no "classes" list: ${file}`);
  const known = new Set(labels);
  const ids = new Set<number>();
  const classes = raw.classes.map((c): SourceClass => {
    if (!Number.isInteger(c.id)) throw new DatasetError('TAXONOMY', `class "${c.name}" has no integer id: ${file}`);
    if (ids.has(c.id)) throw new DatasetError('TAXONOMY', `class id ${c.id} appears twice: ${file}`);
    ids.add(c.id);
    const code = typeof c.code === 'string' ? { code: c.code } : {};
    if (c.label === 'ignore') return { id: c.id, name: c.name, ...code, target: { kind: 'ignore' } };
    if (c.label === 'unmapped') return { id: c.id, name: c.name, ...code, target: { kind: 'unmapped' } };
    if (!known.has(c.label)) throw new DatasetError('TAXONOMY', `class "${c.name}" maps to "${c.label}", which is not a label of labels.json: ${file}`);
    return { id: c.id, name: c.name, ...code, target: { kind: 'label', label: c.label } };
  });
  return { dataset: raw.dataset, description: raw.description, classes, ignoreValues: raw.ignoreValues ?? [] };
}

/** The taxonomy an adapter reads: the built-in one of its format, or the file given with --taxonomy. */
export function taxonomyFor(format: string, options: { labels: string[]; taxonomyFile?: string }): Taxonomy {
  return options.taxonomyFile ? readTaxonomy(format, options.labels, undefined, options.taxonomyFile) : readTaxonomy(format, options.labels);
}
