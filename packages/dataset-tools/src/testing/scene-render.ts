/**
 * Procedurally drawn outdoor scenes: sky, buildings, trees, grass, a road, cars, people and dogs
 * as textured shapes. Each scene is an RGB image plus a map of the concept under every pixel;
 * the dataset writers turn concepts into each dataset's own class ids. Deterministic from a seed.
 */
import { seededRandom } from '@sentseg/common';

/** The things a scene is made of (the world's ground truth, before any dataset names them). */
export const SCENE_CONCEPTS = ['sky', 'building', 'tree', 'grass', 'road', 'car', 'person', 'dog'] as const;
export type SceneConcept = (typeof SCENE_CONCEPTS)[number];

const SKY = 0;
const BUILDING = 1;
const TREE = 2;
const GRASS = 3;
const ROAD = 4;
const CAR = 5;
const PERSON = 6;
const DOG = 7;

export interface Scene {
  width: number;
  height: number;
  /** width × height × 3 bytes. */
  rgb: Uint8Array;
  /** width × height concept indices into SCENE_CONCEPTS. */
  concept: Uint8Array;
  /** Per pixel, the object instance it belongs to (0 = stuff); cars, people and dogs are numbered from 1. */
  instance: Uint16Array;
}

/** How many of each object a scene has (inclusive ranges). */
export interface SceneStyle {
  buildings: [number, number];
  trees: [number, number];
  cars: [number, number];
  people: [number, number];
  dogs: [number, number];
  /** Road width at the bottom edge, as a fraction of the image width. */
  roadWidth: [number, number];
}

export const DEFAULT_SCENE_STYLE: SceneStyle = {
  buildings: [1, 4],
  trees: [1, 3],
  cars: [0, 3],
  people: [0, 3],
  dogs: [0, 2],
  roadWidth: [0.5, 1.1],
};

type Rgb = [number, number, number];

class Canvas {
  readonly rgb: Uint8Array;
  readonly concept: Uint8Array;
  readonly instance: Uint16Array;
  constructor(
    readonly width: number,
    readonly height: number,
  ) {
    this.rgb = new Uint8Array(width * height * 3);
    this.concept = new Uint8Array(width * height);
    this.instance = new Uint16Array(width * height);
  }

  set(x: number, y: number, colour: Rgb, concept: number, instance = 0): void {
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) return;
    const p = y * this.width + x;
    this.rgb[p * 3] = clamp(colour[0]);
    this.rgb[p * 3 + 1] = clamp(colour[1]);
    this.rgb[p * 3 + 2] = clamp(colour[2]);
    this.concept[p] = concept;
    this.instance[p] = instance;
  }

  /** Fills pixels inside [x0, x1) × [y0, y1) for which `inside` holds, colour per pixel. */
  fill(x0: number, y0: number, x1: number, y1: number, inside: (x: number, y: number) => boolean, colour: (x: number, y: number) => Rgb, concept: number, instance = 0): void {
    const xa = Math.max(0, Math.floor(x0));
    const ya = Math.max(0, Math.floor(y0));
    const xb = Math.min(this.width, Math.ceil(x1));
    const yb = Math.min(this.height, Math.ceil(y1));
    for (let y = ya; y < yb; y++) for (let x = xa; x < xb; x++) if (inside(x + 0.5, y + 0.5)) this.set(x, y, colour(x, y), concept, instance);
  }

  rect(x0: number, y0: number, x1: number, y1: number, colour: (x: number, y: number) => Rgb, concept: number, instance = 0): void {
    this.fill(x0, y0, x1, y1, () => true, colour, concept, instance);
  }

  ellipse(cx: number, cy: number, rx: number, ry: number, colour: (x: number, y: number) => Rgb, concept: number, instance = 0): void {
    this.fill(cx - rx, cy - ry, cx + rx, cy + ry, (x, y) => ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1, colour, concept, instance);
  }
}

function clamp(v: number): number {
  return v < 0 ? 0 : v > 255 ? 255 : Math.round(v);
}

