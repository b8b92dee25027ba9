import type { Problem } from '../errors.js';
import type { MaskDecoder } from '../mask-values.js';
import type { SourceClass, Taxonomy } from '../taxonomy.js';

export type AnnotationKind = 'dense' | 'instance-masks' | 'boxes';
export type LossKind = 'hd' | 'ld' | 'wd';

/**
 * The losses each annotation kind can feed (merge-datasets --loss): L_HD and L_LD need a label per
 * pixel (dense or instance masks), L_WD needs boxes. The first is the default of the paper.
 */
export const LOSSES_FOR: Record<AnnotationKind, LossKind[]> = { dense: ['hd', 'ld'], 'instance-masks': ['ld', 'hd'], boxes: ['wd'] };

/** How mask pixel values become source class ids. */
export type MaskEncoding =
  /** One channel: the value is the class id (ADE20K, Cityscapes, BDD100K, SUN RGB-D, generic). */
  | { kind: 'gray' }
  /** RGB: segment id = R + 256·G + 256²·B, class from the image's segments (COCO panoptic). */
  | { kind: 'panoptic-rgb' }
  /** IDD polygon JSON, rasterised to level3Ids (the toolkit's createLabels, when its PNGs are absent). */
  | { kind: 'idd-polygons' }
  /** No mask at all: box-only datasets (Objects365). */
  | { kind: 'none' };

export type MaskEncodingKind = MaskEncoding['kind'];

/** One image with a dense mask, paths relative to the dataset root. */
export interface DenseSample {
  split: string;
  image: string;
  mask: string;
  /** Panoptic only: segment id → category id, from the annotation JSON. */
  segments?: [number, number][];
}

/** One box, in image pixels (x, y = top-left corner), with its source class (category id). */
export interface SourceBox {
  sourceId: number;
  x: number;
  y: number;
  w: number;
  h: number;
}

/** One image of a box-only dataset, paths relative to the dataset root. */
export interface BoxSample {
  split: string;
  image: string;
  /** Size from the annotation file (checked against the image header when histograms are on), or null. */
  width: number | null;
  height: number | null;
  boxes: SourceBox[];
}

/** One image of an instance-mask dataset: binary masks (any size, scaled to the image) with their classes. */
export interface InstanceSample {
  split: string;
  image: string;
  instances: { sourceId: number; mask: string }[];
}

export type SampleOrProblem = { sample: DenseSample } | { boxSample: BoxSample } | { instanceSample: InstanceSample } | { problem: Problem };

/** A dataset opened for reading: its classes and its samples in a stable order. */
export interface OpenedDataset {
  format: string;
  version: string;
  variant: string | null;
  annotation: AnnotationKind;
  loss: LossKind;
  encoding: MaskEncoding;
  /** Source classes keyed by the id found in masks / segments. */
  classes: SourceClass[];
  /** Mask values that mean "no label". */
  ignoreValues: number[];
  /** Samples sorted by split then image path, with problems found while listing. */
  samples(): Iterable<SampleOrProblem> | AsyncIterable<SampleOrProblem>;
}

export interface OpenOptions {
  /** Only these splits (dataset-native names, e.g. training, val). */
  splits?: string[];
  /** Format variant (SUN RGB-D: official | mseg). */
  variant?: string;
  /** Label names of manifests/labels.json. */
  labels: string[];
  /** A taxonomy file that replaces the format's built-in one (same form as manifests/taxonomy/*.json). */
  taxonomyFile?: string;
  /** The --dataset NAME, for hints that name a flag (`--variant NAME=...`). */
  datasetName?: string;
}

/** One dataset format: how to recognise it and how to read it. */
export interface FormatAdapter {
  name: string;
  title: string;
  /** What its annotations are, known before opening it (the losses --loss may choose depend on it). */
  annotation: AnnotationKind;
  /** True when `root` looks like this format. */
  detect(root: string): boolean;
  open(root: string, options: OpenOptions): OpenedDataset;
  /** Decoders of the mask encodings only this format uses (mask-decoders.ts collects them; 'gray' is shared). */
  maskDecoders?: Partial<Record<MaskEncodingKind, MaskDecoder>>;
}

/** A dense, one-channel dataset whose classes come straight from its taxonomy file (HD loss). */
export function grayDenseDataset(format: string, version: string, taxonomy: Taxonomy, samples: () => Iterable<SampleOrProblem>): OpenedDataset {
  return {
    format,
    version,
    variant: null,
    annotation: 'dense',
    loss: 'hd',
    encoding: { kind: 'gray' },
    classes: taxonomy.classes,
    ignoreValues: taxonomy.ignoreValues,
    samples,
  };
}
