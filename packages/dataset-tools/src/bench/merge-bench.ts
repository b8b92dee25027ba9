/**
 * dataset-tools benchmark. Generates a Cityscapes-layout set and a COCO-panoptic-layout set
 * (default 2,000 images each at 512×256), then prints: images/s metadata-only, images/s with
 * histograms, the bare decode time of the same masks, a worker thread's start (to its first
 * histogram), rows/s into SQLite, and peak RSS of a
 * merge at 1,000 vs 2,000 images (each in its own process).
 *   node packages/dataset-tools/dist/bench/merge-bench.js [--images 2000] [--keep DIR]
 */
import { flushAndExit } from '@sentseg/common';
import Database from 'better-sqlite3';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PNG } from 'pngjs';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { InspectPool } from '../manifest/pool.js';
import { ManifestReader } from '../manifest/reader.js';
import { readMaskValues } from '../mask-decoders.js';
import { readMaskBytes } from '../mask-values.js';
import { MANIFEST_SQL } from '../manifest/schema.js';
import { mergeDatasets, parseDatasetSpecs } from '../merge.js';
import { writeCityscapes, writeCocoPanoptic } from '../testing/index.js';

const args = await yargs(hideBin(process.argv))
  .option('images', { type: 'number', default: 2000 })
  .option('width', { type: 'number', default: 512 })
  .option('height', { type: 'number', default: 256 })
  .option('workers', { type: 'number', default: os.cpus().length })
  .option('data', { type: 'string', describe: 'reuse/generate the sets here (default: a temp folder, removed)' })
  .option('child', { type: 'string', describe: 'internal: run one merge and print peak RSS' })
  .option('limit', { type: 'number' })
  .strict()
  .parseAsync();

if (args.child) {
  // Child mode: one merge, then the peak RSS of this process.
  const [name, root] = args.child.split('=') as [string, string];
  const out = path.join(path.dirname(root), `rss-${args.limit}.sqlite`);
  rmSync(out, { force: true });
  await mergeDatasets(out, parseDatasetSpecs([`${name}=${root}`]), { workers: args.workers, limit: args.limit });
  // VmHWM is this process's own peak (getrusage's maxRSS keeps the parent's peak across exec on Linux).
  const hwm = existsSync('/proc/self/status') ? /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] : undefined;
  process.stdout.write(`${hwm ?? process.resourceUsage().maxRSS}\n`);
  await flushAndExit(0);
}

const work = args.data ?? mkdtempSync(path.join(os.tmpdir(), 'sentseg-merge-bench-'));
const size: [number, number] = [args.width, args.height];
const n = args.images;
const cityRoot = path.join(work, 'cityscapes');
const cocoRoot = path.join(work, 'coco');
const t0 = performance.now();
if (!existsSync(cityRoot)) await writeCityscapes(cityRoot, { train: n }, size, 1);
if (!existsSync(cocoRoot)) await writeCocoPanoptic(cocoRoot, { train: n }, size, 2);
const genSeconds = (performance.now() - t0) / 1000;

async function timedMerge(name: string, root: string, histograms: boolean, workers: number): Promise<{ seconds: number; rows: number }> {
  const out = path.join(work, `${name}-${histograms}-${workers}.sqlite`);
  rmSync(out, { force: true });
  const started = performance.now();
  await mergeDatasets(out, parseDatasetSpecs([`${name}=${root}`]), { histograms, workers });
  const seconds = (performance.now() - started) / 1000;
  const db = new Database(out, { readonly: true });
  const rows = ['images', 'image_labels', 'segments', 'dataset_classes'].reduce((s, t) => s + (db.prepare(`SELECT COUNT(*) FROM ${t}`).pluck().get() as number), 0);
  db.close();
  return { seconds, rows };
}

/**
 * Decoding every mask once, on one thread, doing nothing else: with the decoder the merge uses
 * (readMaskValues), and with pngjs (a general PNG decoder, to RGBA) for reference.
 */
function bareDecode(root: string, encoding: 'gray' | 'panoptic-rgb'): { ours: number; pngjs: number } {
  const reader = ManifestReader.open(path.join(work, `${path.basename(root)}-false-0.sqlite`));
  const masks = [...reader.samples(reader.datasets()[0]!.name)].map((s) => s.mask as string);
  reader.close();
  const time = (decode: (file: string) => number) => {
    const started = performance.now();
    let sink = 0;
    for (const m of masks) sink += decode(m);
    if (sink === 0) throw new Error('nothing decoded');
    return (performance.now() - started) / 1000;
  };
  const ours = (m: string) => (encoding === 'gray' ? (readMaskBytes(m)?.bytes.length ?? readMaskValues(m, encoding).values.length) : readMaskValues(m, encoding).values.length);
  return { ours: time(ours), pngjs: time((m) => PNG.sync.read(readFileSync(m)).data.length) };
}

/**
 * A worker thread's start: from creating a one-worker pool to the histogram of the set's first mask
 * (what each merge with workers pays once per worker before the workers take any load).
 */
