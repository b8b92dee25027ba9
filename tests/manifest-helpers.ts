import Database from 'better-sqlite3';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { MANIFESTS, SHARED } from './utils.js';

export const SAMPLES = path.join(SHARED, 'datasets', 'mseg-api-samples');

const labels = (JSON.parse(readFileSync(path.join(MANIFESTS, 'labels.json'), 'utf8')) as { labels: { name: string }[] }).labels.map((l) => l.name);

/** source id → label id straight from a taxonomy JSON (independent of the code under test); null = no label. */
export function taxonomyTable(dataset: string, shift = 0): Map<number, number | null> {
  const t = JSON.parse(readFileSync(path.join(MANIFESTS, 'taxonomy', `${dataset}.json`), 'utf8')) as { classes: { id: number; label: string }[] };
  return new Map(t.classes.map((c) => [c.id + shift, labels.includes(c.label) ? labels.indexOf(c.label) : null]));
}

/** Expected image_labels of one image: mask value counts pushed through a taxonomy table. */
export function expectedLabels(counts: Map<number, number>, table: Map<number, number | null>): [number, number][] {
  const out = new Map<number, number>();
  for (const [value, pixels] of counts) {
    const label = table.get(value);
    if (label !== undefined && label !== null) out.set(label, (out.get(label) ?? 0) + pixels);
  }
  return [...out].sort((a, b) => a[0] - b[0]);
}

/** Every table of a manifest as rows, minus timestamps, for byte-level comparisons. */
export function dumpManifest(file: string): Record<string, unknown[]> {
  const db = new Database(file, { readonly: true });
  const tables = db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`).pluck().all() as string[];
  const out: Record<string, unknown[]> = {};
  for (const t of tables) {
    const rows = db.prepare(`SELECT * FROM ${t} ORDER BY rowid`).all() as Record<string, unknown>[];
    out[t] = rows
      .filter((r) => !(t === 'meta' && String(r.key).endsWith('_at')))
      .map((r) => {
        const { added_at: _added, ...rest } = r;
        return rest;
      });
  }
  db.close();
  return out;
}

/**
 * Every table of a manifest as sets of rows (each table's rows sorted), minus timestamps and the
 * surrogate ids of boxes and instance masks: what two manifests hold, whatever order their rows were
 * written in. merge-datasets --update leaves an unchanged image's rows where they are and appends
 * the re-read ones, so its manifest holds what a fresh merge holds, not in the same row order.
 */
export function manifestContent(file: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [table, rows] of Object.entries(dumpManifest(file))) {
    out[table] = rows
      .map((r) => {
        const { id: _id, ...rest } = r as Record<string, unknown>;
        return JSON.stringify(table === 'boxes' || table === 'instance_masks' ? rest : r);
      })
      .sort();
  }
  return out;
}
