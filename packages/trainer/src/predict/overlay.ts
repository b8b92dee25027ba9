/**
 * predict's pictures: the label map as a one-channel index PNG, and the colour overlay with its
 * legend. Colours are chosen per image so that the labels in its legend are far apart: a label
 * keeps its Cityscapes colour (cityscapesScripts labels.py) when that colour is at least
 * LEGEND_MIN_DELTA_E (CIELAB ΔE76) from the colours already given in the image, otherwise it takes
 * the free colour farthest from them out of a fixed palette of 16 well-separated colours (Kelly's
 * colours of maximum contrast without white, black, the near-black olive and the three closest to
 * another one; the closest pair left is ΔE 25). The legend lists labels of at least
 * LEGEND_MIN_AREA of the image, largest first, while such a colour remains; the rest are drawn in
 * black (the image darkened) and counted on one "+N more" row.
 *
 * The label PNG is an 8-bit palette PNG (pixel value = label index, palette = the overlay's
 * colours; PIL and numpy read H × W indices) for up to 256 labels, and 16-bit gray above. pngjs
 * writes no palette PNG and sharp's palette output re-quantises (indices not kept), so the
 * palette PNG is dataset-tools' encoder, whose decoder reads it back as indices.
 */
import { writeFile } from 'node:fs/promises';
import { encodePalettePng } from '@sentseg/dataset-tools';
import { escapeXml, FIGURE_FONT, type Rgb } from '@sentseg/common';
import { PNG } from 'pngjs';
import sharp from 'sharp';

/** Labels below this share of the image are not listed (they are counted on the "+N more" row). */
export const LEGEND_MIN_AREA = 0.001;
/** Least CIELAB distance between two colours of one legend (and the black of unlisted labels). */
export const LEGEND_MIN_DELTA_E = 20;
export const LEGEND_ROW = 22;
/** Colour of the pixels of labels not in the legend: the image darkened by half. */
export const UNLISTED_COLOUR: Rgb = [0, 0, 0];

const PALETTE: Rgb[] = ['F3C300', '875692', 'F38400', 'A1CAF1', 'BE0032', 'C2B280', '848482', '008856', 'E68FAC', '0067A5', 'F99379', 'B3446C', '882D17', '8DB600', '654522', 'E25822'].map(
  (h) => [0, 2, 4].map((i) => parseInt(h.slice(i, i + 2), 16)) as Rgb,
);

/** The 19 Cityscapes train classes' colours, by the label each maps to. */
const CITYSCAPES: Record<string, Rgb> = {
  road: [128, 64, 128], 'sidewalk pavement': [244, 35, 232], building: [70, 70, 70], wall: [102, 102, 156], fence: [190, 153, 153],
  pole: [153, 153, 153], 'traffic light': [250, 170, 30], 'traffic sign': [220, 220, 0], vegetation: [107, 142, 35], terrain: [152, 251, 152],
  sky: [70, 130, 180], person: [220, 20, 60], 'rider other': [255, 0, 0], car: [0, 0, 142], truck: [0, 0, 70], bus: [0, 60, 100],
  train: [0, 80, 100], motorcycle: [0, 0, 230], bicycle: [119, 11, 32],
};

/**
 * A fixed colour per label index (golden-angle hues), the same in every image: for pictures that
 * compare images side by side (the demo's truth/prediction pairs). Neighbouring hues of far-apart
 * indices can be close, which is why predict's overlay chooses its colours per image instead.
 */
export function labelColour(index: number): Rgb {
  const h = (index * 137.508) % 360;
  const c = 0.65;
  const x = c * (1 - Math.abs(((h / 60) % 2) - 1));
  const m = 0.5 - c / 2;
  const [r, g, b] = h < 60 ? [c, x, 0] : h < 120 ? [x, c, 0] : h < 180 ? [0, c, x] : h < 240 ? [0, x, c] : h < 300 ? [x, 0, c] : [c, 0, x];
  return [Math.round((r + m) * 255), Math.round((g + m) * 255), Math.round((b + m) * 255)];
}

/** CIELAB (D65) of an sRGB colour. */
export function rgbToLab([r, g, b]: Rgb): [number, number, number] {
  const lin = (c: number) => {
    const v = c / 255;
    return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
  };
  const [R, G, B] = [lin(r), lin(g), lin(b)];
  const f = (t: number) => (t > 0.008856 ? Math.cbrt(t) : 7.787 * t + 16 / 116);
  const x = f((0.4124 * R + 0.3576 * G + 0.1805 * B) / 0.95047);
  const y = f(0.2126 * R + 0.7152 * G + 0.0722 * B);
  const z = f((0.0193 * R + 0.1192 * G + 0.9505 * B) / 1.08883);
  return [116 * y - 16, 500 * (x - y), 200 * (y - z)];
}

/** CIE76 colour difference. */
export function deltaE(a: Rgb, b: Rgb): number {
  const [p, q] = [rgbToLab(a), rgbToLab(b)];
  return Math.hypot(p[0] - q[0], p[1] - q[1], p[2] - q[2]);
}

export interface LegendEntry {
  index: number;
  name: string;
  colour: Rgb;
  pixels: number;
  /** Listed on the overlay's legend (else counted in "+N more" and drawn in UNLISTED_COLOUR). */
  listed: boolean;
}

