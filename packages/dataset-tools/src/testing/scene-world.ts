/**
 * The demo's synthetic world: the same kind of procedurally drawn scenes, written as four datasets
 * in real on-disk layouts (Cityscapes, ADE20K, COCO panoptic, generic) whose taxonomies name the
 * same things differently ("car" / "automobile", "terrain" / "grass" / "lawn"). The fourth is a
 * held-out validation-only set. Everything is deterministic from the seed.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { ADE20K_PATHS } from '../formats/ade20k.js';
import { CITYSCAPES_PATHS } from '../formats/cityscapes.js';
import { COCO_PANOPTIC_PATHS } from '../formats/coco-panoptic.js';
import { renderScene, SCENE_CONCEPTS, type Scene, type SceneConcept } from './scene-render.js';
import { writeGrayPng, writeRgbPng } from './write-layouts.js';

export type WorldFormat = 'cityscapes' | 'ade20k' | 'coco-panoptic' | 'generic';

/** One class of a world dataset: the concept it covers, its id on disk and its name. */
export interface WorldClass {
  concept: SceneConcept;
  id: number;
  name: string;
}

export interface WorldDatasetSpec {
  /** Dataset name in the manifest, and its folder under the world root. */
  name: string;
  format: WorldFormat;
  size: [number, number];
  /** Split name → number of images. */
  splits: Record<string, number>;
  /** Classes; a concept without a class is written as `unlabeledId` (ignored). */
  classes: WorldClass[];
  unlabeledId: number;
  /** Extra taxonomy entries that are ignored (e.g. Cityscapes' "unlabeled", "dynamic"). */
  ignored: { id: number; name: string }[];
  /** True when the dataset's own names are the built-in taxonomy of its format (no taxonomy file is written). */
  builtInTaxonomy: boolean;
  /** Not for training: validation only, with names no training set uses. */
  heldOut: boolean;
}

/**
 * The world as fixed for the demo. Names follow each dataset's habits: Cityscapes' own 19-class
 * names, ADE20K-style names, COCO panoptic's category names and ids, and a held-out set with yet
 * other words. The "group" of a name is the coarse kind a dataset's documentation gives it.
 */
export const WORLD_DATASETS: WorldDatasetSpec[] = [
  {
    name: 'city',
    format: 'cityscapes',
    size: [192, 96],
    splits: { train: 48, val: 12 },
    classes: [
      { concept: 'road', id: 7, name: 'road' },
      { concept: 'building', id: 11, name: 'building' },
      { concept: 'tree', id: 21, name: 'vegetation' },
      { concept: 'grass', id: 22, name: 'terrain' },
      { concept: 'sky', id: 23, name: 'sky' },
      { concept: 'person', id: 24, name: 'person' },
      { concept: 'car', id: 26, name: 'car' },
    ],
    // Cityscapes has no class for dogs: they are "dynamic", ignored in training and evaluation.
    unlabeledId: 5,
    ignored: [],
    builtInTaxonomy: true,
    heldOut: false,
  },
  {
    name: 'ade',
    format: 'ade20k',
    size: [128, 96],
    splits: { training: 48, validation: 12 },
    classes: [
      { concept: 'building', id: 2, name: 'building' },
      { concept: 'sky', id: 3, name: 'sky' },
      { concept: 'tree', id: 5, name: 'tree' },
      { concept: 'road', id: 7, name: 'road' },
      { concept: 'grass', id: 10, name: 'grass' },
      { concept: 'person', id: 13, name: 'person' },
      { concept: 'car', id: 21, name: 'automobile' },
      { concept: 'dog', id: 127, name: 'animal' },
    ],
    unlabeledId: 0,
    ignored: [{ id: 0, name: 'other' }],
    builtInTaxonomy: false,
    heldOut: false,
  },
  {
    name: 'coco',
    format: 'coco-panoptic',
    size: [128, 96],
    splits: { train: 48, val: 12 },
    classes: [
      { concept: 'person', id: 1, name: 'person' },
      { concept: 'car', id: 3, name: 'car' },
      { concept: 'dog', id: 18, name: 'dog' },
      { concept: 'road', id: 149, name: 'road' },
      { concept: 'tree', id: 184, name: 'tree-merged' },
      { concept: 'sky', id: 187, name: 'sky-other-merged' },
      { concept: 'grass', id: 193, name: 'grass-merged' },
      { concept: 'building', id: 199, name: 'building-other-merged' },
    ],
    unlabeledId: 0,
    ignored: [],
    builtInTaxonomy: false,
    heldOut: false,
  },
  {
    name: 'heldout',
    format: 'generic',
    size: [128, 96],
    splits: { val: 24 },
    classes: [
      { concept: 'sky', id: 0, name: 'sky' },
      { concept: 'building', id: 1, name: 'house' },
      { concept: 'tree', id: 2, name: 'tree' },
      { concept: 'grass', id: 3, name: 'lawn' },
      { concept: 'road', id: 4, name: 'street' },
      { concept: 'car', id: 5, name: 'automobile' },
      { concept: 'person', id: 6, name: 'pedestrian' },
      { concept: 'dog', id: 7, name: 'dog' },
    ],
    unlabeledId: 255,
    ignored: [],
    builtInTaxonomy: false,
    heldOut: true,
  },
];

