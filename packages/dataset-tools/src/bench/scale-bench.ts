/**
 * merge-datasets at the datasets' real scale. For each size N (images), generates three sets itself:
 *   - Cityscapes layout (dense 8-bit masks, 1,000 images per city folder),
 *   - Objects365 v2 layout (a COCO-style JSON with ~15 boxes per image: about 2.2 KB per image,
 *     so 2.2 GB at 1M images; images in patch folders of 10,000),
 *   - OpenImages layout (a segmentation CSV with ~2.9 masks per image, as V6's 2.7M masks on 944k images),
 *   - COCO panoptic layout (opt-in: --formats coco-panoptic; a panoptic JSON with 4 segments per image
 *     and RGB segment-id PNGs, 118k images in COCO's train2017),
 * where every image and mask file is a hard link to one of a few source files (ext4 allows at most
 * 65,000 links per file, so the links rotate among enough sources to stay under 60,000 each). Each
 * merge runs in its own process (histograms on, the default workers, node started with the flags
 * bin/merge-datasets.js gives it) and reports images/s, boxes/s or masks/s and its peak RSS (VmHWM); then a reader process opens the manifest, builds the trainer's
 * balanced-sampler input (the image ids of the split) and lists the dataset's samples, timed, with
 * its own peak RSS; then `merge-datasets --update` runs twice on that manifest, with nothing changed
 * and with 1% of the images touched (their mtime moved), timed with its peak RSS. The last lines
 * give the RSS ratio of each size to the smallest.
 *   node packages/dataset-tools/dist/bench/scale-bench.js [--scale 10000 --scale 100000] [--formats cityscapes,objects365,openimages] [--data DIR]
 */
import { flushAndExit, peakRssMiB } from '@sentseg/common';
import { execFile } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, linkSync, mkdirSync, mkdtempSync, openSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { CITYSCAPES_PATHS } from '../formats/cityscapes.js';
import { COCO_PANOPTIC_PATHS } from '../formats/coco-panoptic.js';
import { OBJECTS365_PATHS } from '../formats/objects365.js';
import { OPENIMAGES_PATHS } from '../formats/openimages.js';
import { ManifestReader } from '../manifest/reader.js';
import { mergeDatasets, parseDatasetSpecs } from '../merge.js';
import { bandMask, seeded, writeGrayPng, writeImage, writeRgbPng } from '../testing/index.js';
import { readTaxonomy } from '../taxonomy.js';
// What bin/merge-datasets.js and `sentseg merge-datasets` start node with (peak RSS flat with size): the same list, not a copy.
import { MERGE_NODE_FLAGS } from '@sentseg/dataset-tools/node-flags';

const args = await yargs(hideBin(process.argv))
  .usage(
    '$0 [--scale N ...] [--formats LIST] [--data DIR] [--keep]\n\n' +
      'Measures merge-datasets at real scale: for each size N it generates Cityscapes, Objects365 and OpenImages layouts (and COCO panoptic when named; hard links to a few files), ' +
      'merges each in its own process and prints images/s (boxes/s, masks/s) and peak RSS, then times a reader listing the merged dataset and its peak RSS, ' +
      'and --update with nothing changed and with 1% of the images touched; ' +
      'the last lines give the RSS ratio of each size to the smallest.',
  )
  .option('scale', { type: 'number', array: true, default: [10_000, 100_000], describe: 'dataset sizes in images (repeat); 1000000 is the full-scale run' })
  .option('formats', { type: 'string', default: 'cityscapes,objects365,openimages', describe: 'comma-separated: cityscapes, objects365, openimages, coco-panoptic' })
  .option('width', { type: 'number', default: 256, describe: 'image width of the generated sets' })
  .option('height', { type: 'number', default: 128, describe: 'image height of the generated sets' })
  .option('workers', { type: 'number', default: os.cpus().length, describe: 'worker threads of each merge' })
  .option('histograms', { type: 'boolean', default: true, describe: 'decode masks for per-label pixel counts (--no-histograms: sizes only)' })
  .option('data', { type: 'string', describe: 'generate (or reuse) the sets here; default: a temp folder, removed at the end' })
  .option('keep', { type: 'boolean', default: false, describe: 'keep the generated sets and the merged manifests (<data>/<format>-<size>.sqlite)' })
  .option('child', { hidden: true, type: 'string', choices: ['merge', 'update', 'read'], describe: 'internal' })
  .option('root', { hidden: true, type: 'string', describe: 'internal' })
  .option('name', { hidden: true, type: 'string', describe: 'internal' })
  .option('out', { hidden: true, type: 'string', describe: 'internal: the manifest of a merge; with --child read, any manifest to time the reader on' })
  .strict()
  .parseAsync();

