/**
 * label-bank import: label embeddings computed elsewhere stored as one more encoder of the bank,
 * so the trainer uses them like any other (`--encoder NAME`). Rows come in the order of a names
 * file; every vector is L2-normalised on import; nothing is written unless all of it is right.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { LabelBankError } from '../errors.js';
import { labelText, type LabelBank, type LabelRow } from '../store/bank.js';
import { listEncoders } from '../store/encoder-names.js';
import { wordOnlyText, type TextKind } from '../text.js';
import { readVectorFile } from './read-vectors.js';

export const IMPORT_PREFIX = 'import';

export interface ImportOptions {
  /** The name the encoder is known by (its id: import:NAME@<sha256 of file and names, 16 hex>). */
  encoder: string;
  file: string;
  /** One label name per line, in row order. */
  names: string;
  /** Add names the bank lacks as new labels (else they are listed and the import refused). */
  addMissing?: boolean;
  /** Which texts of a label the vectors stand for (default both: usable with either labelText). */
  as?: 'both' | TextKind;
  /** safetensors: the tensor to read when the file holds several. */
  tensor?: string;
  /** Accept a dimension other than that of the bank's other encoders. */
  allowOtherDim?: boolean;
}

export interface ImportResult {
  modelId: string;
  rows: number;
  dim: number;
  dtype: 'float16' | 'float32';
  /** Labels that got a vector. */
  labels: number;
  /** Names added as new labels (--add-missing). */
  added: string[];
  /** Names matched only after case and underscores were normalised ("traffic_light" → "traffic light"). */
  normalised: { name: string; label: string }[];
  /** The bank's labels left without a vector of this encoder. */
  without: number;
}

const normal = (name: string) => name.toLowerCase().replace(/_/g, ' ').replace(/\s+/g, ' ').trim();

