import type { ManifestReader } from './reader.js';

export interface ManifestStats {
  datasets: { name: string; format: string; images: number; splits: Record<string, number>; problems: number }[];
  /** Every label present somewhere: its share of all labelled pixels and the datasets that have it. */
  labels: { id: number; name: string; pixels: number; share: number; datasets: string[] }[];
  /** label × dataset pixel counts (rows: labels, columns: datasets, in the order above). */
  coverage: { label: string; pixels: number[] }[];
}

/** Per-dataset counts, per-label pixel shares and the label × dataset coverage table of a manifest. */
export function manifestStats(reader: ManifestReader): ManifestStats {
  const names = reader.datasets().map((d) => d.name);
  const datasets = reader.datasets().map((d) => ({ name: d.name, format: d.format, images: d.images, splits: reader.splitCounts(d.name), problems: reader.problemCount(d.name).rows }));
  const rows = reader.labelPixelsByDataset();
  const total = rows.reduce((s, r) => s + r.pixels, 0);
  const byLabel = new Map<number, { id: number; name: string; pixels: number; perDataset: Map<string, number> }>();
  for (const r of rows) {
    const entry = byLabel.get(r.id) ?? { id: r.id, name: r.name, pixels: 0, perDataset: new Map<string, number>() };
    entry.pixels += r.pixels;
    entry.perDataset.set(r.dataset, r.pixels);
    byLabel.set(r.id, entry);
  }
  const labels = [...byLabel.values()].map((e) => ({ id: e.id, name: e.name, pixels: e.pixels, share: total > 0 ? e.pixels / total : 0, datasets: names.filter((n) => e.perDataset.has(n)) }));
  const coverage = reader.labels().map((l) => ({ label: l.name, pixels: names.map((n) => byLabel.get(l.id)?.perDataset.get(n) ?? 0) }));
  return { datasets, labels, coverage };
}