if (args.child === 'merge') {
  const out = args.out as string;
  rmSync(out, { force: true });
  const started = performance.now();
  const run = await mergeDatasets(out, parseDatasetSpecs([`${args.name}=${args.root}`]), { workers: args.workers, histograms: args.histograms });
  const seconds = (performance.now() - started) / 1000;
  const reader = ManifestReader.open(out);
  const result = { seconds, images: run.summaries[0]?.images ?? 0, problems: run.summaries[0]?.problems ?? 0, boxes: reader.rowCount('boxes'), masks: reader.rowCount('instance_masks'), rssMiB: peakRssMiB() };
  reader.close();
  process.stdout.write(`${JSON.stringify(result)}\n`);
  await flushAndExit(0);
}

if (args.child === 'update') {
  const started = performance.now();
  const run = await mergeDatasets(args.out as string, parseDatasetSpecs([`${args.name}=${args.root}`]), { workers: args.workers, histograms: args.histograms, update: [args.name as string] });
  const summary = run.summaries[0];
  const result = { seconds: (performance.now() - started) / 1000, read: summary?.read ?? 0, changed: summary?.update?.changed ?? 0, rssMiB: peakRssMiB() };
  process.stdout.write(`${JSON.stringify(result)}\n`);
  await flushAndExit(0);
}

if (args.child === 'read') {
  // What the trainer does before its first step: open, list datasets, build the balanced sampler's
  // input (the image ids of each dataset's split) and the label lookup; then a full listing of samples.
  // Wall and CPU seconds (user + system): on a loaded machine the wall time is mostly waiting for a core.
  const rssBefore = process.memoryUsage().rss / 2 ** 20;
  const cpu = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e6;
  };
  let started = performance.now();
  let cpuStarted = cpu();
  const reader = ManifestReader.open(args.out as string);
  const datasets = reader.datasets();
  const input = datasets.map((d) => ({ name: d.name, ids: reader.imageIds(d.name, d.splits[0] ?? 'train'), lut: reader.lut(d.name) }));
  const samplerSeconds = (performance.now() - started) / 1000;
  const samplerCpu = cpu() - cpuStarted;
  started = performance.now();
  cpuStarted = cpu();
  let n = 0;
  for (const s of reader.samples(args.name as string)) n += s.width > 0 ? 1 : 0;
  const listSeconds = (performance.now() - started) / 1000;
  const listCpu = cpu() - cpuStarted;
  reader.close();
  process.stdout.write(`${JSON.stringify({ samplerSeconds, samplerCpu, listSeconds, listCpu, ids: input.reduce((s, d) => s + d.ids.length, 0), listed: n, rssMiB: peakRssMiB(), startRssMiB: rssBefore })}\n`);
  await flushAndExit(0);
}

const work = args.data ?? mkdtempSync(path.join(os.tmpdir(), 'sentseg-scale-bench-'));
const [W, H] = [args.width, args.height];
const LINKS_PER_SOURCE = 60_000;
const sourcesFor = (links: number) => Math.max(8, Math.ceil(links / LINKS_PER_SOURCE));

/**
 * Source files for the hard links of one set: `count` distinct files written by `write(file, k)`,
 * under work/sources/<kind>-<links> (each set its own, so the sets of several sizes never add up
 * past the per-file link limit).
 */
