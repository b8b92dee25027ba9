/**
 * The decoder of each MaskEncoding: 'gray' and 'none' from mask-values.ts, every other one
 * registered by the format that owns it (FormatAdapter.maskDecoders: COCO panoptic's RGB segment
 * ids, IDD's polygons), so the generic readers name no format.
 */
import { FORMATS } from './formats/index.js';
import type { MaskEncodingKind } from './formats/types.js';
import { grayMaskDecoder, noMaskDecoder, type MaskDecoder, type MaskValues } from './mask-values.js';

const DECODERS = new Map<MaskEncodingKind, MaskDecoder>([
  ['gray', grayMaskDecoder],
  ['none', noMaskDecoder],
]);
for (const format of FORMATS) {
  for (const [kind, decoder] of Object.entries(format.maskDecoders ?? {}) as [MaskEncodingKind, MaskDecoder][]) DECODERS.set(kind, decoder);
}

/** The decoder of an encoding (a missing one is a bug: every MaskEncodingKind has one). */
export function maskDecoder(kind: MaskEncodingKind): MaskDecoder {
  const decoder = DECODERS.get(kind);
  if (!decoder) throw new Error(`no mask decoder registered for encoding "${kind}"`);
  return decoder;
}

/**
 * Reads a mask's values: a one-channel PNG (gray at any depth, or palette index), panoptic 8-bit RGB
 * segment ids, or IDD polygons rasterised to level3Ids. Throws MaskKindError for a PNG whose kind
 * cannot hold the encoding's values (a 16-bit RGB panoptic mask, a colour-coded gray mask).
 */
export function readMaskValues(file: string, encoding: MaskEncodingKind): MaskValues {
  return maskDecoder(encoding).values(file);
}