/** Every label present in `pred`, largest first, with its colour and whether the legend lists it. */
export function legendFor(pred: ArrayLike<number>, names: string[]): LegendEntry[] {
  const counts = new Map<number, number>();
  for (let i = 0; i < pred.length; i++) counts.set(pred[i] as number, (counts.get(pred[i] as number) ?? 0) + 1);
  const byArea = [...counts.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0]);
  const given: Rgb[] = [];
  const free = [...PALETTE];
  let listing = true;
  return byArea.map(([index, pixels]) => {
    const name = names[index] as string;
    const entry: LegendEntry = { index, name, colour: UNLISTED_COLOUR, pixels, listed: false };
    if (!listing || pixels < LEGEND_MIN_AREA * pred.length) return entry;
    // The black of unlisted labels counts as given once any label is left unlisted; keep clear of it always.
    const distance = (c: Rgb) => Math.min(deltaE(c, UNLISTED_COLOUR), ...given.map((g) => deltaE(c, g)));
    const own = CITYSCAPES[name];
    let colour: Rgb | undefined = own && distance(own) >= LEGEND_MIN_DELTA_E ? own : undefined;
    if (!colour) {
      let best = -1;
      free.forEach((c, k) => {
        if (best < 0 || distance(c) > distance(free[best] as Rgb)) best = k;
      });
      if (best >= 0 && distance(free[best] as Rgb) >= LEGEND_MIN_DELTA_E) colour = free.splice(best, 1)[0];
    }
    if (!colour) {
      listing = false;
      return entry;
    }
    given.push(colour);
    return { ...entry, colour, listed: true };
  });
}

/** How the label PNG stores indices; written into the legend JSON. */
export interface LabelsPngFormat {
  file: string;
  bitDepth: 8 | 16;
  colourType: 'palette' | 'gray';
  value: string;
}

/**
 * The label map as a one-channel PNG: 8-bit palette (index as value, the overlay's colours as the
 * palette, black for labels not drawn) for up to 256 labels, 16-bit gray above.
 */
export async function writeLabelsPng(file: string, pred: Int32Array, width: number, height: number, labelCount: number, legend: LegendEntry[]): Promise<LabelsPngFormat> {
  const value = 'index into "labels" of this file';
  if (labelCount <= 256) {
    const palette: Rgb[] = Array.from({ length: labelCount }, () => [0, 0, 0] as Rgb);
    for (const e of legend) palette[e.index] = e.colour;
    await writeFile(file, encodePalettePng(width, height, Uint8Array.from(pred), palette));
    return { file, bitDepth: 8, colourType: 'palette', value };
  }
  const png = new PNG({ width, height, bitDepth: 16, colorType: 0, inputColorType: 0, inputHasAlpha: false });
  // pngjs takes 16-bit samples in the platform's byte order (a Uint16Array's bytes) and writes them big-endian.
  png.data = Buffer.from(Uint16Array.from(pred).buffer);
  await writeFile(file, PNG.sync.write(png, { bitDepth: 16, colorType: 0, inputColorType: 0, inputHasAlpha: false }));
  return { file, bitDepth: 16, colourType: 'gray', value };
}

const percent = (pixels: number, total: number) => {
  const p = (100 * pixels) / total;
  return p >= 1 ? p.toFixed(1) : p.toFixed(2);
};

/** The legend strip's rows: listed labels, then "+N more" when any are not listed. */
export function legendRows(legend: LegendEntry[], total: number): { colour: Rgb; text: string }[] {
  const listed = legend.filter((e) => e.listed);
  const rest = legend.filter((e) => !e.listed);
  const rows = listed.map((e) => ({ colour: e.colour, text: `${e.name} (${percent(e.pixels, total)}%)` }));
  if (rest.length > 0) {
    const pixels = rest.reduce((s, e) => s + e.pixels, 0);
    rows.push({ colour: UNLISTED_COLOUR, text: `+${rest.length} more (${percent(pixels, total)}% together; see the legend JSON)` });
  }
  return rows;
}

/** The image blended 50/50 with label colours, and a legend strip (listed labels by area, then "+N more") below it. */
export async function writeOverlay(file: string, rgb: Uint8Array, width: number, height: number, pred: Int32Array, legend: LegendEntry[]): Promise<void> {
  const blended = Buffer.alloc(width * height * 3);
  const colours = new Map(legend.map((e) => [e.index, e.colour]));
  for (let i = 0; i < width * height; i++) {
    const c = colours.get(pred[i] as number) ?? UNLISTED_COLOUR;
    for (let ch = 0; ch < 3; ch++) blended[3 * i + ch] = Math.round(0.5 * (rgb[3 * i + ch] as number) + 0.5 * (c[ch] as number));
  }
  const rows = legendRows(legend, width * height);
  const legendHeight = LEGEND_ROW * rows.length + 8;
  const legendWidth = Math.max(width, 360);
  const svgRows = rows
    .map(
      (r, i) =>
        `<rect x="6" y="${6 + i * LEGEND_ROW}" width="16" height="16" fill="rgb(${r.colour.join(',')})"/>` +
        `<text x="28" y="${19 + i * LEGEND_ROW}" font-family="${FIGURE_FONT}" font-size="13">${escapeXml(r.text)}</text>`,
    )
    .join('');
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${legendWidth}" height="${legendHeight}"><rect width="100%" height="100%" fill="white"/>${svgRows}</svg>`;
  await sharp({ create: { width: legendWidth, height: height + legendHeight, channels: 3, background: { r: 255, g: 255, b: 255 } } })
    .composite([
      { input: blended, raw: { width, height, channels: 3 }, left: 0, top: 0 },
      { input: Buffer.from(svg), left: 0, top: height },
    ])
    .png()
    .toFile(file);
}
