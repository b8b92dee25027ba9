/**
 * A reference of real text-encoder outputs for some labels, read from JSON: the form of
 * ../shared/models/clip-vit-b32-anchors/sentseg-labels-word.json (OpenAI CLIP ViT-B/32's "a {name}"
 * vectors, published by Detic), which `report --reference` and `check-encoder` compare against:
 *
 *   { "prompt": "a {name}", "model": "...", "labels": { "<label>": { "source_name": "...", "vector": [512 numbers] }, ... } }
 *
 * `source_name` is the name the vector was computed from (Detic's spelling: "trash_can", "Stapler");
 * the label itself when absent. Every problem is one LabelBankError naming the file and the reason.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { LabelBankError } from '../errors.js';

export const DEFAULT_REFERENCE_PROMPT = 'a {name}';

export interface ReferenceEmbeddings {
  file: string;
  /** The text each vector encodes, with {name} for the name ("a {name}"). */
  prompt: string;
  /** What the file says made the vectors (free text), or null. */
  model: string | null;
  /** Label names, in the file's order. */
  names: string[];
  /** The exact text behind each vector: the prompt around its source name ("a trash_can"). */
  texts: string[];
  dim: number;
  /** names.length × dim, row-major, each row L2-normalised. */
  vectors: Float32Array;
}

const SHAPE = '{"prompt": "a {name}", "labels": {"<label>": {"vector": [numbers], "source_name": "..."}}}';

const bad = (file: string, reason: string) => new LabelBankError('BAD_REFERENCE', `reference file ${file}: ${reason}`);

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Reads and checks a reference file; its vectors are L2-normalised here. */
export function readReferenceFile(file: string): ReferenceEmbeddings {
  if (!existsSync(file)) throw bad(file, 'does not exist');
  if (!statSync(file).isFile()) throw bad(file, 'is not a file');
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw bad(file, `is not JSON (${(err as Error).message.replace(/\s+/g, ' ').trim()})`);
  }
  if (!isRecord(parsed) || !isRecord(parsed.labels)) throw bad(file, `has no "labels" object; expected ${SHAPE}`);
  const prompt = parsed.prompt ?? DEFAULT_REFERENCE_PROMPT;
  if (typeof prompt !== 'string' || !prompt.includes('{name}')) throw bad(file, `"prompt" must be a string holding {name}, got ${JSON.stringify(prompt)}`);
  const entries = Object.entries(parsed.labels);
  if (entries.length === 0) throw bad(file, 'holds no labels');
  const names: string[] = [];
  const texts: string[] = [];
  const rows: number[][] = [];
  let first: string | undefined;
  for (const [name, entry] of entries) {
    const vector = isRecord(entry) ? entry.vector : undefined;
    if (!Array.isArray(vector) || vector.length === 0 || !vector.every((x) => typeof x === 'number' && Number.isFinite(x))) {
      throw bad(file, `label "${name}" has no "vector" of finite numbers; expected ${SHAPE}`);
    }
    if (first !== undefined && vector.length !== (rows[0] as number[]).length) {
      throw bad(file, `dimension mismatch: "${name}" has a ${vector.length}-number vector, "${first}" ${(rows[0] as number[]).length}`);
    }
    if (!vector.some((x) => x !== 0)) throw bad(file, `label "${name}" has an all-zero vector`);
    const source = isRecord(entry) && typeof entry.source_name === 'string' && entry.source_name.trim() !== '' ? entry.source_name : name;
    first ??= name;
    names.push(name);
    texts.push(prompt.replaceAll('{name}', source));
    rows.push(vector as number[]);
  }
  const dim = (rows[0] as number[]).length;
  const vectors = new Float32Array(rows.length * dim);
  rows.forEach((row, r) => {
    const norm = Math.sqrt(row.reduce((s, x) => s + x * x, 0));
    for (let k = 0; k < dim; k++) vectors[r * dim + k] = (row[k] as number) / norm;
  });
  return { file, prompt, model: typeof parsed.model === 'string' ? parsed.model : null, names, texts, dim, vectors };
}

/** The model's name as a title says it: the file's "model" up to its first comma ("OpenAI CLIP ViT-B/32"), else the file's name. */
export function referenceModelName(reference: ReferenceEmbeddings): string {
  const short = reference.model?.split(',')[0]?.trim();
  return short ? short : path.basename(reference.file);
}

/** The reference row of each name (labels the reference lacks are left out). */
export function referenceRows(reference: ReferenceEmbeddings): Map<string, number> {
  return new Map(reference.names.map((n, i) => [n, i]));
}
