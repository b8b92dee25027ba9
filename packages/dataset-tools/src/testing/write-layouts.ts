import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PNG } from 'pngjs';
import sharp from 'sharp';
import { seededRandom } from '@sentseg/common';
import { encodePalettePng } from '../png.js';
import { ADE20K_PATHS } from '../formats/ade20k.js';
import { CITYSCAPES_PATHS } from '../formats/cityscapes.js';
import { COCO_PANOPTIC_PATHS } from '../formats/coco-panoptic.js';
import { IDD_PATHS } from '../formats/idd.js';
import { MAPILLARY_PATHS } from '../formats/mapillary-vistas.js';
import { OBJECTS365_PATHS } from '../formats/objects365.js';
import { OPENIMAGES_PATHS } from '../formats/openimages.js';

/** Seeded, so generated datasets are the same on every run. */
export const seeded = seededRandom;

/** A mask of horizontal bands and a rectangle, values drawn from `values`. Row-major, one byte per pixel. */
export function bandMask(width: number, height: number, values: number[], rand: () => number): Uint8Array {
  const mask = new Uint8Array(width * height);
  const pick = () => values[Math.floor(rand() * values.length)] as number;
  const bands = [pick(), pick(), pick()];
  for (let y = 0; y < height; y++) mask.fill(bands[Math.min(2, Math.floor((3 * y) / height))] as number, y * width, (y + 1) * width);
  const x0 = Math.floor(rand() * width * 0.5);
  const y0 = Math.floor(rand() * height * 0.5);
  const obj = pick();
  for (let y = y0; y < Math.min(height, y0 + height / 3); y++) mask.fill(obj, y * width + x0, y * width + Math.min(width, x0 + Math.floor(width / 3)));
  return mask;
}

/** Writes a one-channel mask as an 8-bit grayscale PNG (colour type 0), as the datasets ship them. */
export function writeGrayPng(file: string, width: number, height: number, mask: Uint8Array): void {
  const png = new PNG({ width, height, colorType: 0, inputColorType: 0, bitDepth: 8, inputHasAlpha: false });
  png.data = Buffer.from(mask);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, PNG.sync.write(png, { colorType: 0, inputColorType: 0, inputHasAlpha: false }));
}

/** Writes an RGB PNG from an RGB byte array. */
export function writeRgbPng(file: string, width: number, height: number, rgb: Uint8Array): void {
  const png = new PNG({ width, height, colorType: 2, inputColorType: 2, inputHasAlpha: false });
  png.data = Buffer.from(rgb);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, PNG.sync.write(png, { colorType: 2, inputColorType: 2, inputHasAlpha: false }));
}

/** A small photo-like RGB image (a gradient), JPEG or PNG by the file's extension. */
export async function writeImage(file: string, width: number, height: number, seed: number): Promise<void> {
  const rgb = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      rgb[i] = (x * 7 + seed) & 255;
      rgb[i + 1] = (y * 5 + seed * 3) & 255;
      rgb[i + 2] = (x + y + seed) & 255;
    }
  }
  if (/\.jpe?g$/i.test(file)) {
    mkdirSync(path.dirname(file), { recursive: true });
    await sharp(Buffer.from(rgb), { raw: { width, height, channels: 3 } }).jpeg({ quality: 80 }).toFile(file);
  } else writeRgbPng(file, width, height, rgb);
}

/** Counts of each value in a mask. */
export function valueCounts(mask: Uint8Array): Map<number, number> {
  const counts = new Map<number, number>();
  for (const v of mask) counts.set(v, (counts.get(v) ?? 0) + 1);
  return counts;
}

export interface GeneratedSet {
  root: string;
  /** Per image (relative image path): mask value → pixels. */
  counts: Map<string, Map<number, number>>;
}

