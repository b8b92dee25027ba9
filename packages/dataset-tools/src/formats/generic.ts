import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { DatasetError } from '../errors.js';
import { isImage, walkFiles, stem } from '../paths.js';
import type { SourceClass } from '../taxonomy.js';
import { chosenSplits } from './splits.js';
import type { FormatAdapter, OpenOptions, OpenedDataset, SampleOrProblem } from './types.js';

/**
 * classes.json: {"classes": [{"id": 0, "name": "automobile", "label": "car"}, ...], "ignoreValues": [255]}
 * ("label" optional: a name that is a label maps to it, otherwise the class is unmapped), or
 * classes.txt: one class name per line, line number = mask value. Masks are 8- or 16-bit gray (ids
 * up to 65,535) or palette PNGs. The ignore values default to [255, 65535] (no label in an 8-bit and in
 * a 16-bit mask); a value listed as a class is that class, so 255 is a class id of a dataset with more.
 */
const DEFAULT_IGNORE = [255, 65535];
function readClasses(root: string, labels: string[]): { classes: SourceClass[]; ignoreValues: number[] } {
  const known = new Set(labels);
  const target = (name: string, label?: string): SourceClass['target'] => {
    const wanted = label ?? name;
    if (wanted === 'ignore') return { kind: 'ignore' };
    if (known.has(wanted)) return { kind: 'label', label: wanted };
    if (label !== undefined && label !== 'unmapped') throw new DatasetError('NOT_A_DATASET', `class "${name}" maps to unknown label "${label}": ${path.join(root, 'classes.json')}`);
    return { kind: 'unmapped' };
  };
  const jsonFile = path.join(root, 'classes.json');
  if (existsSync(jsonFile)) {
    let parsed: { classes?: { id: number; name: string; label?: string }[]; ignoreValues?: number[] };
    try {
      parsed = JSON.parse(readFileSync(jsonFile, 'utf8')) as typeof parsed;
    } catch (err) {
      throw new DatasetError('NOT_A_DATASET', `malformed classes.json (${(err as Error).message}): ${jsonFile}`);
    }
    if (!Array.isArray(parsed.classes)) throw new DatasetError('NOT_A_DATASET', `classes.json has no "classes" array: ${jsonFile}`);
    return { classes: parsed.classes.map((c) => ({ id: c.id, name: c.name, target: target(c.name, c.label) })), ignoreValues: parsed.ignoreValues ?? DEFAULT_IGNORE };
  }
  const txtFile = path.join(root, 'classes.txt');
  const names = readFileSync(txtFile, 'utf8').split('\n').map((s) => s.trim());
  while (names.length > 0 && names[names.length - 1] === '') names.pop();
  return { classes: names.map((name, id) => ({ id, name, target: target(name) })), ignoreValues: DEFAULT_IGNORE };
}

/** A split of an image directly in images/ (images/x.jpg); images/<split>/x.jpg is in <split>. */
const NO_SPLIT = 'all';

/** The splits of images/: its sub-folders, and NO_SPLIT when images lie in images/ itself. */
function presentSplits(root: string): string[] {
  const entries = readdirSync(path.join(root, 'images'), { withFileTypes: true });
  const folders = entries.filter((e) => e.isDirectory()).map((e) => e.name);
  const loose = entries.some((e) => !e.isDirectory() && isImage(e.name));
  return [...new Set([...folders, ...(loose ? [NO_SPLIT] : [])])].sort();
}

/** Any dataset as images/[<split>/]x.jpg + masks/[<split>/]x.png + classes.json or classes.txt. */
export const generic: FormatAdapter = {
  name: 'generic',
  title: 'images/ + same-named mask PNGs in masks/ + classes.json|classes.txt',
  annotation: 'dense',
  detect: (root) =>
    existsSync(path.join(root, 'images')) && existsSync(path.join(root, 'masks')) && (existsSync(path.join(root, 'classes.json')) || existsSync(path.join(root, 'classes.txt'))),
  open(root: string, options: OpenOptions): OpenedDataset {
    if (!generic.detect(root)) throw new DatasetError('NOT_A_DATASET', `not a generic dataset folder (needs images/, masks/ and classes.json or classes.txt): ${root}`);
    const { classes, ignoreValues } = readClasses(root, options.labels);
    const splits = chosenSplits('generic', presentSplits(root), options.splits, options.datasetName);
    return {
      format: 'generic',
      version: '1',
      variant: null,
      annotation: 'dense',
      loss: 'hd',
      encoding: { kind: 'gray' },
      classes,
      ignoreValues,
      *samples(): Iterable<SampleOrProblem> {
        for (const rel of walkFiles(path.join(root, 'images'), isImage)) {
          const parts = rel.split('/');
          const split = parts.length > 1 ? (parts[0] as string) : NO_SPLIT;
          if (!splits.includes(split)) continue;
          const mask = `masks/${path.posix.join(path.posix.dirname(rel), `${stem(rel)}.png`)}`;
          if (!existsSync(path.join(root, mask))) yield { problem: { file: `images/${rel}`, reason: `no mask ${mask}` } };
          else yield { sample: { split, image: `images/${rel}`, mask } };
        }
      },
    };
  },
};
