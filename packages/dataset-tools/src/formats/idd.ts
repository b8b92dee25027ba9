import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { DatasetError } from '../errors.js';
import type { MaskDecoder } from '../mask-values.js';
import { listFiles } from '../paths.js';
import { rasterizePolygons, type PolygonObject } from '../polygons.js';
import { taxonomyFor } from '../taxonomy.js';
import { CITYSCAPES_PATHS } from './cityscapes.js';
import { folderSplits } from './splits.js';
import type { FormatAdapter, OpenOptions, OpenedDataset, SampleOrProblem } from './types.js';

const SPLITS = ['train', 'val'];

/** IDD's folder and file names, spelled once: the reader below and the fixture writer (testing/write-layouts.ts). */
export const IDD_PATHS = {
  imageDir: 'leftImg8bit',
  maskDir: 'gtFine',
  imageSuffix: '_leftImg8bit.png',
  level3Suffix: '_gtFine_labellevel3Ids.png',
  polygonSuffix: '_gtFine_polygons.json',
} as const;
const P = IDD_PATHS;

/** level3Id of pixels no polygon covers, and of the void classes. */
export const IDD_VOID = 255;

/**
 * IDD's 40 polygon label names → level3Id (0..25, 255 void), as in the AutoNUE toolkit's label table
 * (anue_labels.py). Level 3 merges parking into drivable fallback, rail track into non-drivable
 * fallback, animal into person, caravan/trailer/train into vehicle fallback, polegroup into pole,
 * tunnel into bridge and fallback background into sky.
 */
export const IDD_LEVEL3_OF_NAME: Record<string, number> = {
  road: 0, parking: 1, 'drivable fallback': 1, sidewalk: 2, 'rail track': 3, 'non-drivable fallback': 3,
  person: 4, animal: 4, rider: 5, motorcycle: 6, bicycle: 7, autorickshaw: 8, car: 9, truck: 10, bus: 11,
  caravan: 12, trailer: 12, train: 12, 'vehicle fallback': 12, curb: 13, wall: 14, fence: 15, 'guard rail': 16,
  billboard: 17, 'traffic sign': 18, 'traffic light': 19, pole: 20, polegroup: 20, 'obs-str-bar-fallback': 21,
  building: 22, bridge: 23, tunnel: 23, vegetation: 24, sky: 25, 'fallback background': 25,
  unlabeled: IDD_VOID, 'ego vehicle': IDD_VOID, 'rectification border': IDD_VOID, 'out of roi': IDD_VOID, 'license plate': IDD_VOID,
};

interface PolygonFile {
  imgWidth?: number;
  imgHeight?: number;
  objects?: { label?: string; polygon?: [number, number][]; deleted?: number | boolean }[];
}

/**
 * Reads an IDD *_gtFine_polygons.json as a level3Ids label map, the way the toolkit's createLabels
 * does: objects in file order, deleted ones skipped, a "...group" label drawn as its class, pixels
 * no polygon covers void (255). An unknown label or a malformed file is an error naming it.
 */
export function readIddPolygons(file: string): { width: number; height: number; values: Int32Array } {
  const text = readFileSync(file, 'utf8');
  let parsed: PolygonFile;
  try {
    parsed = JSON.parse(text) as PolygonFile;
  } catch (err) {
    throw new Error(`malformed polygon JSON (${(err as Error).message})`);
  }
  const { imgWidth: width, imgHeight: height, objects } = parsed;
  if (!Number.isInteger(width) || !Number.isInteger(height) || (width as number) <= 0 || (height as number) <= 0) throw new Error('polygon JSON has no imgWidth/imgHeight');
  if (!Array.isArray(objects)) throw new Error('polygon JSON has no "objects" list');
  const drawn: PolygonObject[] = [];
  objects.forEach((o, i) => {
    if (o.deleted) return;
    const raw = String(o.label ?? '');
    const name = raw.endsWith('group') && !(raw in IDD_LEVEL3_OF_NAME) ? raw.slice(0, -'group'.length) : raw;
    const value = IDD_LEVEL3_OF_NAME[name];
    if (value === undefined) throw new Error(`object #${i} has label "${raw}", which is not an IDD class`);
    if (!Array.isArray(o.polygon) || o.polygon.some((p) => !Array.isArray(p) || p.length !== 2 || !p.every(Number.isFinite))) throw new Error(`object #${i} (${raw}) has no valid polygon`);
    drawn.push({ value, polygon: o.polygon });
  });
  return { width: width as number, height: height as number, values: rasterizePolygons(width as number, height as number, drawn, IDD_VOID) };
}

