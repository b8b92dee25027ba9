// label-bank import on real CLIP ViT-B/32 outputs: Detic's published "a {name}" vectors (float16
// .npy with a names file, ../shared/models/clip-vit-b32-anchors), checked against the same vectors
// in sentseg-labels-word.json; the same rows as float32 JSON, .npy and safetensors import alike.
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { BIN, runCli } from '../../../tests/run-cli.js';
import { halfToFloat, readVectorFile } from '../src/import/read-vectors.js';
import { importEmbeddings } from '../src/import/import-embeddings.js';
import { LabelBank } from '../src/store/bank.js';
import { MANIFESTS, SHARED, tempDir } from '../../../tests/utils.js';

const ANCHORS = path.join(SHARED, 'models', 'clip-vit-b32-anchors');
const COCO_NPY = path.join(ANCHORS, 'coco_clip_a+cname.npy');
const COCO_NAMES = path.join(ANCHORS, 'coco_clip_a+cname.names.txt');
const WORD_JSON = path.join(ANCHORS, 'sentseg-labels-word.json');
const HAS_ANCHORS = existsSync(COCO_NPY) && existsSync(WORD_JSON);
if (!HAS_ANCHORS) console.warn(`[sentseg tests] ${ANCHORS} is absent: the import tests on real CLIP outputs are skipped`);

const dir = tempDir('sentseg-import-');
const sha = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');
const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((s, x, i) => s + x * (b[i] as number), 0);

