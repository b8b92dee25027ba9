import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { DatasetError } from '../errors.js';
import { streamJsonArrays } from '../json-stream.js';
import { insideRoot } from '../paths.js';
import { TempIndex } from '../temp-index.js';
import { taxonomyFor } from '../taxonomy.js';
import { chosenSplits } from './splits.js';
import type { FormatAdapter, OpenOptions, OpenedDataset, SampleOrProblem, SourceBox } from './types.js';

const SPLITS = ['train', 'val'];
const IMAGES_DIR = 'images';
/** The JSON's stem per version (JSON_NAME also takes v1's followed by v, 2 or v2, as before). */
const JSON_STEM = { v1: 'objects365', v2: 'zhiyuan_objv2' } as const;

/**
 * Objects365's folder and file names, spelled once: the reader below (JSON_NAME parses what `json`
 * spells) and the fixture writer (testing/write-layouts.ts).
 */
export const OBJECTS365_PATHS = {
  annotationsDir: 'annotations',
  /** The JSON of a split: v2 zhiyuan_objv2_<split>.json, v1 objects365_<split>.json. */
  json: (version: 'v1' | 'v2', split: string) => `${JSON_STEM[version]}_${split}.json`,
  /** images/<split>/: where some copies keep the images. */
  imagesDir: IMAGES_DIR,
  /** The folder v2's file_name values start with, under <split>/. */
  v2ImageDir: `${IMAGES_DIR}/v2`,
} as const;
const P = OBJECTS365_PATHS;

/** v2: zhiyuan_objv2_<split>.json; v1: objects365_<split>.json (in annotations/ or in the split folder). */
const JSON_NAME = new RegExp(`^(${JSON_STEM.v2}|${JSON_STEM.v1}v?2?)_(${SPLITS.join('|')})\\.json$`);
/** The images/v<N>/ prefix of a file_name. */
const VERSIONED_IMAGE_DIR = new RegExp(`^${IMAGES_DIR}/v\\d/`);

interface AnnotationFile {
  split: string;
  version: 'v1' | 'v2';
  rel: string;
}

function annotationFiles(root: string): AnnotationFile[] {
  const found: AnnotationFile[] = [];
  for (const dir of [P.annotationsDir, ...SPLITS]) {
    let names: string[];
    try {
      names = readdirSync(path.join(root, dir));
    } catch {
      continue;
    }
    for (const name of names) {
      const m = JSON_NAME.exec(name);
      if (m) found.push({ split: m[2] as string, version: m[1] === JSON_STEM.v2 ? 'v2' : 'v1', rel: `${dir}/${name}` });
    }
  }
  // One file per split (annotations/ first).
  const bySplit = new Map<string, AnnotationFile>();
  for (const f of found) if (!bySplit.has(f.split)) bySplit.set(f.split, f);
  return [...bySplit.values()].sort((a, b) => a.split.localeCompare(b.split));
}

/**
 * Where an image named by the JSON lies: v2 names "images/v2/patch16/objects365_v2_00908726.jpg"
 * (the download keeps them under <split>/ with or without that prefix), v1 names a bare file in <split>/.
 */
function resolveImage(root: string, split: string, fileName: string): string | null {
  const bare = fileName.replace(VERSIONED_IMAGE_DIR, '');
  for (const rel of [`${split}/${fileName}`, `${split}/${bare}`, `${P.imagesDir}/${split}/${bare}`, fileName, `${split}/${path.posix.basename(fileName)}`]) {
    if (insideRoot(root, rel) && existsSync(path.join(root, rel))) return rel;
  }
  return null;
}

const normalise = (name: string) => name.toLowerCase().replace(/[^a-z0-9]+/g, '');

/**
 * Objects365 (v1 and v2): COCO-style JSON with boxes only. The JSON is streamed into a temporary
 * SQLite index (images, and boxes by image), so memory stays flat however large the file is; images
 * are then yielded in file-name order with their boxes.
 */
export const objects365: FormatAdapter = {
  name: 'objects365',
  title: 'Objects365 v1/v2 (COCO-style JSON, boxes only)',
  annotation: 'boxes',
  detect: (root) => annotationFiles(root).length > 0,
  open(root: string, options: OpenOptions): OpenedDataset {
    const all = annotationFiles(root);
    if (all.length === 0) throw new DatasetError('NOT_A_DATASET', `not an Objects365 folder (no ${P.annotationsDir}/${P.json('v2', '<split>')} or ${P.json('v1', '<split>')}): ${root}`);
    // The splits are those of the JSON files' names (zhiyuan_objv2_val.json: val).
    const splits = chosenSplits('objects365', all.map((f) => f.split), options.splits, options.datasetName);
    const files = all.filter((f) => splits.includes(f.split));
    const taxonomy = taxonomyFor('objects365', options);
    const byId = new Map(taxonomy.classes.map((c) => [c.id, c]));
    return {
      format: 'objects365',
      version: [...new Set(files.map((f) => f.version))].join('+'),
      variant: null,
      annotation: 'boxes',
      loss: 'wd',
      encoding: { kind: 'none' },
      classes: taxonomy.classes,
      ignoreValues: taxonomy.ignoreValues,
      async *samples(): AsyncIterable<SampleOrProblem> {
        for (const file of files) yield* splitSamples(root, file, byId);
      },
    };
  },
};

