import path from 'node:path';
import { DatasetError } from './errors.js';
import { detectFormat, formatByName, FORMATS } from './formats/index.js';
import { ManifestWriter, type MergeOptions, type MergeSummary } from './manifest/writer.js';
import { readLabelNames } from './taxonomy.js';

/** One --dataset NAME=PATH, with its format (named, or detected) and variant. */
export interface DatasetSpec {
  name: string;
  root: string;
  format?: string;
  variant?: string;
  /** A taxonomy file replacing the format's built-in one. */
  taxonomy?: string;
}

/** Parses NAME=PATH pairs plus optional NAME=FORMAT, NAME=VARIANT and NAME=TAXONOMY-FILE pairs. */
export function parseDatasetSpecs(datasets: string[], formats: string[] = [], variants: string[] = [], taxonomies: string[] = []): DatasetSpec[] {
  const pairs = (values: string[], what: string) =>
    new Map(
      values.map((v) => {
        const at = v.indexOf('=');
        if (at <= 0 || at === v.length - 1) throw new DatasetError('BAD_ARGUMENT', `${what} must be NAME=VALUE, not "${v}"`);
        return [v.slice(0, at), v.slice(at + 1)] as [string, string];
      }),
    );
  const roots = pairs(datasets, '--dataset');
  const fmt = pairs(formats, '--format');
  const variant = pairs(variants, '--variant');
  const taxonomy = pairs(taxonomies, '--taxonomy');
  for (const name of [...fmt.keys(), ...variant.keys(), ...taxonomy.keys()]) {
    if (!roots.has(name)) throw new DatasetError('BAD_ARGUMENT', `--format/--variant/--taxonomy name "${name}" has no --dataset ${name}=PATH`);
  }
  if (roots.size !== datasets.length) throw new DatasetError('BAD_ARGUMENT', 'a dataset name is given twice');
  return [...roots].map(([name, root]) => {
    const file = taxonomy.get(name);
    return { name, root: path.resolve(root), format: fmt.get(name), variant: variant.get(name), ...(file ? { taxonomy: path.resolve(file) } : {}) };
  });
}

export interface MergeRun {
  summaries: MergeSummary[];
  skipped: { dataset: string; reason: string }[];
}

/**
 * merge-datasets: reads each dataset and writes it into the manifest, one transaction per dataset.
 * Datasets already in the manifest are kept unless named in `replace`.
 */
export async function mergeDatasets(
  out: string,
  specs: DatasetSpec[],
  options: MergeOptions & { splits?: string[]; replace?: string[] } = {},
): Promise<MergeRun> {
  const labels = readLabelNames();
  // Resolve every format before writing anything, so a bad folder fails fast.
  const resolved = specs.map((spec) => {
    const adapter = spec.format ? formatByName(spec.format) : FORMATS.find((f) => f.name === spec.name && f.detect(spec.root)) ?? detectFormat(spec.root);
    return { spec, adapter };
  });
  const writer = ManifestWriter.open(out, labels);
  const run: MergeRun = { summaries: [], skipped: [] };
  try {
    for (const { spec, adapter } of resolved) {
      if (writer.hasDataset(spec.name) && !(options.replace ?? []).includes(spec.name)) {
        run.skipped.push({ dataset: spec.name, reason: `already in the manifest; --replace ${spec.name} to redo it` });
        continue;
      }
      const opened = adapter.open(spec.root, { labels, splits: options.splits, variant: spec.variant, taxonomyFile: spec.taxonomy });
      run.summaries.push(await writer.addDataset(spec.name, spec.root, opened, options));
    }
    writer.close();
  } catch (err) {
    // Datasets committed before the failure are kept; a new manifest with none is not left behind.
    if (run.summaries.length > 0) writer.close();
    else writer.abandon();
    throw err;
  }
  return run;
}