/** Integer hash noise in [-1, 1): the same pixel always gets the same value for a given salt. */
function hashNoise(x: number, y: number, salt: number): number {
  let h = Math.imul(x, 374761393) ^ Math.imul(y, 668265263) ^ Math.imul(salt, 2246822519);
  h = Math.imul(h ^ (h >>> 13), 1274126177);
  h ^= h >>> 16;
  return ((h >>> 0) / 4294967296) * 2 - 1;
}

const jitter = (c: Rgb, amount: number, rand: () => number): Rgb => [c[0] + (rand() * 2 - 1) * amount, c[1] + (rand() * 2 - 1) * amount, c[2] + (rand() * 2 - 1) * amount];
const between = (range: [number, number], rand: () => number) => range[0] + Math.floor(rand() * (range[1] - range[0] + 1));

const BUILDING_COLOURS: Rgb[] = [[128, 128, 134], [150, 82, 62], [198, 178, 148], [84, 84, 96], [170, 160, 150]];
const CAR_COLOURS: Rgb[] = [[200, 30, 30], [30, 60, 170], [235, 235, 235], [25, 25, 25], [220, 190, 40], [120, 120, 130], [30, 120, 60]];
const SHIRT_COLOURS: Rgb[] = [[200, 40, 40], [40, 90, 190], [240, 240, 240], [40, 40, 40], [230, 200, 60], [60, 150, 80], [150, 60, 160]];
const SKIN_COLOURS: Rgb[] = [[236, 196, 160], [198, 150, 110], [140, 96, 64], [90, 60, 40]];
const FUR_COLOURS: Rgb[] = [[140, 90, 40], [30, 25, 20], [235, 225, 205], [200, 150, 70], [110, 110, 110]];