/** The coarse kind of each concept (a label-bank group), for looking its names up in WordNet. */
export const CONCEPT_GROUPS: Record<SceneConcept, string> = {
  sky: 'nature',
  building: 'structure',
  tree: 'nature',
  grass: 'nature',
  road: 'ground',
  car: 'vehicles',
  person: 'people',
  dog: 'animals',
};

export interface WrittenWorldDataset {
  spec: WorldDatasetSpec;
  root: string;
  /** A taxonomy file to pass to merge-datasets (--taxonomy), or null for the built-in one. */
  taxonomyFile: string | null;
  /** Per image path (relative to root): concept → pixels, counted from the rendered scene. */
  conceptPixels: Map<string, Map<SceneConcept, number>>;
  /** Images written per split. */
  splitCounts: Record<string, number>;
}

export interface WrittenWorld {
  root: string;
  datasets: WrittenWorldDataset[];
}

/** Source-id map of one scene for a dataset: concept → class id, the rest → unlabeledId. */
function classIds(scene: Scene, spec: WorldDatasetSpec): Uint8Array {
  const byConcept = SCENE_CONCEPTS.map((concept) => spec.classes.find((c) => c.concept === concept)?.id ?? spec.unlabeledId);
  return Uint8Array.from(scene.concept, (c) => byConcept[c] as number);
}