/** A float32 .npy (format 1.0, C order) of rows × dim, written the way NumPy writes one. */
function writeNpyF32(file: string, rows: number, dim: number, data: Float32Array): void {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${rows}, ${dim}), }`;
  header += ' '.repeat(64 - ((10 + header.length + 1) % 64)) + '\n';
  const head = Buffer.alloc(10);
  head.write('\x93NUMPY', 0, 'latin1');
  head[6] = 1;
  head[7] = 0;
  head.writeUInt16LE(header.length, 8);
  writeFileSync(file, Buffer.concat([head, Buffer.from(header, 'latin1'), Buffer.from(data.buffer, data.byteOffset, data.byteLength)]));
}

function writeSafetensorsF32(file: string, rows: number, dim: number, data: Float32Array): void {
  const header = Buffer.from(JSON.stringify({ __metadata__: { format: 'pt' }, embeddings: { dtype: 'F32', shape: [rows, dim], data_offsets: [0, data.byteLength] } }));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(header.length));
  writeFileSync(file, Buffer.concat([len, header, Buffer.from(data.buffer, data.byteOffset, data.byteLength)]));
}

describe('reading vectors', () => {
  it('decodes float16 by IEEE 754', () => {
    expect(halfToFloat(0x3c00)).toBe(1);
    expect(halfToFloat(0xc000)).toBe(-2);
    expect(halfToFloat(0x3555)).toBeCloseTo(0.33325, 5);
    expect(halfToFloat(0x0001)).toBe(2 ** -24);
    expect(halfToFloat(0x7c00)).toBe(Infinity);
  });
});

describe.runIf(HAS_ANCHORS)('label-bank import on real CLIP ViT-B/32 outputs', () => {
  const reference = JSON.parse(readFileSync(WORD_JSON, 'utf8')) as { labels: Record<string, { source_name: string; vector: number[] }> };
  const labelNames = new Set((JSON.parse(readFileSync(path.join(MANIFESTS, 'labels.json'), 'utf8')) as { labels: { name: string }[] }).labels.map((l) => l.name));
  const cocoNames = readFileSync(COCO_NAMES, 'utf8').trim().split('\n');
  const unknown = cocoNames.filter((n) => !labelNames.has(n));
  let bankFile = '';
  beforeAll(() => {
    bankFile = path.join(dir, 'bank.sqlite');
    LabelBank.open(bankFile).close();
  });

  it('reads Detic\'s float16 .npy: 80 × 512, rows of norm about 1', () => {
    const m = readVectorFile(COCO_NPY);
    expect([m.rows, m.dim, m.dtype]).toEqual([80, 512, 'float16']);
    const row = m.data.subarray(0, 512);
    expect(Math.sqrt(dot(row, row))).toBeGreaterThan(0.95);
  });

  it('refuses names that are not labels, listing them, and leaves the bank byte-identical', async () => {
    expect(unknown.length).toBeGreaterThan(0);
    const before = sha(bankFile);
    const run = await runCli(BIN.labelBank, ['import', '--encoder', 'detic-coco', '--file', COCO_NPY, '--names', COCO_NAMES, '--bank', bankFile], { cwd: dir });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`${unknown.length} of 80 names in ${COCO_NAMES} are not labels of ${bankFile}: ${unknown.join(', ')}; add them as new labels with --add-missing`);
    expect(sha(bankFile)).toBe(before);
  }, 60_000);

  it('imports with --add-missing: normalised vectors equal to the published ones, usable by name', async () => {
    const run = await runCli(BIN.labelBank, ['import', '--encoder', 'detic-coco', '--file', COCO_NPY, '--names', COCO_NAMES, '--add-missing', '--bank', bankFile], { cwd: dir });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^encoder import:detic-coco@[0-9a-f]{16}: 80 rows of 512 \(float16\), L2-normalised$/m);
    expect(run.stdout).toContain(`80 labels got a vector, ${unknown.length} of them added as new labels; ${238 + unknown.length - 80} labels of the bank have none`);
    const bank = LabelBank.open(bankFile, { readonly: true });
    try {
      const model = bank.resolveModel('detic-coco');
      expect(model.dim).toBe(512);
      const labels = ['car', 'person', 'bus', ...unknown].map((n) => bank.requireLabel(n));
      for (const kind of ['word', 'sentence'] as const) {
        const m = bank.embeddingMatrix(kind, 'detic-coco', labels);
        for (const [i, name] of ['car', 'person', 'bus'].entries()) {
          const v = m.data.subarray(i * 512, (i + 1) * 512);
          expect(dot(v, v)).toBeCloseTo(1, 5);
          const ref = reference.labels[name]?.vector as number[];
          expect(dot(v, ref) / Math.sqrt(dot(ref, ref))).toBeGreaterThan(0.9999);
        }
      }
      expect(bank.requireLabel('hair drier')).toMatchObject({ group: 'imported', origin: 'added' });
    } finally {
      bank.close();
    }
    // Again: the same id, nothing new.
    const again = await runCli(BIN.labelBank, ['import', '--encoder', 'detic-coco', '--file', COCO_NPY, '--names', COCO_NAMES, '--bank', bankFile, '--json'], { cwd: dir });
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ rows: 80, added: [] });
    // It holds vectors, not a model: embedding new text with it says so.
    const embed = await runCli(BIN.labelBank, ['embed', '--model', 'detic-coco', '--bank', bankFile], { cwd: dir });
    expect(embed.code).toBe(2);
    expect(embed.stderr).toContain('holds vectors imported with label-bank import: it cannot encode new texts');
  }, 60_000);

  it('float32 .npy, JSON and safetensors of the same rows import to the same vectors', () => {
    const m = readVectorFile(COCO_NPY);
    const rows = 20;
    const picked = cocoNames.map((n, i) => ({ n, i })).filter(({ n }) => labelNames.has(n)).slice(0, rows);
    const data = new Float32Array(rows * 512);
    picked.forEach(({ i }, r) => data.set(m.data.subarray(i * 512, (i + 1) * 512), r * 512));
    const names = path.join(dir, 'names20.txt');
    writeFileSync(names, `${picked.map((p) => p.n).join('\n')}\n`);
    writeNpyF32(path.join(dir, 'v.npy'), rows, 512, data);
    writeFileSync(path.join(dir, 'v.json'), JSON.stringify(Array.from({ length: rows }, (_, r) => Array.from(data.subarray(r * 512, (r + 1) * 512)))));
    writeSafetensorsF32(path.join(dir, 'v.safetensors'), rows, 512, data);
    const file = path.join(dir, 'formats.sqlite');
    copyFileSync(bankFile, file);
    const bank = LabelBank.open(file);
    try {
      const ids = ['npy', 'json', 'safetensors'].map((ext) => {
        const r = importEmbeddings(bank, { encoder: `f32-${ext}`, file: path.join(dir, `v.${ext}`), names });
        expect([r.rows, r.dim, r.dtype]).toEqual([rows, 512, 'float32']);
        return r.modelId;
      });
      const labels = picked.map((p) => bank.requireLabel(p.n));
      const [a, b, c, d] = [...ids, 'detic-coco'].map((id) => Array.from(bank.embeddingMatrix('word', id, labels).data));
      expect(b).toEqual(a);
      expect(c).toEqual(a);
      for (let i = 0; i < (a as number[]).length; i++) expect((a as number[])[i]).toBeCloseTo((d as number[])[i] as number, 6);
    } finally {
      bank.close();
    }
  });

  it('refuses a wrong dimension, a row count that is not the name count, and a taken name, writing nothing', () => {
    const file = path.join(dir, 'refusals.sqlite');
    copyFileSync(bankFile, file);
    const before = sha(file);
    const names = path.join(dir, 'two.txt');
    writeFileSync(names, 'car\nbus\n');
    writeFileSync(path.join(dir, 'small.json'), JSON.stringify([[1, 0, 0, 0], [0, 1, 0, 0]]));
    writeFileSync(path.join(dir, 'three.json'), JSON.stringify([[1, 0], [0, 1], [1, 1]]));
    const bank = LabelBank.open(file);
    try {
      expect(() => importEmbeddings(bank, { encoder: 'small', file: path.join(dir, 'small.json'), names })).toThrow(
        /small\.json holds 4-d vectors; the bank's other encoders are import:detic-coco@[0-9a-f]{16} \(import:detic-coco\) at 512-d: a wrong file or a transposed array\?/,
      );
      expect(() => importEmbeddings(bank, { encoder: 'three', file: path.join(dir, 'three.json'), names })).toThrow(/three\.json has 3 rows and .*two\.txt 2 names/);
      expect(() => importEmbeddings(bank, { encoder: 'detic-coco', file: path.join(dir, 'small.json'), names, allowOtherDim: true })).toThrow(/already holds other vectors named "detic-coco" \(import:detic-coco@[0-9a-f]{16}\); import these under another --encoder name/);
    } finally {
      bank.close();
    }
    expect(sha(file)).toBe(before);
  });
});