async function workerStartSeconds(root: string, encoding: 'gray' | 'panoptic-rgb'): Promise<number> {
  const reader = ManifestReader.open(path.join(work, `${path.basename(root)}-false-0.sqlite`));
  const first = reader.samples(reader.datasets()[0]!.name).next().value;
  const segments = first ? [...reader.segments(first.id)] : [];
  reader.close();
  if (!first?.mask) throw new Error('no sample to start a worker on');
  const started = performance.now();
  const pool = new InspectPool(1);
  const result = await pool.run({ image: first.image, mask: first.mask, encoding: { kind: encoding }, segments, histogram: true });
  const seconds = (performance.now() - started) / 1000;
  await pool.close();
  if (!result.ok) throw new Error(`worker start: ${result.reason}`);
  return seconds;
}

/** Raw insert speed into the manifest schema: image rows with 8 image_labels rows each, one transaction. */
function insertRowsPerSecond(images = 25_000): number {
  const file = path.join(work, 'rows.sqlite');
  rmSync(file, { force: true });
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.exec(MANIFEST_SQL);
  db.prepare(`INSERT INTO datasets VALUES ('d', 'generic', '1', NULL, '/', 'dense', 'hd', 'gray', '[]', '')`).run();
  const label = db.prepare(`INSERT INTO labels (id, name, origin) VALUES (?, ?, 'bench')`);
  for (let l = 0; l < 8; l++) label.run(l, `label ${l}`);
  const image = db.prepare(`INSERT INTO images (id, dataset, split, image_path, mask_path, width, height) VALUES (?, 'd', 'train', ?, ?, 512, 256)`);
  const insert = db.prepare(`INSERT INTO image_labels (image_id, label_id, pixels) VALUES (?, ?, ?)`);
  const rows = images * 9;
  const started = performance.now();
  db.transaction(() => {
    for (let i = 0; i < images; i++) {
      image.run(i * 7919, `images/${i}.png`, `masks/${i}.png`);
      for (let l = 0; l < 8; l++) insert.run(i * 7919, l, 1000 + i);
    }
  })();
  const seconds = (performance.now() - started) / 1000;
  db.close();
  return rows / seconds;
}

function childRss(name: string, root: string, limit: number): number {
  const script = fileURLToPath(import.meta.url);
  const out = execFileSync(process.execPath, [script, '--child', `${name}=${root}`, '--limit', String(limit), '--workers', String(args.workers)], { encoding: 'utf8' });
  return Number(out.trim().split('\n').pop()) / 1024;
}

const fmt = (x: number, d = 0) => x.toFixed(d);
console.log(`dataset-tools merge benchmark (${os.cpus().length} cores, node ${process.version}), ${n} images per set at ${size[0]}×${size[1]}`);
console.log(`generated the sets in ${fmt(genSeconds, 1)} s${args.data ? ` (in ${work})` : ''}`);
for (const [name, root] of [['cityscapes', cityRoot], ['coco', cocoRoot]] as const) {
  const meta = await timedMerge(name, root, false, 0);
  // Every mask read once first, so neither the merges nor the bare decode pay for a cold page cache.
  bareDecode(root, name === 'coco' ? 'panoptic-rgb' : 'gray');
  const histInline = await timedMerge(name, root, true, 0);
  const histWorkers = await timedMerge(name, root, true, args.workers);
  const decode = bareDecode(root, name === 'coco' ? 'panoptic-rgb' : 'gray');
  console.log(`${name}:`);
  console.log(`  metadata-only:                 ${fmt(n / meta.seconds)} images/s (${fmt(meta.seconds, 2)} s)`);
  console.log(`  histograms, 1 thread:          ${fmt(n / histInline.seconds)} images/s (${fmt(histInline.seconds, 2)} s)`);
  console.log(`  histograms, ${args.workers} worker threads:  ${fmt(n / histWorkers.seconds)} images/s (${fmt(histWorkers.seconds, 2)} s)`);
  console.log(`  bare decode of the same masks, 1 thread: ${fmt(decode.ours, 2)} s with the merge's decoder (${fmt(decode.pngjs, 2)} s with pngjs)`);
  console.log(`  worker thread start (pool created → first mask's histogram): ${fmt((await workerStartSeconds(root, name === 'coco' ? 'panoptic-rgb' : 'gray')) * 1000)} ms`);
  console.log(`  histograms ÷ bare decode: ${fmt(histInline.seconds / decode.ours, 2)}× (1 thread), ${fmt(histWorkers.seconds / decode.ours, 2)}× (${args.workers} workers)`);
  console.log(`  rows written: ${histWorkers.rows} (${fmt(histWorkers.rows / histWorkers.seconds)} rows/s within the merge)`);
  console.log(`  peak RSS of a merge: ${fmt(childRss(name, root, Math.floor(n / 2)))} MiB at ${Math.floor(n / 2)} images, ${fmt(childRss(name, root, n))} MiB at ${n} images`);
}
console.log(`SQLite insert into the manifest schema (1 images + 8 image_labels rows per image, one transaction): ${fmt(insertRowsPerSecond())} rows/s`);
if (!args.data) rmSync(work, { recursive: true, force: true });