/** Cityscapes layout: leftImg8bit/<split>/<city>/<name>_leftImg8bit.png + gtFine/..._gtFine_labelIds.png (labelIds). */
export async function writeCityscapes(root: string, perSplit: Record<string, number>, size: [number, number], seed = 1): Promise<GeneratedSet> {
  const rand = seeded(seed);
  const counts = new Map<string, Map<number, number>>();
  const [w, h] = size;
  const labelIds = [0, 1, 4, 7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 31, 32, 33];
  for (const [split, n] of Object.entries(perSplit)) {
    for (let i = 0; i < n; i++) {
      const city = i % 2 === 0 ? 'aachen' : 'bremen';
      const name = `${city}_${String(i).padStart(6, '0')}_000019`;
      const image = `${CITYSCAPES_PATHS.imageDir}/${split}/${city}/${name}${CITYSCAPES_PATHS.imageSuffix}`;
      await writeImage(path.join(root, image), w, h, i);
      const mask = bandMask(w, h, labelIds, rand);
      writeGrayPng(path.join(root, CITYSCAPES_PATHS.maskDir, split, city, `${name}${CITYSCAPES_PATHS.maskSuffix}`), w, h, mask);
      counts.set(image, valueCounts(mask));
    }
  }
  return { root, counts };
}

/** ADE20K layout: images/<split>/ADE_<tag>_N.jpg + annotations/<split>/ADE_<tag>_N.png (0 = other, 1..150). */
export async function writeAde20k(root: string, perSplit: Record<string, number>, size: [number, number], seed = 2): Promise<GeneratedSet> {
  const rand = seeded(seed);
  const counts = new Map<string, Map<number, number>>();
  const [w, h] = size;
  const values = [0, 1, 2, 3, 5, 7, 13, 21, 150];
  for (const [split, n] of Object.entries(perSplit)) {
    const tag = split === 'training' ? 'train' : 'val';
    for (let i = 0; i < n; i++) {
      const name = `ADE_${tag}_${String(i + 1).padStart(8, '0')}`;
      const image = `${ADE20K_PATHS.imageDir}/${split}/${name}.jpg`;
      await writeImage(path.join(root, image), w, h, i);
      const mask = bandMask(w, h, values, rand);
      writeGrayPng(path.join(root, ADE20K_PATHS.maskDir, split, `${name}${ADE20K_PATHS.maskExt}`), w, h, mask);
      counts.set(image, valueCounts(mask));
    }
  }
  return { root, counts };
}

/** COCO panoptic layout: annotations/panoptic_<split>2017.json + PNG segments + <split>2017/*.jpg. */
export async function writeCocoPanoptic(root: string, perSplit: Record<string, number>, size: [number, number], seed = 3): Promise<GeneratedSet & { categoryCounts: Map<string, Map<number, number>> }> {
  const rand = seeded(seed);
  const counts = new Map<string, Map<number, number>>();
  const categoryCounts = new Map<string, Map<number, number>>();
  const [w, h] = size;
  const categories = [1, 3, 8, 44, 125, 184, 187, 199, 200];
  for (const [split, n] of Object.entries(perSplit)) {
    const annotations: unknown[] = [];
    const images: unknown[] = [];
    for (let i = 0; i < n; i++) {
      const id = i + 1;
      const base = String(id).padStart(12, '0');
      const image = `${COCO_PANOPTIC_PATHS.imageDir(split, '2017')}/${base}.jpg`;
      await writeImage(path.join(root, image), w, h, i);
      // Segments: values 0..4 in a band mask → segment ids; 0 stays unlabelled.
      const local = bandMask(w, h, [0, 1, 2, 3, 4], rand);
      const segIds = [0, 1000 + id * 7, 70000 + id, 300000 + id * 3, 5000000 + id];
      const segCats = [0, ...[1, 2, 3, 4].map(() => categories[Math.floor(rand() * categories.length)] as number)];
      const rgb = new Uint8Array(w * h * 3);
      const perCat = new Map<number, number>();
      local.forEach((v, p) => {
        const sid = segIds[v] as number;
        rgb[p * 3] = sid & 255;
        rgb[p * 3 + 1] = (sid >> 8) & 255;
        rgb[p * 3 + 2] = (sid >> 16) & 255;
        if (v > 0) perCat.set(segCats[v] as number, (perCat.get(segCats[v] as number) ?? 0) + 1);
      });
      writeRgbPng(path.join(root, COCO_PANOPTIC_PATHS.annotationsDir, COCO_PANOPTIC_PATHS.maskDir(split, '2017'), `${base}.png`), w, h, rgb);
      const present = new Set(local);
      annotations.push({
        image_id: id,
        file_name: `${base}.png`,
        segments_info: [1, 2, 3, 4].filter((v) => present.has(v)).map((v) => ({ id: segIds[v], category_id: segCats[v], iscrowd: 0 })),
      });
      images.push({ id, file_name: `${base}.jpg`, width: w, height: h });
      counts.set(image, valueCounts(local));
      categoryCounts.set(image, perCat);
    }
    mkdirSync(path.join(root, COCO_PANOPTIC_PATHS.annotationsDir), { recursive: true });
    writeFileSync(path.join(root, COCO_PANOPTIC_PATHS.annotationsDir, COCO_PANOPTIC_PATHS.json(split, '2017')), JSON.stringify({ images, annotations }));
  }
  return { root, counts, categoryCounts };
}

