/** The manifest command's subcommands (stats, validate, problems), for the manifest bin and `sentseg manifest`. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { integerOption, plural } from '@sentseg/common';
import os from 'node:os';
import path from 'node:path';
import type { Argv } from 'yargs';
import { DatasetError } from '../errors.js';
import { coverageHtml } from '../manifest/coverage-html.js';
import { ManifestReader } from '../manifest/reader.js';
import { manifestStats } from '../manifest/stats.js';
import { validateManifest } from '../manifest/validate.js';
import { imageCounter } from '../image-counter.js';

const out = (line = ''): void => void process.stdout.write(`${line}\n`);

/** A manifest opened for one command and closed whatever happens (a handle left open leaves -wal/-shm files). */
async function withManifest<T>(file: string, use: (reader: ManifestReader) => T | Promise<T>): Promise<T> {
  const reader = ManifestReader.open(file);
  try {
    return await use(reader);
  } finally {
    reader.close();
  }
}

/** Where a problem row's file is: rows store paths relative to the dataset root, or absolute ones. */
function problemPath(p: { dataset: string; file: string }, roots: Map<string, string>): string {
  const root = roots.get(p.dataset);
  return root === undefined || path.isAbsolute(p.file) ? p.file : path.join(root, p.file);
}

/** One problem row as a line: "dataset: /absolute/file: reason". */
export function problemLine(p: { dataset: string; file: string; reason: string }, roots: Map<string, string>): string {
  return `${p.dataset}: ${problemPath(p, roots)}: ${p.reason}`;
}

const rootsOf = (reader: ManifestReader) => new Map(reader.datasets().map((d) => [d.name, d.root]));

const manifestPositional = (y: Argv) => y.positional('manifest', { type: 'string', demandOption: true, describe: 'the manifest file (written by merge-datasets)' });

/** `manifest stats`, `manifest validate` and `manifest problems` (the manifest bin, or `sentseg manifest`). */
export function manifestCommands(y: Argv): Argv {
  return y
    .command(
      'stats <manifest>',
      'Per dataset: images, splits and problems. Per label: pixel share and the datasets that have it. Then the label × dataset coverage table.',
      (y) =>
        manifestPositional(y)
          .option('html', { type: 'string', describe: 'also write a page with the coverage matrix as a picture' })
          .option('json', { type: 'boolean', default: false, describe: 'print the statistics as JSON' }),
      async (args) => {
        const stats = await withManifest(String(args.manifest), manifestStats);
        if (args.html) {
          mkdirSync(path.dirname(path.resolve(args.html)), { recursive: true });
          writeFileSync(args.html, coverageHtml(stats, String(args.manifest)));
        }
        if (args.json) {
          out(JSON.stringify(stats, null, 2));
          return;
        }
        out('dataset            format          images  problems  splits');
        for (const d of stats.datasets) {
          out(`${d.name.padEnd(18)} ${d.format.padEnd(14)} ${String(d.images).padStart(7)} ${String(d.problems).padStart(9)}  ${Object.entries(d.splits).map(([s, n]) => `${s} ${n}`).join(', ')}`);
        }
        out();
        out(`labels present: ${stats.labels.length}`);
        out('label                    share     datasets');
        for (const l of [...stats.labels].sort((a, b) => b.pixels - a.pixels)) out(`${l.name.padEnd(24)} ${(100 * l.share).toFixed(3).padStart(7)}%  ${l.datasets.length} (${l.datasets.join(', ')})`);
        out();
        out('coverage (pixels per label and dataset):');
        out(['label'.padEnd(22), ...stats.datasets.map((d) => d.name.slice(0, 12).padStart(12))].join(' '));
        for (const row of stats.coverage.filter((r) => r.pixels.some((p) => p > 0))) out([row.label.slice(0, 22).padEnd(22), ...row.pixels.map((p) => String(p).padStart(12))].join(' '));
        if (stats.datasets.some((d) => d.problems > 0)) out(`\nmanifest problems ${args.manifest} lists the problems`);
        if (args.html) out(`wrote ${args.html}`);
      },
    )
    .command(
      'validate <manifest>',
      'Checks the manifest against the files on disk: every path exists, every mask matches its image size, every mask id is in the taxonomy. Also lists the problems the merge recorded. Exit 2 when it finds a problem on disk.',
      (y) =>
        manifestPositional(y)
          .option('workers', { coerce: integerOption('workers', 0), requiresArg: true, default: os.cpus().length, defaultDescription: 'one per core', describe: 'worker threads decoding masks (0 = none)' })
          .option('json', { type: 'boolean', default: false, describe: 'print the report as JSON ({checked, problems, recorded})' }),
      async (args) => {
        const file = String(args.manifest);
        const { report, roots } = await withManifest(file, async (reader) => {
          const bar = imageCounter('validate', !args.json);
          try {
            return { report: await validateManifest(reader, { workers: args.workers, onProgress: (n) => bar.update(n) }), roots: rootsOf(reader) };
          } finally {
            bar.stop();
          }
        });
        if (args.json) out(JSON.stringify(report, null, 2));
        else {
          if (report.recorded.length > 0) {
            out(`recorded when merging (${plural(report.recorded.length, 'problem')}, files skipped or suspect):`);
            for (const p of report.recorded) out(`  ${problemLine(p, roots)}`);
          }
          if (report.problems.length > 0) out(`found now (${plural(report.problems.length, 'problem')}):`);
          for (const p of report.problems) out(`  ${p.dataset}: ${p.file}: ${p.reason}`);
          out(`${plural(report.checked, 'image')} checked, ${plural(report.problems.length, 'problem')} found now; ${report.recorded.length.toLocaleString('en-US')} recorded when merging`);
        }
        if (report.problems.length > 0) throw new DatasetError('PROBLEMS', `${file}: ${plural(report.problems.length, 'problem')} found on disk (listed above)`);
      },
    )
    .command(
      'problems <manifest>',
      'Lists the problem rows the merge recorded: every file it skipped or found suspect, with the reason.',
      (y) =>
        manifestPositional(y)
          .option('dataset', { type: 'string', describe: 'only the problems of this dataset' })
          .option('json', { type: 'boolean', default: false, describe: 'print the rows as a JSON array of {dataset, file, path, reason}' }),
      async (args) => {
        const file = String(args.manifest);
        const { rows, roots } = await withManifest(file, (reader) => {
          if (args.dataset !== undefined) reader.dataset(args.dataset);
          return { rows: reader.problems(args.dataset), roots: rootsOf(reader) };
        });
        if (args.json) {
          out(JSON.stringify(rows.map((p) => ({ ...p, path: problemPath(p, roots) })), null, 2));
          return;
        }
        for (const p of rows) out(problemLine(p, roots));
        out(rows.length === 0 ? `no problems recorded in ${file}${args.dataset ? ` for ${args.dataset}` : ''}` : `${plural(rows.length, 'problem')} in ${plural(new Set(rows.map((p) => `${p.dataset}\0${p.file}`)).size, 'file')}`);
      },
    );
}