async function sources(kind: string, links: number, ext: string, write: (file: string, k: number) => Promise<void> | void): Promise<string[]> {
  const count = sourcesFor(links);
  const dir = path.join(work, 'sources', `${kind}-for-${links}`);
  mkdirSync(dir, { recursive: true });
  const files: string[] = [];
  for (let k = 0; k < count; k++) {
    const file = path.join(dir, `${k}${ext}`);
    if (!existsSync(file)) await write(file, k);
    files.push(file);
  }
  return files;
}

/** Hard link number i to a source, rotating so no source gets more than LINKS_PER_SOURCE links in total. */
function link(srcs: string[], i: number, to: string): void {
  try {
    linkSync(srcs[i % srcs.length] as string, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      mkdirSync(path.dirname(to), { recursive: true });
      linkSync(srcs[i % srcs.length] as string, to);
    } else throw err;
  }
}

const CITY_LABEL_IDS = [0, 1, 4, 7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 31, 32, 33];

async function generateCityscapes(root: string, n: number): Promise<void> {
  const rand = seeded(5);
  const images = await sources(`city-image-${W}x${H}`, n, '.png', (f, k) => writeImage(f, W, H, k));
  const masks = await sources(`city-mask-${W}x${H}`, n, '.png', (f) => writeGrayPng(f, W, H, bandMask(W, H, CITY_LABEL_IDS, rand)));
  for (let i = 0; i < n; i++) {
    const city = `c${String(Math.floor(i / 1000)).padStart(4, '0')}`;
    const name = `${city}_${String(i).padStart(7, '0')}_000019`;
    link(images, i, (IMAGE_FILES.cityscapes as (r: string, i: number) => string)(root, i));
    link(masks, i, path.join(root, CITYSCAPES_PATHS.maskDir, 'train', city, `${name}${CITYSCAPES_PATHS.maskSuffix}`));
  }
}

/** A buffered writer of a large text file (the JSON and CSV are never held whole). */
function textWriter(file: string): { write: (s: string) => void; close: () => void } {
  mkdirSync(path.dirname(file), { recursive: true });
  const fd = openSync(file, 'w');
  let parts: string[] = [];
  let size = 0;
  const flush = () => {
    writeSync(fd, parts.join(''));
    parts = [];
    size = 0;
  };
  return {
    write: (s) => {
      parts.push(s);
      size += s.length;
      if (size > 1 << 22) flush();
    },
    close: () => {
      flush();
      closeSync(fd);
    },
  };
}

async function generateObjects365(root: string, n: number): Promise<void> {
  const images = await sources(`o365-image-${W}x${H}`, n, '.jpg', (f, k) => writeImage(f, W, H, k));
  const categories = readTaxonomy('objects365').classes.map((c) => ({ id: c.id, name: c.name }));
  const rand = seeded(6);
  mkdirSync(path.join(root, OBJECTS365_PATHS.annotationsDir), { recursive: true });
  const json = textWriter(path.join(root, OBJECTS365_PATHS.annotationsDir, OBJECTS365_PATHS.json('v2', 'train')));
  json.write('{"info":{"description":"scale bench"},"images":[');
  for (let i = 0; i < n; i++) {
    const file = `${OBJECTS365_PATHS.v2ImageDir}/patch${Math.floor(i / 10_000)}/objects365_v2_${String(i).padStart(8, '0')}.jpg`;
    link(images, i, path.join(root, 'train', file));
    json.write(`${i === 0 ? '' : ','}{"height":${H},"id":${i + 1},"license":5,"width":${W},"file_name":"${file}","url":""}`);
  }
  json.write('],"annotations":[');
  let id = 0;
  for (let i = 0; i < n; i++) {
    const boxes = 5 + Math.floor(rand() * 21);
    for (let k = 0; k < boxes; k++) {
      const x = rand() * W * 0.8;
      const y = rand() * H * 0.8;
      const w = 1 + rand() * W * 0.4;
      const h = 1 + rand() * H * 0.4;
      const cat = (categories[Math.floor(rand() * categories.length)] as { id: number }).id;
      json.write(`${id === 0 ? '' : ','}{"id":${++id},"iscrowd":0,"isfake":0,"area":${(w * h).toFixed(6)},"isreflected":0,"bbox":[${x.toFixed(4)},${y.toFixed(4)},${w.toFixed(4)},${h.toFixed(4)}],"image_id":${i + 1},"category_id":${cat}}`);
    }
  }
  json.write(`],"categories":${JSON.stringify(categories)}}`);
  json.close();
}

