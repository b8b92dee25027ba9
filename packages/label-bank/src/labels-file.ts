import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { LabelBankError } from './errors.js';

/** One label as shipped in manifests/labels.json. */
export interface LabelSpec {
  id: number;
  name: string;
  group: string;
  wikipedia: string;
  description: string;
}

export interface LabelsFile {
  groups: string[];
  labels: LabelSpec[];
}

/** manifests/labels.json of this checkout (two levels above the package). */
export function defaultLabelsFile(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  return path.resolve(here, '..', '..', '..', 'manifests', 'labels.json');
}

function fail(file: string, reason: string): never {
  throw new LabelBankError('LABELS_FILE', `${reason}: ${file}`);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Reads and checks a labels file: ids are positions, names unique, every field present. */
export function readLabelsFile(file: string = defaultLabelsFile()): LabelsFile {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    fail(file, `cannot read labels file (${(err as Error).message})`);
  }
  if (!isRecord(raw) || !Array.isArray(raw.labels) || !Array.isArray(raw.groups)) {
    fail(file, 'labels file must be an object with "groups" and "labels" arrays');
  }
  const groups = raw.groups.map(String);
  const seen = new Set<string>();
  const labels = raw.labels.map((entry: unknown, position: number): LabelSpec => {
    if (!isRecord(entry)) fail(file, `label #${position} is not an object`);
    const { id, name, group, wikipedia, description } = entry;
    if (id !== position) fail(file, `label #${position} has id ${String(id)}; ids must equal positions`);
    for (const [key, value] of Object.entries({ name, group, wikipedia, description })) {
      if (typeof value !== 'string' || value.trim() === '') fail(file, `label #${position} has no ${key}`);
    }
    const spec = { id: position, name, group, wikipedia, description } as LabelSpec;
    if (seen.has(spec.name)) fail(file, `label "${spec.name}" appears twice`);
    seen.add(spec.name);
    if (!groups.includes(spec.group)) fail(file, `label "${spec.name}" has unknown group "${spec.group}"`);
    return spec;
  });
  return { groups, labels };
}