/**
 * Mapillary Vistas layout. v1.2: config.json (66 classes, readable names from the taxonomy) + <split>/labels/;
 * v2.0: config_v2.0.json (machine names such as animal--bird) + <split>/v2.0/labels/. Images in
 * <split>/images/*.jpg; labels are 8-bit palette PNGs (index = class id), generated colours.
 */
export async function writeMapillaryVistas(
  root: string,
  perSplit: Record<string, number>,
  size: [number, number],
  classNames: string[],
  seed = 4,
  version: 'v1.2' | 'v2.0' = 'v1.2',
): Promise<GeneratedSet> {
  const rand = seeded(seed);
  const counts = new Map<string, Map<number, number>>();
  const [w, h] = size;
  const palette = classNames.map((_, i): [number, number, number] => [(i * 53) % 256, (i * 97 + 40) % 256, (i * 151 + 90) % 256]);
  mkdirSync(root, { recursive: true });
  const labels =
    version === 'v2.0'
      ? classNames.map((name, i) => ({ color: palette[i], instances: false, readable: name.split('--').pop()?.replace(/-/g, ' ') ?? name, name, evaluate: true }))
      : classNames.map((readable, i) => ({ color: palette[i], instances: false, readable, name: readable.toLowerCase().replace(/ /g, '-'), evaluate: true }));
  writeFileSync(path.join(root, MAPILLARY_PATHS.configs[version].at(-1) as string), `${JSON.stringify({ labels }, null, 2)}\n`);
  const values = version === 'v2.0' ? [0, 21, 30, 31, 45, 62, 66, 99, classNames.length - 1] : [2, 13, 15, 17, 27, 30, 45, 55, 65];
  for (const [split, n] of Object.entries(perSplit)) {
    const labelDir = version === 'v2.0' ? path.join(root, split, version, MAPILLARY_PATHS.labelDir) : path.join(root, split, MAPILLARY_PATHS.labelDir);
    for (let i = 0; i < n; i++) {
      const name = `mv_${split}_${String(i).padStart(4, '0')}`;
      const image = `${split}/${MAPILLARY_PATHS.imageDir}/${name}.jpg`;
      await writeImage(path.join(root, image), w, h, 90 + i);
      const mask = bandMask(w, h, values, rand);
      mkdirSync(labelDir, { recursive: true });
      writeFileSync(path.join(labelDir, `${name}.png`), encodePalettePng(w, h, mask, palette));
      counts.set(image, valueCounts(mask));
    }
  }
  return { root, counts };
}

/** One IDD polygon object as the synthetic writer draws it: an axis-aligned rectangle, corners inclusive. */
export interface IddRect {
  label: string;
  x0: number;
  y0: number;
  x1: number;
  y1: number;
  deleted?: boolean;
}

/**
 * IDD layout: leftImg8bit/<split>/<seq>/<frame>_leftImg8bit.png + gtFine/<split>/<seq>/<frame>_gtFine_polygons.json,
 * and with `level3Pngs` also the toolkit's _gtFine_labellevel3Ids.png (painted here rectangle by rectangle,
 * in order, from the given level3 table). Returns the rectangles of each image.
 */
