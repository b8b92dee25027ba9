import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { DatasetError } from '../errors.js';
import { streamJsonArrays } from '../json-stream.js';
import { MaskKindError, pngMaskReason, type MaskDecoder, type MaskValues } from '../mask-values.js';
import { insideRoot } from '../paths.js';
import { pngBytes8, pngKind, pngSamples, pngSize, readPngHeader } from '../png.js';
import { TempIndex } from '../temp-index.js';
import { taxonomyFor } from '../taxonomy.js';
import { chosenSplits } from './splits.js';
import type { FormatAdapter, OpenOptions, OpenedDataset, SampleOrProblem } from './types.js';

/**
 * COCO panoptic's folder and file names, spelled once: the reader below and the fixture writer
 * (testing/write-layouts.ts). JSON_NAME parses what `json` spells.
 */
export const COCO_PANOPTIC_PATHS = {
  annotationsDir: 'annotations',
  /** annotations/panoptic_<split><year>.json: segments_info per image. */
  json: (split: string, year: string) => `panoptic_${split}${year}.json`,
  /** annotations/panoptic_<split><year>/: the segment-id PNGs. */
  maskDir: (split: string, year: string) => `panoptic_${split}${year}`,
  /** <split><year>/: the images. */
  imageDir: (split: string, year: string) => `${split}${year}`,
} as const;
const P = COCO_PANOPTIC_PATHS;
const JSON_NAME = /^panoptic_(\w+?)(\d{4})\.json$/;

/** annotations/panoptic_<split><year>.json files, as [split, year, relative path]. */
function annotationFiles(root: string): [string, string, string][] {
  const dir = path.join(root, P.annotationsDir);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .map((name) => JSON_NAME.exec(name))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => [m[1] as string, m[2] as string, `${P.annotationsDir}/${m[0]}`] as [string, string, string])
    .sort((a, b) => a[2].localeCompare(b[2]));
}

/**
 * One split's samples. The JSON (panoptic_train2017.json is ~0.4 GB) is streamed into a temporary
 * SQLite index, never parsed whole; samples come out in image-path order.
 */
async function* splitSamples(root: string, split: string, year: string, jsonRel: string): AsyncIterable<SampleOrProblem> {
  const index = new TempIndex('coco', `CREATE TABLE img (id INTEGER PRIMARY KEY, file TEXT NOT NULL);
    CREATE TABLE ann (n INTEGER PRIMARY KEY, image_id INTEGER, file TEXT, segments TEXT)`);
  const db = index.db;
  try {
    const insertImage = db.prepare(`INSERT OR IGNORE INTO img (id, file) VALUES (?, ?)`);
    const insertAnn = db.prepare(`INSERT INTO ann (n, image_id, file, segments) VALUES (?, ?, ?, ?)`);
    let annotations = 0;
    let sawAnnotations = false;
    index.begin();
    try {
      await streamJsonArrays(path.join(root, jsonRel), ['images', 'annotations'], (array, value) => {
        const v = value as Record<string, unknown>;
        if (array === 'images') {
          if (typeof v?.id === 'number' && typeof v.file_name === 'string') insertImage.run(v.id, v.file_name);
          index.row();
          return;
        }
        sawAnnotations = true;
        const ok = typeof v?.file_name === 'string' && Array.isArray(v.segments_info);
        const segments = ok ? (v.segments_info as { id: number; category_id: number }[]).map((x) => [x.id, x.category_id]) : null;
        insertAnn.run(annotations, typeof v?.image_id === 'number' ? v.image_id : null, ok ? (v.file_name as string) : null, segments ? JSON.stringify(segments) : null);
        annotations += 1;
        index.row();
      });
      index.commit();
    } catch (err) {
      index.rollback();
      yield { problem: { file: jsonRel, reason: (err as Error).message } };
      return;
    }
    if (!sawAnnotations) {
      yield { problem: { file: jsonRel, reason: 'no "annotations" array' } };
      return;
    }
    const imageOf = db.prepare(`SELECT file FROM img WHERE id = ?`).pluck();
    // Each annotation's image path (from "images", else the PNG's name as .jpg); problems for the rest,
    // kept in the index too: annotations are read a page at a time, so memory does not grow with them.
    db.exec(`ALTER TABLE ann ADD COLUMN image TEXT; CREATE TABLE prob (n INTEGER PRIMARY KEY, reason TEXT NOT NULL)`);
    const setImage = db.prepare(`UPDATE ann SET image = ? WHERE n = ?`);
    const addProblem = db.prepare(`INSERT INTO prob (n, reason) VALUES (?, ?)`);
    const annPage = db.prepare(`SELECT n, image_id AS imageId, file, segments IS NULL AS noSegments FROM ann WHERE n > ? ORDER BY n LIMIT 1000`);
    let lastN = -1;
    for (;;) {
      const rows = annPage.all(lastN) as { n: number; imageId: number | null; file: string | null; noSegments: number }[];
      if (rows.length === 0) break;
      lastN = (rows[rows.length - 1] as { n: number }).n;
      db.transaction(() => {
        for (const row of rows) {
          if (row.file === null || row.noSegments) {
            addProblem.run(row.n, `annotation #${row.n} has no file_name or segments_info`);
            continue;
          }
          const mask = `${P.annotationsDir}/${P.maskDir(split, year)}/${row.file}`;
          const imageName = (row.imageId !== null ? (imageOf.get(row.imageId) as string | undefined) : undefined) ?? row.file.replace(/\.png$/i, '.jpg');
          const image = `${P.imageDir(split, year)}/${imageName}`;
          if (!insideRoot(root, mask) || !insideRoot(root, image)) {
            addProblem.run(row.n, `annotation #${row.n} names a file outside the dataset root: ${row.file}`);
            continue;
          }
          setImage.run(image, row.n);
        }
      })();
    }
    const probPage = db.prepare(`SELECT n, reason FROM prob WHERE n > ? ORDER BY n LIMIT 1000`);
    for (let after = -1; ; ) {
      const batch = probPage.all(after) as { n: number; reason: string }[];
      if (batch.length === 0) break;
      after = (batch[batch.length - 1] as { n: number }).n;
      for (const p of batch) yield { problem: { file: jsonRel, reason: p.reason } };
    }
    db.exec(`CREATE INDEX ann_by_image ON ann (image)`);
    const page = db.prepare(`SELECT n, image, file, segments FROM ann WHERE image IS NOT NULL AND (image, n) > (?, ?) ORDER BY image, n LIMIT 1000`);
    let after: [string, number] = ['', -1];
    for (;;) {
      const batch = page.all(...after) as { n: number; image: string; file: string; segments: string }[];
      if (batch.length === 0) break;
      const last = batch[batch.length - 1] as { n: number; image: string };
      after = [last.image, last.n];
      for (const row of batch) {
        yield { sample: { split, image: row.image, mask: `${P.annotationsDir}/${P.maskDir(split, year)}/${row.file}`, segments: JSON.parse(row.segments) as [number, number][] } };
      }
    }
  } finally {
    index.close();
  }
}