function readNames(file: string): string[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new LabelBankError('BAD_ARGUMENT', `cannot read the names file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const lines = text.replace(/\r\n/g, '\n').replace(/\n+$/, '').split('\n').map((l) => l.trim());
  const blank = lines.findIndex((l) => l === '');
  if (blank >= 0) throw new LabelBankError('BAD_ARGUMENT', `${file}: line ${blank + 1} is empty; one label name per line, in row order`);
  const seen = new Map<string, number>();
  lines.forEach((name, i) => {
    const first = seen.get(name);
    if (first !== undefined) throw new LabelBankError('BAD_ARGUMENT', `${file}: "${name}" is on lines ${first + 1} and ${i + 1}`);
    seen.set(name, i);
  });
  return lines;
}

function shortList(names: string[], max = 20): string {
  return names.length > max ? `${names.slice(0, max).join(', ')} and ${names.length - max} more` : names.join(', ');
}

export function importEmbeddings(bank: LabelBank, options: ImportOptions): ImportResult {
  const name = options.encoder;
  if (!/^[A-Za-z0-9][\w.+-]*$/.test(name)) {
    throw new LabelBankError('BAD_ARGUMENT', `--encoder "${name}": a name of letters, digits and . _ + - (e.g. open-clip-vit-h14), without : / @`);
  }
  const matrix = readVectorFile(options.file, { tensor: options.tensor });
  const names = readNames(options.names);
  if (names.length !== matrix.rows) {
    throw new LabelBankError('BAD_ARGUMENT', `${options.file} has ${matrix.rows} rows and ${options.names} ${names.length} names; one name per row, in order`);
  }
  if (matrix.dim < 2) throw new LabelBankError('BAD_ARGUMENT', `${options.file}: rows of ${matrix.dim} number(s) are no embeddings`);
  // Normalised on import; a row that cannot be (zero, NaN, infinite) is refused by its name.
  const broken: string[] = [];
  for (let r = 0; r < matrix.rows; r++) {
    const row = matrix.data.subarray(r * matrix.dim, (r + 1) * matrix.dim);
    let norm = 0;
    for (const v of row) norm += v * v;
    norm = Math.sqrt(norm);
    if (!(norm > 0) || !Number.isFinite(norm)) broken.push(names[r] as string);
    else for (let i = 0; i < row.length; i++) row[i] = (row[i] as number) / norm;
  }
  if (broken.length > 0) throw new LabelBankError('BAD_ARGUMENT', `${options.file}: the rows of ${shortList(broken)} are zero or not finite`);

  const labels = bank.labels();
  const byName = new Map(labels.map((l) => [l.name, l]));
  const byNormal = new Map<string, LabelRow[]>();
  for (const l of labels) byNormal.set(normal(l.name), [...(byNormal.get(normal(l.name)) ?? []), l]);
  const matched: (LabelRow | undefined)[] = [];
  const normalised: { name: string; label: string }[] = [];
  const unknown: string[] = [];
  for (const n of names) {
    const exact = byName.get(n);
    const loose = byNormal.get(normal(n));
    const found = exact ?? (loose?.length === 1 ? loose[0] : undefined);
    if (found && !exact) normalised.push({ name: n, label: found.name });
    if (!found) unknown.push(n);
    matched.push(found);
  }
  if (unknown.length > 0 && !options.addMissing) {
    throw new LabelBankError('UNKNOWN_LABEL', `${unknown.length} of ${names.length} names in ${options.names} are not labels of ${bank.file}: ${shortList(unknown)}; add them as new labels with --add-missing, or leave their rows out`);
  }
  const taken = new Set<number>();
  matched.forEach((l, i) => {
    if (!l) return;
    if (taken.has(l.id)) throw new LabelBankError('BAD_ARGUMENT', `${options.names}: two names (one is "${names[i]}") are the same label "${l.name}"`);
    taken.add(l.id);
  });

  const digest = createHash('sha256').update(readFileSync(options.file)).update('\0').update(names.join('\n')).digest('hex').slice(0, 16);
  const modelId = `${IMPORT_PREFIX}:${name}@${digest}`;
  const location = `${IMPORT_PREFIX}:${name}`;
  const models = bank.models();
  const sameName = models.find((m) => m.location === location && m.modelId !== modelId);
  if (sameName) {
    throw new LabelBankError('BAD_ARGUMENT', `${bank.file} already holds other vectors named "${name}" (${sameName.modelId}); import these under another --encoder name`);
  }
  const others = models.filter((m) => m.modelId !== modelId && m.dim !== matrix.dim);
  if (others.length > 0 && !options.allowOtherDim) {
    throw new LabelBankError(
      'BAD_ARGUMENT',
      `${options.file} holds ${matrix.dim}-d vectors; the bank's other encoders are ${listEncoders(others)} at ${[...new Set(others.map((m) => `${m.dim}-d`))].join(', ')}: ` +
        'a wrong file or a transposed array? (--allow-other-dim imports them all the same)',
    );
  }

  const kinds: TextKind[] = options.as === undefined || options.as === 'both' ? ['sentence', 'word'] : [options.as];
  const added: string[] = [];
  bank.atomically(() => {
    const rows = matched.map((l, i) => {
      if (l) return l;
      const n = names[i] as string;
      added.push(n);
      return bank.addLabel({ name: n, group: 'imported', description: wordOnlyText(n), source: 'manual' });
    });
    bank.registerModel(modelId, location, matrix.dim);
    bank.putEmbeddings(
      modelId,
      rows.flatMap((label, r) => kinds.map((kind) => ({ text: labelText(label, kind), vector: matrix.data.slice(r * matrix.dim, (r + 1) * matrix.dim) }))),
    );
  });
  return {
    modelId,
    rows: matrix.rows,
    dim: matrix.dim,
    dtype: matrix.dtype,
    labels: matrix.rows,
    added,
    normalised,
    without: bank.labels().length - matrix.rows,
  };
}