/** Draws one scene. The same (width, height, seed, style) always gives the same scene. */
export function renderScene(width: number, height: number, seed: number, style: SceneStyle = DEFAULT_SCENE_STYLE): Scene {
  const rand = seededRandom(seed);
  const c = new Canvas(width, height);
  const salt = Math.floor(rand() * 1e9);
  const horizon = Math.round(height * (0.35 + rand() * 0.15));

  // Sky: a vertical gradient with soft clouds.
  const top: Rgb = jitter([80, 130, 215], 15, rand);
  const low: Rgb = jitter([175, 205, 240], 10, rand);
  c.rect(0, 0, width, horizon, (x, y) => {
    const t = y / Math.max(1, horizon);
    return [top[0] + (low[0] - top[0]) * t + hashNoise(x, y, salt) * 3, top[1] + (low[1] - top[1]) * t + hashNoise(x, y, salt) * 3, top[2] + (low[2] - top[2]) * t];
  }, SKY);
  for (let k = between([0, 3], rand); k > 0; k--) {
    const cx = rand() * width;
    const cy = rand() * horizon * 0.6;
    const rx = width * (0.06 + rand() * 0.1);
    const ry = rx * 0.35;
    c.ellipse(cx, cy, rx, ry, (x, y) => [238 + hashNoise(x, y, salt + 1) * 8, 240 + hashNoise(x, y, salt + 1) * 8, 245], SKY);
  }

  // Buildings: blocks standing on the horizon, with a grid of windows.
  const buildings = between(style.buildings, rand);
  for (let k = 0; k < buildings; k++) {
    const w = width * (0.12 + rand() * 0.22);
    const x0 = rand() * (width - w * 0.5) - w * 0.25;
    const h = horizon * (0.35 + rand() * 0.6);
    const base = horizon + height * 0.02;
    const wall = jitter(BUILDING_COLOURS[Math.floor(rand() * BUILDING_COLOURS.length)] as Rgb, 12, rand);
    const lit = rand() < 0.3;
    const pitch = Math.max(4, Math.round(width / 28));
    c.rect(x0, base - h, x0 + w, base, (x, y) => {
      const wx = (x - Math.floor(x0)) % pitch;
      const wy = (y - Math.floor(base - h)) % pitch;
      if (wx >= 1 && wx < pitch / 2 + 1 && wy >= 1 && wy < pitch / 2 + 1) return lit ? [230, 210, 120] : [45, 55, 75];
      return [wall[0] + hashNoise(x, y, salt + 2) * 6, wall[1] + hashNoise(x, y, salt + 2) * 6, wall[2] + hashNoise(x, y, salt + 2) * 6];
    }, BUILDING);
  }

  // Ground: grass everywhere below the horizon, then the road as a trapezoid to a vanishing point.
  const grass: Rgb = jitter([96, 160, 60], 14, rand);
  c.rect(0, horizon, width, height, (x, y) => {
    const stripe = hashNoise(x, Math.floor(y / 3), salt + 3) * 22;
    return [grass[0] + stripe * 0.6, grass[1] + stripe, grass[2] + stripe * 0.3];
  }, GRASS);
  const vanishX = width * (0.3 + rand() * 0.4);
  const bottomX = width * (0.2 + rand() * 0.6);
  const halfBottom = (width * (style.roadWidth[0] + rand() * (style.roadWidth[1] - style.roadWidth[0]))) / 2;
  const roadGrey = 80 + rand() * 30;
  const roadAt = (y: number) => {
    const t = (y - horizon) / Math.max(1, height - horizon);
    return { centre: vanishX + (bottomX - vanishX) * t, half: 1 + halfBottom * t, t };
  };
  c.fill(0, horizon, width, height, (x, y) => {
    const r = roadAt(y);
    return Math.abs(x - r.centre) <= r.half;
  }, (x, y) => {
    const r = roadAt(y + 0.5);
    if (Math.abs(x + 0.5 - r.centre) < 0.6 + r.t * 1.2 && Math.floor(y / Math.max(2, 2 + r.t * 6)) % 2 === 0) return [225, 225, 215];
    const n = hashNoise(x, y, salt + 4) * 7;
    return [roadGrey + n, roadGrey + n, roadGrey + 4 + n];
  }, ROAD);

  // Trees behind the objects: a trunk and a speckled crown, standing on the ground.
  const trees = between(style.trees, rand);
  for (let k = 0; k < trees; k++) {
    const footY = horizon + rand() * (height - horizon) * 0.35;
    const scale = perspective(footY, horizon, height);
    const r = scale * (0.3 + rand() * 0.15);
    let x = rand() * width;
    const road = roadAt(footY);
    if (Math.abs(x - road.centre) < road.half + r * 0.3) x = road.centre + (x < road.centre ? -1 : 1) * (road.half + r * 0.5);
    const leaf = jitter([46, 110, 40], 14, rand);
    c.rect(x - r * 0.15, footY - r * 1.6, x + r * 0.15, footY, (px, py) => [92 + hashNoise(px, py, salt + 5) * 10, 62, 34], TREE);
    c.ellipse(x, footY - r * 1.7, r, r, (px, py) => {
      const n = hashNoise(px, py, salt + 6) * 30;
      return [leaf[0] + n * 0.5, leaf[1] + n, leaf[2] + n * 0.4];
    }, TREE);
  }

  // Objects, far to near so nearer ones cover farther ones.
  type Obj = { kind: number; footY: number };
  const objects: Obj[] = [];
  for (let k = between(style.cars, rand); k > 0; k--) objects.push({ kind: CAR, footY: horizon + (0.15 + rand() * 0.85) * (height - horizon) });
  for (let k = between(style.people, rand); k > 0; k--) objects.push({ kind: PERSON, footY: horizon + (0.1 + rand() * 0.9) * (height - horizon) });
  for (let k = between(style.dogs, rand); k > 0; k--) objects.push({ kind: DOG, footY: horizon + (0.2 + rand() * 0.8) * (height - horizon) });
  objects.sort((a, b) => a.footY - b.footY);
  let instance = 0;
  for (const o of objects) {
    instance += 1;
    const s = perspective(o.footY, horizon, height);
    const road = roadAt(o.footY);
    if (o.kind === CAR) {
      const x = road.centre + (rand() * 2 - 1) * road.half * 0.6;
      drawCar(c, x, o.footY, s * 0.5, jitter(CAR_COLOURS[Math.floor(rand() * CAR_COLOURS.length)] as Rgb, 10, rand), instance, salt);
    } else if (o.kind === PERSON) {
      const x = rand() * width;
      drawPerson(c, x, o.footY, s * 0.42, SKIN_COLOURS[Math.floor(rand() * SKIN_COLOURS.length)] as Rgb, jitter(SHIRT_COLOURS[Math.floor(rand() * SHIRT_COLOURS.length)] as Rgb, 10, rand), instance);
    } else {
      const x = rand() * width;
      drawDog(c, x, o.footY, s * 0.3, jitter(FUR_COLOURS[Math.floor(rand() * FUR_COLOURS.length)] as Rgb, 10, rand), rand() < 0.5, instance, salt);
    }
  }
  return { width, height, rgb: c.rgb, concept: c.concept, instance: c.instance };
}