async function generateOpenImages(root: string, n: number): Promise<void> {
  const mids = readTaxonomy('openimages').classes.filter((c) => c.code !== undefined && c.target.kind === 'label').map((c) => c.code as string);
  const images = await sources(`oi-image-${W}x${H}`, n, '.jpg', (f, k) => writeImage(f, W, H, 40 + k));
  const [mw, mh] = [Math.floor(W / 2), Math.floor(H / 2)];
  const rand = seeded(7);
  const masks = await sources(`oi-mask-${mw}x${mh}`, 4 * n, '.png', (f) => {
    const mask = new Uint8Array(mw * mh);
    const x0 = Math.floor(rand() * mw * 0.6);
    const y0 = Math.floor(rand() * mh * 0.6);
    for (let y = y0; y < y0 + mh / 3; y++) mask.fill(255, y * mw + x0, y * mw + x0 + Math.floor(mw / 3));
    writeGrayPng(f, mw, mh, mask);
  });
  const csv = textWriter(path.join(root, `train${OPENIMAGES_PATHS.csvSuffix}`));
  csv.write('MaskPath,ImageID,LabelName,BoxID,BoxXMin,BoxXMax,BoxYMin,BoxYMax,PredictedIoU,Clicks\n');
  let m = 0;
  for (let i = 0; i < n; i++) {
    const imageId = (i * 2654435761 % 2 ** 32).toString(16).padStart(8, '0') + String(i).padStart(8, '0');
    link(images, i, path.join(root, 'train', `${imageId}${OPENIMAGES_PATHS.imageExt}`));
    // 2, 3 or 4 masks (2.9 on average, as V6's 2.7M masks on 944k images).
    const count = rand() < 0.1 ? 2 : rand() < 0.8 ? 3 : 4;
    for (let k = 0; k < count; k++) {
      const mid = mids[Math.floor(rand() * mids.length)] as string;
      const boxId = `${k.toString(16).padStart(8, '0')}`;
      const maskPath = `${imageId}_${mid.replace(/\//g, '')}_${boxId}.png`;
      link(masks, m++, path.join(root, OPENIMAGES_PATHS.maskDir, 'train', imageId.charAt(0), maskPath));
      csv.write(`${maskPath},${imageId},${mid},${boxId},0.1,0.5,0.2,0.6,0.80000,"0.2 0.3;0.4 0.5"\n`);
    }
  }
  csv.close();
}

const cocoBase = (i: number) => String(i + 1).padStart(12, '0');

async function generateCocoPanoptic(root: string, n: number): Promise<void> {
  const P = COCO_PANOPTIC_PATHS;
  const categories = readTaxonomy('coco-panoptic').classes.map((c) => c.id);
  const images = await sources(`coco-image-${W}x${H}`, n, '.jpg', (f, k) => writeImage(f, W, H, 60 + k));
  // Every mask holds segments 1 to 4 and unlabelled (0) in bands, in an order of its own: the PNG's RGB is the segment id.
  const masks = await sources(`coco-mask-${W}x${H}`, n, '.png', (f, k) => {
    const rgb = new Uint8Array(W * H * 3);
    for (let y = 0; y < H; y++) {
      const segment = (Math.floor((y * 5) / H) + k) % 5;
      for (let x = 0; x < W; x++) rgb[(y * W + x) * 3] = segment;
    }
    writeRgbPng(f, W, H, rgb);
  });
  const rand = seeded(8);
  const json = textWriter(path.join(root, P.annotationsDir, P.json('train', '2017')));
  json.write('{"info":{"description":"scale bench"},"images":[');
  for (let i = 0; i < n; i++) {
    link(images, i, (IMAGE_FILES['coco-panoptic'] as (r: string, i: number) => string)(root, i));
    link(masks, i, path.join(root, P.annotationsDir, P.maskDir('train', '2017'), `${cocoBase(i)}.png`));
    json.write(`${i === 0 ? '' : ','}{"id":${i + 1},"file_name":"${cocoBase(i)}.jpg","width":${W},"height":${H}}`);
  }
  json.write('],"annotations":[');
  for (let i = 0; i < n; i++) {
    const segments = [1, 2, 3, 4].map((id) => `{"id":${id},"category_id":${categories[Math.floor(rand() * categories.length)] as number},"iscrowd":0,"area":${(W * H) / 5},"bbox":[0,0,${W},${H / 5}]}`);
    json.write(`${i === 0 ? '' : ','}{"image_id":${i + 1},"file_name":"${cocoBase(i)}.png","segments_info":[${segments.join(',')}]}`);
  }
  json.write('],"categories":[]}');
  json.close();
}