export async function writeIdd(
  root: string,
  perSplit: Record<string, number>,
  size: [number, number],
  options: { level3Pngs: boolean; level3Of?: Record<string, number>; seed?: number },
): Promise<{ root: string; rects: Map<string, IddRect[]> }> {
  const rand = seeded(options.seed ?? 6);
  const [w, h] = size;
  const labels = ['road', 'parking', 'sidewalk', 'person', 'animal', 'car', 'autorickshaw', 'polegroup', 'vegetation', 'sky', 'unlabeled', 'obs-str-bar-fallback'];
  const rects = new Map<string, IddRect[]>();
  for (const [split, n] of Object.entries(perSplit)) {
    for (let i = 0; i < n; i++) {
      const seq = String(100 + (i % 2));
      const frame = `frame${String(i).padStart(4, '0')}`;
      const image = `${IDD_PATHS.imageDir}/${split}/${seq}/${frame}${IDD_PATHS.imageSuffix}`;
      await writeImage(path.join(root, image), w, h, i);
      const list: IddRect[] = [{ label: 'sky', x0: 0, y0: 0, x1: w - 1, y1: Math.floor(h / 2) }];
      for (let k = 0; k < 5; k++) {
        const x0 = Math.floor(rand() * w * 0.8);
        const y0 = Math.floor(rand() * h * 0.8);
        list.push({ label: labels[Math.floor(rand() * labels.length)] as string, x0, y0, x1: Math.min(w + 2, x0 + 2 + Math.floor(rand() * w * 0.5)), y1: Math.min(h - 1, y0 + 1 + Math.floor(rand() * h * 0.5)), deleted: k === 4 });
      }
      rects.set(image, list);
      const polygons = {
        imgHeight: h,
        imgWidth: w,
        objects: list.map((r) => ({ label: r.label, polygon: [[r.x0, r.y0], [r.x1, r.y0], [r.x1, r.y1], [r.x0, r.y1]], ...(r.deleted ? { deleted: 1 } : {}) })),
      };
      const base = path.join(root, IDD_PATHS.maskDir, split, seq, frame);
      mkdirSync(path.dirname(base), { recursive: true });
      writeFileSync(`${base}${IDD_PATHS.polygonSuffix}`, JSON.stringify(polygons));
      if (options.level3Pngs) {
        const table = options.level3Of ?? {};
        const mask = new Uint8Array(w * h).fill(255);
        for (const r of list) {
          if (r.deleted) continue;
          const v = table[r.label.endsWith('group') ? r.label.slice(0, -5) : r.label] ?? 255;
          for (let y = Math.max(0, r.y0); y <= Math.min(h - 1, r.y1); y++) for (let x = Math.max(0, r.x0); x <= Math.min(w - 1, r.x1); x++) mask[y * w + x] = v;
        }
        writeGrayPng(`${base}${IDD_PATHS.level3Suffix}`, w, h, mask);
      }
    }
  }
  return { root, rects };
}

export interface WrittenBox {
  category: number;
  bbox: [number, number, number, number];
}

/**
 * Objects365 layout. v2: annotations/zhiyuan_objv2_<split>.json naming "images/v2/patch0/objects365_v2_N.jpg",
 * the images under <split>/images/v2/patch0/; v1: annotations/objects365_<split>.json naming a bare file in <split>/.
 * Boxes are COCO [x, y, w, h]; some stick out of the image (the writer is asked to clip them).
 */
export async function writeObjects365(
  root: string,
  perSplit: Record<string, number>,
  size: [number, number],
  options: { version: 'v1' | 'v2'; categories: { id: number; name: string }[]; seed?: number },
): Promise<{ root: string; boxes: Map<string, WrittenBox[]> }> {
  const rand = seeded(options.seed ?? 8);
  const [w, h] = size;
  const boxes = new Map<string, WrittenBox[]>();
  let imageId = 1000;
  let annId = 1;
  for (const [split, n] of Object.entries(perSplit)) {
    const images: unknown[] = [];
    const annotations: unknown[] = [];
    for (let i = 0; i < n; i++) {
      imageId += 7;
      const fileName = options.version === 'v2' ? `${OBJECTS365_PATHS.v2ImageDir}/patch0/objects365_v2_${String(imageId).padStart(8, '0')}.jpg` : `obj365_${split}_${String(imageId).padStart(12, '0')}.jpg`;
      const onDisk = `${split}/${fileName}`;
      await writeImage(path.join(root, onDisk), w, h, i);
      images.push({ id: imageId, file_name: fileName, width: w, height: h });
      const list: WrittenBox[] = [];
      for (let k = 0; k < 1 + Math.floor(rand() * 4); k++) {
        const category = (options.categories[Math.floor(rand() * options.categories.length)] as { id: number }).id;
        const bbox: [number, number, number, number] = [Math.round(rand() * w * 0.8 * 10) / 10, Math.round(rand() * h * 0.8 * 10) / 10, 2 + Math.round(rand() * w * 0.6), 2 + Math.round(rand() * h * 0.6)];
        list.push({ category, bbox });
        annotations.push({ id: annId++, image_id: imageId, category_id: category, bbox, area: bbox[2] * bbox[3], iscrowd: 0 });
      }
      boxes.set(onDisk, list);
    }
    const name = OBJECTS365_PATHS.json(options.version, split);
    mkdirSync(path.join(root, OBJECTS365_PATHS.annotationsDir), { recursive: true });
    writeFileSync(path.join(root, OBJECTS365_PATHS.annotationsDir, name), JSON.stringify({ images, annotations, categories: options.categories }));
  }
  return { root, boxes };
}