async function* splitSamples(root: string, file: AnnotationFile, byId: Map<number, { name: string }>): AsyncIterable<SampleOrProblem> {
  const index = new TempIndex('o365', `CREATE TABLE img (id INTEGER PRIMARY KEY, file TEXT NOT NULL, w INTEGER, h INTEGER);
    CREATE TABLE box (image INTEGER NOT NULL, cat INTEGER NOT NULL, x REAL, y REAL, w REAL, h REAL);`);
  const db = index.db;
  try {
    const insertImage = db.prepare(`INSERT OR IGNORE INTO img (id, file, w, h) VALUES (?, ?, ?, ?)`);
    const insertBox = db.prepare(`INSERT INTO box (image, cat, x, y, w, h) VALUES (?, ?, ?, ?, ?, ?)`);
    const problems: { file: string; reason: string }[] = [];
    let badAnnotations = 0;
    let badImages = 0;
    const categories: { id: number; name: string }[] = [];
    index.begin();
    try {
      await streamJsonArrays(path.join(root, file.rel), ['images', 'annotations', 'categories'], (array, value) => {
        const v = value as Record<string, unknown>;
        if (array === 'images') {
          if (typeof v.id !== 'number' || typeof v.file_name !== 'string') badImages += 1;
          else insertImage.run(v.id, v.file_name, typeof v.width === 'number' ? v.width : null, typeof v.height === 'number' ? v.height : null);
        } else if (array === 'annotations') {
          const bbox = v.bbox as unknown;
          if (typeof v.image_id !== 'number' || typeof v.category_id !== 'number' || !Array.isArray(bbox) || bbox.length !== 4 || !bbox.every((n) => typeof n === 'number' && Number.isFinite(n))) badAnnotations += 1;
          else insertBox.run(v.image_id, v.category_id, bbox[0], bbox[1], bbox[2], bbox[3]);
        } else if (typeof v.id === 'number' && typeof v.name === 'string') categories.push({ id: v.id, name: v.name });
        index.row();
      });
      index.commit();
    } catch (err) {
      index.rollback();
      yield { problem: { file: file.rel, reason: (err as Error).message } };
      return;
    }
    db.exec('CREATE INDEX box_by_image ON box (image)');
    if (badImages > 0) problems.push({ file: file.rel, reason: `${badImages} image entries without id or file_name, skipped` });
    if (badAnnotations > 0) problems.push({ file: file.rel, reason: `${badAnnotations} annotations without image_id, category_id or a 4-number bbox, skipped` });
    const orphans = db.prepare(`SELECT COUNT(*) FROM box WHERE image NOT IN (SELECT id FROM img)`).pluck().get() as number;
    if (orphans > 0) problems.push({ file: file.rel, reason: `${orphans} annotations name image ids not in "images", skipped` });
    for (const c of categories) {
      const known = byId.get(c.id);
      if (!known) problems.push({ file: file.rel, reason: `category ${c.id} "${c.name}" is not in the objects365 taxonomy; its boxes count as ignored` });
      else if (normalise(known.name) !== normalise(c.name)) problems.push({ file: file.rel, reason: `category ${c.id} is "${c.name}" here and "${known.name}" in the taxonomy (taken by id)` });
    }
    for (const problem of problems) yield { problem };
    const boxesOf = db.prepare(`SELECT cat AS sourceId, x, y, w, h FROM box WHERE image = ? ORDER BY rowid`);
    // Pages of images in (file, id) order; the connection stays free between pages.
    const page = db.prepare(`SELECT id, file, w, h FROM img WHERE (file, id) > (?, ?) ORDER BY file, id LIMIT 1000`);
    const rows = function* (): Iterable<{ id: number; file: string; w: number | null; h: number | null }> {
      let after: [string, number] = ['', -Infinity];
      for (;;) {
        const batch = page.all(...after) as { id: number; file: string; w: number | null; h: number | null }[];
        if (batch.length === 0) return;
        yield* batch;
        const last = batch[batch.length - 1] as { id: number; file: string };
        after = [last.file, last.id];
      }
    };
    for (const row of rows()) {
      if (!insideRoot(root, row.file)) {
        yield { problem: { file: file.rel, reason: `image ${row.id} names a file outside the dataset root: ${row.file}` } };
        continue;
      }
      const image = resolveImage(root, file.split, row.file);
      if (!image) {
        yield { problem: { file: `${file.split}/${row.file}`, reason: 'image missing' } };
        continue;
      }
      yield { boxSample: { split: file.split, image, width: row.w, height: row.h, boxes: boxesOf.all(row.id) as SourceBox[] } };
    }
  } finally {
    index.close();
  }
}
