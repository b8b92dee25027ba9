import { createReadStream, existsSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { DatasetError } from '../errors.js';
import { insideRoot } from '../paths.js';
import { TempIndex } from '../temp-index.js';
import { taxonomyFor } from '../taxonomy.js';
import { chosenSplits } from './splits.js';
import type { FormatAdapter, OpenOptions, OpenedDataset, SampleOrProblem } from './types.js';

const SPLITS = ['train', 'validation', 'test'];
const CSV_COLUMNS = ['MaskPath', 'ImageID', 'LabelName'];
const MASK_DIR = 'masks';
const LABELS_DIR = 'labels';

/**
 * OpenImages' folder and file names, spelled once: the reader below (segmentationCsv,
 * maskDirCandidates, imageDirs and classDescriptions accept these among others) and the fixture
 * writer (testing/write-layouts.ts).
 */
export const OPENIMAGES_PATHS = {
  /** <split>-annotations-object-segmentation.csv */
  csvSuffix: '-annotations-object-segmentation.csv',
  /** masks/<split>/: the extracted mask zips. */
  maskDir: MASK_DIR,
  /** <split>-masks-<c>.zip: the download's mask zips, also extracted under these names. */
  maskZipSuffix: '-masks',
  /** <split>/<ImageID>.jpg */
  imageExt: '.jpg',
  classDescriptions: 'class-descriptions-boxable.csv',
  annotationsDir: 'annotations',
  labelsDir: LABELS_DIR,
  /** labels/masks/: masks under the labels folder, at the root or in <split>/. */
  labelMaskDir: `${LABELS_DIR}/${MASK_DIR}`,
  metadataDir: 'metadata',
  imagesDir: 'images',
  /** <split>/data/: where FiftyOne puts the images. */
  dataDir: 'data',
} as const;
const P = OPENIMAGES_PATHS;

/** <split>-annotations-object-segmentation.csv, at the root or in annotations/ or labels/. */
function segmentationCsv(root: string, split: string): string | null {
  for (const dir of ['', P.annotationsDir, P.labelsDir, split]) {
    const rel = path.posix.join(dir, `${split}${P.csvSuffix}`);
    if (existsSync(path.join(root, rel))) return rel;
  }
  return null;
}

/** Folders the official mask zips are commonly extracted to, relative to the root. */
function maskDirCandidates(split: string, imageId: string): string[] {
  const c = imageId.charAt(0);
  const zip = `${split}${P.maskZipSuffix}`;
  return [`${P.maskDir}/${split}`, `${P.maskDir}/${split}/${c}`, zip, `${zip}/${zip}-${c}`, `${zip}-${c}`, `${split}/${P.labelMaskDir}/${c}`, `${P.labelMaskDir}/${split}/${c}`];
}

/** Where images lie: <split>/<ImageID>.jpg, <split>/data/ (FiftyOne), or images/<split>/. */
const IMAGE_DIRS = (split: string) => [split, `${split}/${P.dataDir}`, `${P.imagesDir}/${split}`];

/** One CSV line split on commas (the segmentation CSV has no quoted fields; quotes are still honoured). */
export function csvFields(line: string): string[] {
  if (!line.includes('"')) return line.split(',');
  const out: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i] as string;
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') {
        field += '"';
        i += 1;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      out.push(field);
      field = '';
    } else field += ch;
  }
  out.push(field);
  return out;
}

/**
 * OpenImages V6 instance segmentation: <split>-annotations-object-segmentation.csv (MaskPath,
 * ImageID, LabelName, BoxID, ...) + the binary mask PNGs of the <split>-masks-<c>.zip archives
 * (smaller than their images: they are scaled to the image) + images <split>/<ImageID>.jpg.
 * Classes are MIDs, matched through the taxonomy's "code". The CSV is streamed into a temporary
 * SQLite index, so memory stays flat; images are yielded in ImageID order with their masks.
 */
export const openImages: FormatAdapter = {
  name: 'openimages',
  title: 'OpenImages V6 segmentation (annotations CSV + mask PNGs)',
  annotation: 'instance-masks',
  detect: (root) => SPLITS.some((s) => segmentationCsv(root, s) !== null),
  open(root: string, options: OpenOptions): OpenedDataset {
    // The splits are those with a segmentation CSV (validation-annotations-object-segmentation.csv: validation).
    const present = SPLITS.filter((s) => segmentationCsv(root, s) !== null);
    if (present.length === 0) throw new DatasetError('NOT_A_DATASET', `not an OpenImages folder (no <split>${P.csvSuffix}): ${root}`);
    const splits = chosenSplits('openimages', present, options.splits, options.datasetName);
    const taxonomy = taxonomyFor('openimages', options);
    const idOfCode = new Map(taxonomy.classes.filter((c) => c.code !== undefined).map((c) => [c.code as string, c.id]));
    return {
      format: 'openimages',
      version: 'V6 segmentation',
      variant: null,
      annotation: 'instance-masks',
      loss: 'ld',
      encoding: { kind: 'gray' },
      classes: taxonomy.classes,
      ignoreValues: taxonomy.ignoreValues,
      async *samples(): AsyncIterable<SampleOrProblem> {
        yield* checkClassNames(root, taxonomy.classes);
        for (const split of splits) yield* splitSamples(root, split, segmentationCsv(root, split) as string, idOfCode);
      },
    };
  },
};