/** Object size at a foot position: small at the horizon, large at the bottom edge. */
function perspective(footY: number, horizon: number, height: number): number {
  const t = (footY - horizon) / Math.max(1, height - horizon);
  return height * (0.12 + 0.45 * t);
}

function drawCar(c: Canvas, x: number, footY: number, s: number, body: Rgb, id: number, salt: number): void {
  const w = s * 2.2;
  const h = s * 0.75;
  const shade = (col: Rgb) => (px: number, py: number): Rgb => [col[0] + hashNoise(px, py, salt + 7) * 5, col[1] + hashNoise(px, py, salt + 7) * 5, col[2] + hashNoise(px, py, salt + 7) * 5];
  // Cabin with windows, body, wheels.
  c.rect(x - w * 0.3, footY - h * 1.55, x + w * 0.3, footY - h * 0.8, (px) => (Math.abs(px - x) < w * 0.02 ? body : [150, 180, 205]), CAR, id);
  c.rect(x - w / 2, footY - h * 0.95, x + w / 2, footY - h * 0.25, shade(body), CAR, id);
  for (const side of [-1, 1]) c.ellipse(x + side * w * 0.3, footY - h * 0.22, h * 0.26, h * 0.26, () => [20, 20, 22], CAR, id);
}

function drawPerson(c: Canvas, x: number, footY: number, s: number, skin: Rgb, shirt: Rgb, id: number): void {
  const legH = s * 1.1;
  const bodyH = s * 1.0;
  const w = s * 0.55;
  c.rect(x - w * 0.45, footY - legH, x - w * 0.08, footY, () => [40, 40, 60], PERSON, id);
  c.rect(x + w * 0.08, footY - legH, x + w * 0.45, footY, () => [40, 40, 60], PERSON, id);
  c.rect(x - w / 2, footY - legH - bodyH, x + w / 2, footY - legH, () => shirt, PERSON, id);
  c.ellipse(x, footY - legH - bodyH - s * 0.28, s * 0.26, s * 0.3, () => skin, PERSON, id);
}

function drawDog(c: Canvas, x: number, footY: number, s: number, fur: Rgb, facingRight: boolean, id: number, salt: number): void {
  const dir = facingRight ? 1 : -1;
  const bodyW = s * 1.6;
  const legH = s * 0.55;
  const coat = (px: number, py: number): Rgb => [fur[0] + hashNoise(px, py, salt + 8) * 12, fur[1] + hashNoise(px, py, salt + 8) * 12, fur[2] + hashNoise(px, py, salt + 8) * 12];
  for (const f of [-0.6, -0.35, 0.35, 0.6]) c.rect(x + f * bodyW * 0.5 - s * 0.07, footY - legH, x + f * bodyW * 0.5 + s * 0.07, footY, coat, DOG, id);
  c.ellipse(x, footY - legH - s * 0.2, bodyW / 2, s * 0.3, coat, DOG, id);
  c.ellipse(x + dir * bodyW * 0.55, footY - legH - s * 0.55, s * 0.28, s * 0.24, coat, DOG, id);
  c.ellipse(x + dir * bodyW * 0.75, footY - legH - s * 0.5, s * 0.12, s * 0.08, () => [20, 15, 15], DOG, id);
  c.rect(x - dir * bodyW * 0.5 - s * 0.3 * (facingRight ? 1 : 0), footY - legH - s * 0.45, x - dir * bodyW * 0.5 + s * 0.3 * (facingRight ? 0 : 1), footY - legH - s * 0.35, coat, DOG, id);
}