/** The 'idd-polygons' encoding: a frame's polygon JSON, rasterised (its size is the JSON's imgWidth × imgHeight, checked by rasterising). */
const polygonsDecoder: MaskDecoder = {
  values: readIddPolygons,
  size: (file) => {
    const { width, height } = readIddPolygons(file);
    return { width, height };
  },
  unreadable: (err) => `unreadable polygons (${(err as Error).message})`,
};

/**
 * IDD (India Driving Dataset, segmentation part): leftImg8bit/<split>/<seq>/<frame>_leftImg8bit.png
 * with gtFine/<split>/<seq>/<frame>_gtFine_labellevel3Ids.png as written by the toolkit's createLabels
 * (--id-type level3Ids), or, where that PNG is absent, the frame's _gtFine_polygons.json rasterised.
 */
export const idd: FormatAdapter = {
  name: 'idd',
  title: 'IDD segmentation (leftImg8bit + gtFine level3Ids PNGs or polygon JSON)',
  annotation: 'dense',
  maskDecoders: { 'idd-polygons': polygonsDecoder },
  detect: (root) =>
    existsSync(path.join(root, P.imageDir)) &&
    listFiles(path.join(root, P.maskDir), (n) => n.endsWith(P.level3Suffix) || n.endsWith(P.polygonSuffix)).length > 0 &&
    // Cityscapes' labelIds masks in the same folders make it a Cityscapes dataset.
    listFiles(path.join(root, P.maskDir), (n) => n.endsWith(CITYSCAPES_PATHS.maskSuffix)).length === 0,
  open(root: string, options: OpenOptions): OpenedDataset {
    if (!existsSync(path.join(root, P.imageDir)) || !existsSync(path.join(root, P.maskDir))) throw new DatasetError('NOT_A_DATASET', `not an IDD folder (no ${P.imageDir}/ and ${P.maskDir}/): ${root}`);
    const taxonomy = taxonomyFor('idd', options);
    // Without --split, train and val (the test split has no gtFine); with it, any leftImg8bit/<split>.
    const splits = folderSplits('idd', path.join(root, P.imageDir), SPLITS, options.splits, options.datasetName);
    const frames = splits.flatMap((split) => listFiles(path.join(root, P.imageDir, split), (n) => n.endsWith(P.imageSuffix)).map((rel) => ({ split, rel })));
    // One encoding per dataset: level3Ids PNGs when every frame has one, else the polygons.
    const allPngs = frames.every(({ split, rel }) => existsSync(path.join(root, P.maskDir, split, `${rel.slice(0, -P.imageSuffix.length)}${P.level3Suffix}`)));
    return {
      format: 'idd',
      version: allPngs ? 'level3Ids PNG' : 'level3Ids from polygons',
      variant: null,
      annotation: 'dense',
      loss: 'hd',
      encoding: { kind: allPngs ? 'gray' : 'idd-polygons' },
      classes: taxonomy.classes,
      ignoreValues: taxonomy.ignoreValues,
      *samples(): Iterable<SampleOrProblem> {
        for (const { split, rel } of frames) {
          const image = `${P.imageDir}/${split}/${rel}`;
          const base = `${P.maskDir}/${split}/${rel.slice(0, -P.imageSuffix.length)}`;
          const mask = allPngs ? `${base}${P.level3Suffix}` : `${base}${P.polygonSuffix}`;
          if (!existsSync(path.join(root, mask))) yield { problem: { file: image, reason: `no annotation ${mask}` } };
          else yield { sample: { split, image, mask } };
        }
      },
    };
  },
};