/** The class-descriptions CSV (MID,DisplayName) of the download, if present. */
function classDescriptions(root: string): string | null {
  for (const dir of ['', P.annotationsDir, P.metadataDir]) {
    for (const name of ['oidv6-class-descriptions.csv', P.classDescriptions, 'class-descriptions.csv', 'classes.csv']) {
      const rel = path.posix.join(dir, name);
      if (existsSync(path.join(root, rel))) return rel;
    }
  }
  return null;
}

/**
 * Compares the download's class names with the taxonomy's, MID by MID: a MID named differently is
 * a problem row (its masks still count by MID), so a renamed or misaligned class list is visible.
 */
async function* checkClassNames(root: string, classes: { code?: string; name: string }[]): AsyncIterable<SampleOrProblem> {
  const file = classDescriptions(root);
  if (!file) return;
  const byCode = new Map(classes.filter((c) => c.code).map((c) => [c.code as string, c.name]));
  const lines = createInterface({ input: createReadStream(path.join(root, file)), crlfDelay: Infinity });
  for await (const line of lines) {
    const [code, name] = csvFields(line).map((f) => f.trim());
    if (!code || !name || !code.startsWith('/m/')) continue; // header or blank
    const known = byCode.get(code);
    if (known !== undefined && known.toLowerCase() !== name.toLowerCase()) {
      yield { problem: { file, reason: `class ${code} is "${name}" here and "${known}" in the openimages taxonomy (taken by MID)` } };
    }
  }
}

async function* splitSamples(root: string, split: string, csvRel: string, idOfCode: Map<string, number>): AsyncIterable<SampleOrProblem> {
  const index = new TempIndex('oi', `CREATE TABLE inst (image TEXT NOT NULL, class INTEGER NOT NULL, mask TEXT NOT NULL)`);
  const db = index.db;
  try {
    const insert = db.prepare(`INSERT INTO inst (image, class, mask) VALUES (?, ?, ?)`);
    let header: string[] | null = null;
    let columns: number[] = [];
    let badRows = 0;
    const unknownCodes = new Map<string, number>();
    index.begin();
    const lines = createInterface({ input: createReadStream(path.join(root, csvRel)), crlfDelay: Infinity });
    for await (const line of lines) {
      if (line.trim() === '') continue;
      const fields = csvFields(line);
      if (header === null) {
        header = fields.map((f) => f.trim());
        columns = CSV_COLUMNS.map((c) => (header as string[]).indexOf(c));
        if (columns.some((c) => c < 0)) {
          index.rollback();
          yield { problem: { file: csvRel, reason: `not a segmentation CSV: the header lacks ${CSV_COLUMNS.filter((_, i) => columns[i] as number < 0).join(', ')}` } };
          return;
        }
        continue;
      }
      const [mask, image, code] = columns.map((c) => (fields[c] ?? '').trim()) as [string, string, string];
      if (mask === '' || image === '' || code === '') {
        badRows += 1;
        continue;
      }
      const id = idOfCode.get(code);
      if (id === undefined) {
        unknownCodes.set(code, (unknownCodes.get(code) ?? 0) + 1);
        continue;
      }
      insert.run(image, id, mask);
      index.row();
    }
    index.commit();
    if (header === null) {
      yield { problem: { file: csvRel, reason: 'empty CSV' } };
      return;
    }
    if (badRows > 0) yield { problem: { file: csvRel, reason: `${badRows} rows without MaskPath, ImageID or LabelName, skipped` } };
    for (const [code, n] of unknownCodes) yield { problem: { file: csvRel, reason: `class ${code} is not in the openimages taxonomy; its ${n} masks are skipped` } };
    db.exec('CREATE INDEX inst_by_image ON inst (image)');
    // Which extracted-zip layout this split uses, from its first mask that exists.
    const layouts = new Map<string, string | null>();
    const maskPath = (imageId: string, mask: string): string | null => {
      const key = imageId.charAt(0);
      const known = layouts.get(key);
      if (known !== undefined && known !== null && existsSync(path.join(root, known, mask))) return `${known}/${mask}`;
      for (const dir of maskDirCandidates(split, imageId)) {
        if (existsSync(path.join(root, dir, mask))) {
          layouts.set(key, dir);
          return `${dir}/${mask}`;
        }
      }
      return null;
    };
    const imageDirs = IMAGE_DIRS(split).filter((d) => existsSync(path.join(root, d)));
    const page = db.prepare(`SELECT DISTINCT image FROM inst WHERE image > ? ORDER BY image LIMIT 1000`).pluck();
    const instancesOf = db.prepare(`SELECT class AS sourceId, mask FROM inst WHERE image = ? ORDER BY rowid`);
    let after = '';
    for (;;) {
      const batch = page.all(after) as string[];
      if (batch.length === 0) break;
      after = batch[batch.length - 1] as string;
      for (const imageId of batch) {
        const file = `${imageId}${P.imageExt}`;
        const dir = imageDirs.find((d) => existsSync(path.join(root, d, file)));
        const image = dir ? `${dir}/${file}` : null;
        if (!image || !insideRoot(root, image)) {
          yield { problem: { file: `${split}/${file}`, reason: 'image missing' } };
          continue;
        }
        const instances: { sourceId: number; mask: string }[] = [];
        for (const row of instancesOf.all(imageId) as { sourceId: number; mask: string }[]) {
          const rel = insideRoot(root, row.mask) ? maskPath(imageId, row.mask) : null;
          if (rel === null) yield { problem: { file: row.mask, reason: `mask of ${imageId} missing (looked in ${maskDirCandidates(split, imageId).join(', ')})` } };
          else instances.push({ sourceId: row.sourceId, mask: rel });
        }
        if (instances.length > 0) yield { instanceSample: { split, image, instances } };
      }
    }
  } finally {
    index.close();
  }
}
