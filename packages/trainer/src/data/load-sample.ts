/**
 * Loads one training image: decode, resize (short edge), crop, flip, colour jitter, blur, noise;
 * the label map remapped to label ids through the dataset's lookup table (masks are never
 * rewritten on disk); boxes moved with the crop. Runs on a loader worker thread or inline.
 */
import { existsSync } from 'node:fs';
import { ignoreIndexFor, imageSize, readMaskValues, type MaskEncodingKind, type MaskValues } from '@sentseg/dataset-tools';
import sharp from 'sharp';
import { colourAndNormalise, cropLabels, planAugment, transformBox, type AugmentConfig } from './augment.js';

/**
 * The lookup table's value of a source id that is no class of its dataset nor one of its ignore
 * values (ManifestReader.lut(name, ignoreIndexFor(numLabels), NOT_A_CLASS)): a sample with such a pixel is refused,
 * never read as ignored.
 */
export const NOT_A_CLASS = -1;

export interface LoadTask {
  dataset: string;
  imageId: number;
  image: string;
  /** Dense datasets: the mask file; its values are source ids (gray) or segment ids (panoptic RGB). */
  mask: string | null;
  encoding: MaskEncodingKind;
  /** Panoptic: segment id → source id. */
  segments: [number, number][];
  /** Source id → label id (ignoreIndexFor(numLabels) = ignore, NOT_A_CLASS = no class of the dataset). */
  lut: Int32Array;
  /** Labels of the manifest: a label id at or past it is no label. */
  numLabels: number;
  /** Instance-mask datasets: one binary PNG per instance (any size) and its source id. */
  instances: { mask: string; sourceId: number }[];
  /** Box datasets: boxes in original image pixels. */
  boxes: { boxId: number; sourceId: number; x: number; y: number; w: number; h: number }[];
  augment: AugmentConfig;
  /**
   * Box datasets: a box whose part inside the crop is under this share of its area is dropped
   * (its CLIP target embeds the whole box; the pooled map would see only the part).
   */
  minBoxVisible: number;
  seed: number;
}