function countConcepts(scene: Scene): Map<SceneConcept, number> {
  const counts = new Map<SceneConcept, number>();
  for (const c of scene.concept) {
    const name = SCENE_CONCEPTS[c] as SceneConcept;
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  return counts;
}

async function writePhoto(file: string, scene: Scene): Promise<void> {
  mkdirSync(path.dirname(file), { recursive: true });
  if (file.endsWith('.png')) writeRgbPng(file, scene.width, scene.height, scene.rgb);
  else await sharp(Buffer.from(scene.rgb), { raw: { width: scene.width, height: scene.height, channels: 3 } }).jpeg({ quality: 92 }).toFile(file);
}

function taxonomyJson(spec: WorldDatasetSpec): string {
  const classes = [
    ...spec.ignored.map((c) => ({ id: c.id, name: c.name, label: 'ignore' })),
    ...spec.classes.map((c) => ({ id: c.id, name: c.name, label: 'unmapped' })),
  ].sort((a, b) => a.id - b.id);
  return `${JSON.stringify({ dataset: spec.name, description: `synthetic ${spec.format}-layout dataset "${spec.name}" with its own class names (every class unmapped: merge with --keep-unmapped)`, ignoreValues: [255], classes }, null, 2)}\n`;
}

/** Writes one dataset of the world in its format's layout; images are rendered from seed + index. */
export async function writeWorldDataset(root: string, spec: WorldDatasetSpec, seed: number, scale = 1): Promise<WrittenWorldDataset> {
  const conceptPixels = new Map<string, Map<SceneConcept, number>>();
  const splitCounts: Record<string, number> = {};
  const [w, h] = spec.size;
  mkdirSync(root, { recursive: true });
  let serial = 0;
  for (const [split, count] of Object.entries(spec.splits)) {
    const n = Math.max(1, Math.round(count * scale));
    splitCounts[split] = n;
    const coco: { images: unknown[]; annotations: unknown[] } = { images: [], annotations: [] };
    for (let i = 0; i < n; i++) {
      serial += 1;
      const scene = renderScene(w, h, seed * 100003 + serial * 7919);
      const ids = classIds(scene, spec);
      let image: string;
      switch (spec.format) {
        case 'cityscapes': {
          const city = ['aachen', 'bremen', 'zurich'][i % 3] as string;
          const stem = `${city}_${String(i).padStart(6, '0')}_000019`;
          image = `${CITYSCAPES_PATHS.imageDir}/${split}/${city}/${stem}${CITYSCAPES_PATHS.imageSuffix}`;
          await writePhoto(path.join(root, image), scene);
          writeGrayPng(path.join(root, CITYSCAPES_PATHS.maskDir, split, city, `${stem}${CITYSCAPES_PATHS.maskSuffix}`), w, h, ids);
          break;
        }
        case 'ade20k': {
          const stem = `ADE_${split === 'training' ? 'train' : 'val'}_${String(i + 1).padStart(8, '0')}`;
          image = `${ADE20K_PATHS.imageDir}/${split}/${stem}.jpg`;
          await writePhoto(path.join(root, image), scene);
          writeGrayPng(path.join(root, ADE20K_PATHS.maskDir, split, `${stem}${ADE20K_PATHS.maskExt}`), w, h, ids);
          break;
        }
        case 'coco-panoptic': {
          const id = serial;
          const stem = String(id).padStart(12, '0');
          image = `${COCO_PANOPTIC_PATHS.imageDir(split, '2017')}/${stem}.jpg`;
          await writePhoto(path.join(root, image), scene);
          const { rgb, segments } = panopticSegments(scene, ids);
          writeRgbPng(path.join(root, COCO_PANOPTIC_PATHS.annotationsDir, COCO_PANOPTIC_PATHS.maskDir(split, '2017'), `${stem}.png`), w, h, rgb);
          coco.images.push({ id, file_name: `${stem}.jpg`, width: w, height: h });
          coco.annotations.push({ image_id: id, file_name: `${stem}.png`, segments_info: segments });
          break;
        }
        case 'generic': {
          const stem = `scene_${String(i).padStart(5, '0')}`;
          image = `images/${split}/${stem}.jpg`;
          await writePhoto(path.join(root, image), scene);
          writeGrayPng(path.join(root, 'masks', split, `${stem}.png`), w, h, ids);
          break;
        }
      }
      conceptPixels.set(image, countConcepts(scene));
    }
    if (spec.format === 'coco-panoptic') {
      const categories = spec.classes.map((c) => ({ id: c.id, name: c.name, isthing: ['car', 'person', 'dog'].includes(c.concept) ? 1 : 0 }));
      mkdirSync(path.join(root, COCO_PANOPTIC_PATHS.annotationsDir), { recursive: true });
      writeFileSync(path.join(root, COCO_PANOPTIC_PATHS.annotationsDir, COCO_PANOPTIC_PATHS.json(split, '2017')), JSON.stringify({ ...coco, categories }));
    }
  }
  let taxonomyFile: string | null = null;
  if (spec.format === 'generic') {
    writeFileSync(path.join(root, 'classes.json'), `${JSON.stringify({ classes: spec.classes.map((c) => ({ id: c.id, name: c.name })), ignoreValues: [255] }, null, 2)}\n`);
  } else if (!spec.builtInTaxonomy) {
    taxonomyFile = path.join(root, 'sentseg-taxonomy.json');
    writeFileSync(taxonomyFile, taxonomyJson(spec));
  }
  return { spec, root, taxonomyFile, conceptPixels, splitCounts };
}

/**
 * COCO panoptic encoding: one segment per stuff class and one per object instance, segment id =
 * category id · 1000 + instance, stored as R + 256·G + 256²·B; unlabelled pixels stay 0.
 */
function panopticSegments(scene: Scene, ids: Uint8Array): { rgb: Uint8Array; segments: { id: number; category_id: number; area: number; iscrowd: 0 }[] } {
  const rgb = new Uint8Array(ids.length * 3);
  const areas = new Map<number, { category: number; area: number }>();
  ids.forEach((category, p) => {
    if (category === 0) return;
    const segment = category * 1000 + (scene.instance[p] as number);
    rgb[p * 3] = segment & 255;
    rgb[p * 3 + 1] = (segment >> 8) & 255;
    rgb[p * 3 + 2] = (segment >> 16) & 255;
    const entry = areas.get(segment) ?? { category, area: 0 };
    entry.area += 1;
    areas.set(segment, entry);
  });
  const segments = [...areas].sort((a, b) => a[0] - b[0]).map(([id, e]) => ({ id, category_id: e.category, area: e.area, iscrowd: 0 as const }));
  return { rgb, segments };
}

/** Writes the whole world under `root` (one folder per dataset). `scale` shrinks every split (quick runs). */
export async function writeSceneWorld(root: string, options: { seed?: number; scale?: number; datasets?: WorldDatasetSpec[] } = {}): Promise<WrittenWorld> {
  const seed = options.seed ?? 2022;
  const datasets: WrittenWorldDataset[] = [];
  for (const [k, spec] of (options.datasets ?? WORLD_DATASETS).entries()) {
    datasets.push(await writeWorldDataset(path.join(root, spec.name), spec, seed + k * 131, options.scale ?? 1));
  }
  return { root, datasets };
}