/** One OpenImages instance as written: its MID and a rectangle in mask pixels (the mask is half the image size). */
export interface WrittenInstance {
  mid: string;
  maskPath: string;
  rect: { x0: number; y0: number; x1: number; y1: number };
}

/**
 * OpenImages V6 segmentation layout: <split>/<ImageID>.jpg, <split>-annotations-object-segmentation.csv and the
 * binary mask PNGs (values 0/255) at half the image's size in masks/<split>/ (the extracted zips).
 */
export async function writeOpenImages(
  root: string,
  perSplit: Record<string, number>,
  size: [number, number],
  mids: string[],
  seed = 10,
  classNames?: Record<string, string>,
): Promise<{ root: string; instances: Map<string, WrittenInstance[]> }> {
  const rand = seeded(seed);
  const [w, h] = size;
  const mw = Math.floor(w / 2);
  const mh = Math.floor(h / 2);
  const instances = new Map<string, WrittenInstance[]>();
  for (const [split, n] of Object.entries(perSplit)) {
    const rows = ['MaskPath,ImageID,LabelName,BoxID,BoxXMin,BoxXMax,BoxYMin,BoxYMax,PredictedIoU,Clicks'];
    for (let i = 0; i < n; i++) {
      const imageId = `${(i * 7919 + 4096 * (split.length + 1)).toString(16).padStart(6, '0')}${split.slice(0, 2)}0000aa`;
      const image = `${split}/${imageId}${OPENIMAGES_PATHS.imageExt}`;
      await writeImage(path.join(root, image), w, h, 30 + i);
      const list: WrittenInstance[] = [];
      for (let k = 0; k < 1 + Math.floor(rand() * 3); k++) {
        const mid = mids[Math.floor(rand() * mids.length)] as string;
        const boxId = `${k}b${i}`;
        const maskPath = `${imageId}_${mid.replace(/\//g, '')}_${boxId}.png`;
        const x0 = Math.floor(rand() * mw * 0.7);
        const y0 = Math.floor(rand() * mh * 0.7);
        const rect = { x0, y0, x1: Math.min(mw - 1, x0 + 1 + Math.floor(rand() * mw * 0.5)), y1: Math.min(mh - 1, y0 + 1 + Math.floor(rand() * mh * 0.5)) };
        const mask = new Uint8Array(mw * mh);
        for (let y = rect.y0; y <= rect.y1; y++) for (let x = rect.x0; x <= rect.x1; x++) mask[y * mw + x] = 255;
        writeGrayPng(path.join(root, OPENIMAGES_PATHS.maskDir, split, maskPath), mw, mh, mask);
        list.push({ mid, maskPath, rect });
        rows.push(`${maskPath},${imageId},${mid},${boxId},${rect.x0 / mw},${(rect.x1 + 1) / mw},${rect.y0 / mh},${(rect.y1 + 1) / mh},0.8,"0.1 0.2;0.3 0.4"`);
      }
      instances.set(image, list);
    }
    mkdirSync(root, { recursive: true });
    writeFileSync(path.join(root, `${split}${OPENIMAGES_PATHS.csvSuffix}`), `${rows.join('\n')}\n`);
  }
  // class-descriptions-boxable.csv: MID,DisplayName without a header, as the download ships it.
  if (classNames) writeFileSync(path.join(root, OPENIMAGES_PATHS.classDescriptions), `${Object.entries(classNames).map(([mid, name]) => `${mid},${name}`).join('\n')}\n`);
  return { root, instances };
}