/**
 * A panoptic mask's segment ids, R + 256·G + 256²·B of an 8-bit RGB PNG (decoded directly) or an
 * opaque 8-bit RGBA one; any other kind would give other ids and is refused with a MaskKindError.
 */
function panopticValues(file: string): MaskValues {
  const buf = readFileSync(file);
  const h = readPngHeader(buf);
  const { width, height } = h;
  if (h.bitDepth === 8 && !h.interlaced && h.colorType === 2) {
    const rgb = pngBytes8(buf, width, height, 3);
    const values = new Int32Array(width * height);
    for (let i = 0; i < values.length; i++) values[i] = (rgb[3 * i] as number) + 256 * (rgb[3 * i + 1] as number) + 65536 * (rgb[3 * i + 2] as number);
    return { width, height, values };
  }
  if (h.bitDepth !== 8 || (h.colorType !== 2 && h.colorType !== 6)) throw new MaskKindError(`${pngKind(h)}: a COCO panoptic mask is 8-bit RGB (segment id = R + 256·G + 256²·B)`);
  const { channels, samples } = pngSamples(buf, h);
  const values = new Int32Array(width * height);
  for (let i = 0; i < values.length; i++) {
    if (channels === 4 && samples[4 * i + 3] !== 255) throw new MaskKindError(`${pngKind(h)} whose pixel (${i % width}, ${Math.floor(i / width)}) is not opaque: a COCO panoptic mask is 8-bit RGB`);
    values[i] = (samples[channels * i] as number) + 256 * (samples[channels * i + 1] as number) + 65536 * (samples[channels * i + 2] as number);
  }
  return { width, height, values };
}

const panopticDecoder: MaskDecoder = { values: panopticValues, size: pngSize, unreadable: pngMaskReason };

/**
 * COCO Panoptic: annotations/panoptic_<split>2017.json (segments_info per image) + the PNGs of
 * annotations/panoptic_<split>2017/ (segment id = R + 256·G + 256²·B) + images in <split>2017/.
 */
export const cocoPanoptic: FormatAdapter = {
  name: 'coco-panoptic',
  title: 'COCO Panoptic 2017',
  annotation: 'dense',
  detect: (root) => annotationFiles(root).length > 0,
  maskDecoders: { 'panoptic-rgb': panopticDecoder },
  open(root: string, options: OpenOptions): OpenedDataset {
    const all = annotationFiles(root);
    if (all.length === 0) throw new DatasetError('NOT_A_DATASET', `not a COCO panoptic folder (no annotations/panoptic_<split>2017.json): ${root}`);
    // The splits are those of the annotation files' names (panoptic_val2017.json: val).
    const splits = chosenSplits('coco-panoptic', [...new Set(all.map(([split]) => split))], options.splits, options.datasetName);
    const files = all.filter(([split]) => splits.includes(split));
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
      async *samples(): AsyncIterable<SampleOrProblem> {
        for (const [split, year, jsonRel] of files) yield* splitSamples(root, split, year, jsonRel);
      },
    };
  },
};