export interface LoadedBox {
  boxId: number;
  labelId: number;
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

export type LoadResult =
  | { ok: true; imageId: number; dataset: string; pixels: Float32Array; target: Int32Array; boxes: LoadedBox[]; boxesCut: number }
  | { ok: false; imageId: number; dataset: string; file: string; reason: string; kind?: 'labels' };


function lookup(lut: Int32Array, id: number, ignore: number): number {
  return id < lut.length ? (lut[id] as number) : ignore;
}

/**
 * A dense mask's label ids (one per pixel, `ignore` = no label) from its values (readMaskValues):
 * gray masks' values through the lookup table, COCO panoptic segment ids through the image's
 * segments then the lookup table.
 */
export function denseLabels(values: Int32Array, encoding: MaskEncodingKind, segments: [number, number][], lut: Int32Array, ignore: number): Int32Array {
  const labels = new Int32Array(values.length);
  if (encoding === 'panoptic-rgb') {
    const category = new Map(segments);
    for (let i = 0; i < labels.length; i++) {
      const source = category.get(values[i] as number);
      labels[i] = source === undefined ? ignore : lookup(lut, source, ignore);
    }
  } else {
    for (let i = 0; i < labels.length; i++) labels[i] = lookup(lut, values[i] as number, ignore);
  }
  return labels;
}

/** Whether a label id is a label of the manifest or its ignore value. */
function isLabelOrIgnore(id: number, numLabels: number): boolean {
  return (id >= 0 && id < numLabels) || id === ignoreIndexFor(numLabels);
}

/**
 * Why a dense mask's labels (denseLabels of its values) are wrong, or null: the mask values whose
 * pixels map to neither a label of the manifest (0 ≤ id < numLabels) nor ignore, with their
 * pixel counts, as "300 (12 px), 1000 (4 px)". Such pixels would otherwise drop out of the losses
 * and of mIoU unnoticed (PyTorch's cross-entropy stops on them: "Target out of bounds").
 */
export function strayLabelReason(values: Int32Array, labels: Int32Array, numLabels: number, dataset: string, encoding: MaskEncodingKind): string | null {
  const stray = new Map<number, { label: number; pixels: number }>();
  for (let i = 0; i < labels.length; i++) {
    const label = labels[i] as number;
    if (isLabelOrIgnore(label, numLabels)) continue;
    const value = values[i] as number;
    const seen = stray.get(value);
    if (seen) seen.pixels += 1;
    else stray.set(value, { label, pixels: 1 });
  }
  if (stray.size === 0) return null;
  const what = encoding === 'panoptic-rgb' ? 'segment ids' : 'ids';
  const list = [...stray.entries()].sort((a, b) => a[0] - b[0]);
  const named = list.slice(0, 8).map(([value, s]) => `${value}${s.label === NOT_A_CLASS ? '' : ` → label ${s.label}`} (${s.pixels} px)`).join(', ');
  const more = list.length > 8 ? `, and ${list.length - 8} more` : '';
  const total = list.reduce((n, [, s]) => n + s.pixels, 0);
  return `mask ${what} that are neither a label nor ignored (${ignoreIndexFor(numLabels)}): ${named}${more}; ${total} px in all (no class of dataset ${dataset} in the manifest, or a label id past its ${numLabels} labels)`;
}

export async function loadSample(task: LoadTask): Promise<LoadResult> {
  const fail = (file: string, reason: string): LoadResult => ({ ok: false, imageId: task.imageId, dataset: task.dataset, file, reason });
  if (!existsSync(task.image)) return fail(task.image, 'image missing');
  let width: number;
  let height: number;
  try {
    ({ width, height } = await imageSize(task.image));
  } catch (err) {
    return fail(task.image, `unreadable image (${(err as Error).message})`);
  }
  const cfg = task.augment;
  const crop = cfg.crop;
  const plan = planAugment(width, height, cfg, task.seed);

  // Image: resize, crop (clipped to the resized image), optional blur; padding stays empty.
  const cw = Math.min(crop, plan.resizedWidth - plan.left);
  const ch = Math.min(crop, plan.resizedHeight - plan.top);
  let raw: Buffer;
  try {
    let pipeline = sharp(task.image).removeAlpha().toColourspace('srgb').resize(plan.resizedWidth, plan.resizedHeight, { fit: 'fill' }).extract({ left: plan.left, top: plan.top, width: cw, height: ch });
    if (plan.blurSigma >= 0.3) pipeline = pipeline.blur(plan.blurSigma);
    raw = await pipeline.raw().toBuffer();
  } catch (err) {
    return fail(task.image, `unreadable image (${(err as Error).message})`);
  }
  const rgb = new Uint8Array(crop * crop * 3);
  const valid = new Uint8Array(crop * crop);
  for (let y = 0; y < ch; y++) {
    for (let x = 0; x < cw; x++) {
      const dst = y * crop + (plan.flip ? crop - 1 - x : x);
      const src = (y * cw + x) * 3;
      rgb[3 * dst] = raw[src] as number;
      rgb[3 * dst + 1] = raw[src + 1] as number;
      rgb[3 * dst + 2] = raw[src + 2] as number;
      valid[dst] = 1;
    }
  }
  const pixels = colourAndNormalise(rgb, valid, plan, cfg.noiseStd);

  const ignore = ignoreIndexFor(task.numLabels);
  let target: Int32Array = new Int32Array(crop * crop).fill(ignore);
  if (task.mask !== null) {
    let mask: MaskValues;
    try {
      if (!existsSync(task.mask)) return fail(task.mask, 'mask missing');
      mask = readMaskValues(task.mask, task.encoding);
    } catch (err) {
      return fail(task.mask, `corrupt or truncated PNG (${(err as Error).message})`);
    }
    if (mask.width !== width || mask.height !== height) return fail(task.mask, `mask ${mask.width}×${mask.height} does not match image ${width}×${height}`);
    const labels = denseLabels(mask.values, task.encoding, task.segments, task.lut, ignore);
    const stray = strayLabelReason(mask.values, labels, task.numLabels, task.dataset, task.encoding);
    if (stray) return { ...fail(task.mask, stray), kind: 'labels' } as LoadResult;
    target = cropLabels(labels, width, height, plan, crop, ignore);
  }
  // Instance masks: each binary mask (at its own resolution) paints its label; later ones on top.
  for (const instance of task.instances) {
    let mask: MaskValues;
    try {
      if (!existsSync(instance.mask)) return fail(instance.mask, 'instance mask missing');
      mask = readMaskValues(instance.mask, 'gray');
    } catch (err) {
      return fail(instance.mask, `corrupt or truncated PNG (${(err as Error).message})`);
    }
    const label = lookup(task.lut, instance.sourceId, ignore);
    if (!isLabelOrIgnore(label, task.numLabels)) {
      return { ...fail(instance.mask, `instance class ${instance.sourceId} is neither a label nor ignored (no class of dataset ${task.dataset} in the manifest, or a label id past its ${task.numLabels} labels)`), kind: 'labels' } as LoadResult;
    }
    const painted = new Int32Array(mask.width * mask.height).fill(-1);
    for (let i = 0; i < painted.length; i++) if ((mask.values[i] as number) > 0) painted[i] = label;
    const cropped = cropLabels(painted, mask.width, mask.height, plan, crop, -1);
    for (let i = 0; i < cropped.length; i++) if ((cropped[i] as number) >= 0) target[i] = cropped[i] as number;
  }
  const boxes: LoadedBox[] = [];
  let boxesCut = 0;
  for (const box of task.boxes) {
    const labelId = lookup(task.lut, box.sourceId, ignore);
    // A box's class takes no part in L_WD (its target is the CLIP embedding of its pixels).
    if (!isLabelOrIgnore(labelId, task.numLabels) || labelId === ignore) continue;
    const moved = transformBox(box, width, height, plan, crop);
    if (!moved) continue;
    if (moved.visible < task.minBoxVisible) {
      boxesCut += 1;
      continue;
    }
    boxes.push({ boxId: box.boxId, labelId, x0: moved.x0, y0: moved.y0, x1: moved.x1, y1: moved.y1 });
  }
  return { ok: true, imageId: task.imageId, dataset: task.dataset, pixels, target, boxes, boxesCut };
}