const GENERATORS: Record<string, (root: string, n: number) => Promise<void>> = {
  cityscapes: generateCityscapes,
  objects365: generateObjects365,
  openimages: generateOpenImages,
  'coco-panoptic': generateCocoPanoptic,
};

/** Image number i of a generated set, as its generator named it. */
const IMAGE_FILES: Record<string, (root: string, i: number) => string> = {
  cityscapes: (root, i) => {
    const city = `c${String(Math.floor(i / 1000)).padStart(4, '0')}`;
    return path.join(root, CITYSCAPES_PATHS.imageDir, 'train', city, `${city}_${String(i).padStart(7, '0')}_000019${CITYSCAPES_PATHS.imageSuffix}`);
  },
  objects365: (root, i) => path.join(root, 'train', `${OBJECTS365_PATHS.v2ImageDir}/patch${Math.floor(i / 10_000)}/objects365_v2_${String(i).padStart(8, '0')}.jpg`),
  openimages: (root, i) => path.join(root, 'train', `${(i * 2654435761 % 2 ** 32).toString(16).padStart(8, '0') + String(i).padStart(8, '0')}${OPENIMAGES_PATHS.imageExt}`),
  'coco-panoptic': (root, i) => path.join(root, COCO_PANOPTIC_PATHS.imageDir('train', '2017'), `${cocoBase(i)}.jpg`),
};

const execFileAsync = promisify(execFile);
async function child<T>(extra: string[]): Promise<T> {
  const script = fileURLToPath(import.meta.url);
  const flags = extra.includes('merge') || extra.includes('update') ? MERGE_NODE_FLAGS : [];
  const { stdout } = await execFileAsync(process.execPath, [...flags, script, ...extra, '--workers', String(args.workers), `--histograms=${args.histograms}`], { maxBuffer: 1 << 24 });
  return JSON.parse(stdout.trim().split('\n').pop() as string) as T;
}

interface MergeFigures {
  seconds: number;
  images: number;
  problems: number;
  boxes: number;
  masks: number;
  rssMiB: number;
}
interface UpdateFigures {
  seconds: number;
  read: number;
  changed: number;
  rssMiB: number;
}
interface ReadFigures {
  samplerSeconds: number;
  samplerCpu: number;
  listSeconds: number;
  listCpu: number;
  ids: number;
  listed: number;
  rssMiB: number;
  startRssMiB: number;
}

const formats = args.formats.split(',').filter((f) => f !== '');
for (const f of formats) {
  if (GENERATORS[f]) continue;
  process.stderr.write(`error: --formats: unknown format "${f}" (${Object.keys(GENERATORS).join(', ')})\n`);
  // Nothing measured: the temp folder made for the sets goes too.
  if (!args.data) rmSync(work, { recursive: true, force: true });
  await flushAndExit(2);
}
const sizes = [...new Set(args.scale)].sort((a, b) => a - b);
const fmt = (x: number, d = 0) => x.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
console.log(`dataset-tools scale benchmark (${os.cpus().length} cores, load ${os.loadavg()[0]?.toFixed(1)}, node ${process.version}): ${W}×${H} images, histograms ${args.histograms ? 'on' : 'off'}, ${args.workers} workers`);
const rss = new Map<string, { size: number; merge: number; read: number }[]>();
for (const size of sizes) {
  for (const format of formats) {
    const root = path.join(work, `${format}-${size}`);
    const started = performance.now();
    if (!existsSync(path.join(root, '.complete'))) {
      rmSync(root, { recursive: true, force: true });
      await (GENERATORS[format] as (r: string, n: number) => Promise<void>)(root, size);
      writeFileSync(path.join(root, '.complete'), '');
    }
    const genSeconds = (performance.now() - started) / 1000;
    const out = path.join(work, `${format}-${size}.sqlite`);
    const m = await child<MergeFigures>(['--child', 'merge', '--name', format, '--root', root, '--out', out]);
    const r = await child<ReadFigures>(['--child', 'read', '--name', format, '--out', out]);
    const manifestMiB = statSync(out).size / 2 ** 20;
    // --update on the merged manifest: nothing changed, then every 100th image touched: replaced by a
    // copy of itself (the same bytes, a new mtime: read again, the same rows). A copy, not utimes: the
    // images are hard links, and the mtime of one is the mtime of every link to its source.
    const updateArgs = ['--child', 'update', '--name', format, '--root', root, '--out', out];
    const unchanged = await child<UpdateFigures>(updateArgs);
    const imageOf = IMAGE_FILES[format] as (r: string, i: number) => string;
    for (let i = 0; i < size; i += 100) {
      const image = imageOf(root, i);
      copyFileSync(image, `${image}.copy`);
      renameSync(`${image}.copy`, image);
    }
    const touched = await child<UpdateFigures>(updateArgs);
    if (!args.keep) rmSync(out, { force: true });
    const extra = format === 'objects365' ? `, ${fmt(m.boxes / m.seconds)} boxes/s (${fmt(m.boxes)} boxes)` : format === 'openimages' ? `, ${fmt(m.masks / m.seconds)} masks/s (${fmt(m.masks)} masks)` : '';
    console.log(`${format} ${fmt(size)} images (generated in ${fmt(genSeconds, 1)} s):`);
    console.log(`  merge: ${fmt(m.images)} images in ${fmt(m.seconds, 1)} s: ${fmt(m.images / m.seconds)} images/s${extra}; ${m.problems} problems; peak RSS ${fmt(m.rssMiB)} MiB; manifest ${fmt(manifestMiB)} MiB`);
    console.log(`  reader: open + sampler input (${fmt(r.ids)} ids) ${fmt(r.samplerSeconds, 2)} s (${fmt(r.samplerCpu, 2)} s CPU), list ${fmt(r.listed)} samples ${fmt(r.listSeconds, 2)} s (${fmt(r.listCpu, 2)} s CPU); peak RSS ${fmt(r.rssMiB)} MiB (${fmt(r.startRssMiB)} MiB at start)`);
    console.log(
      `  --update: nothing changed ${fmt(unchanged.seconds, 1)} s (${fmt(unchanged.read)} images read), peak RSS ${fmt(unchanged.rssMiB)} MiB; ` +
        `images touched ${fmt(touched.seconds, 1)} s (${fmt(touched.read)} images read, ${fmt(touched.changed)} changed), peak RSS ${fmt(touched.rssMiB)} MiB`,
    );
    rss.set(format, [...(rss.get(format) ?? []), { size, merge: m.rssMiB, read: r.rssMiB }]);
  }
}
if (sizes.length > 1) {
  console.log('peak RSS ratios (each size ÷ the smallest):');
  for (const [format, rows] of rss) {
    const base = rows[0] as { size: number; merge: number; read: number };
    console.log(`  ${format}: ${rows.slice(1).map((r) => `merge ${fmt(r.size)}/${fmt(base.size)} ${(r.merge / base.merge).toFixed(2)}, reader ${(r.read / base.read).toFixed(2)}`).join('; ')}`);
  }
}
if (!args.data && !args.keep) rmSync(work, { recursive: true, force: true });
