import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Argv } from 'yargs';
import { coverageHtml } from './manifest/coverage-html.js';
import { ManifestReader } from './manifest/reader.js';
import { manifestStats } from './manifest/stats.js';
import { validateManifest } from './manifest/validate.js';
import { counterBar } from './run-cli.js';

const out = (line = ""): void => void process.stdout.write(`${line}\n`);

/** `manifest stats` and `manifest validate` (the manifest bin, or `sentseg manifest`). */
export function manifestCommands(y: Argv): Argv {
  return y
    .command(
      'stats <manifest>',
      'per dataset images/splits/problems, per label pixel share and dataset count, the label × dataset coverage',
      (y) =>
        y
          .positional('manifest', { type: 'string', demandOption: true })
          .option('html', { type: 'string', describe: 'also write a page with the coverage matrix as a picture' })
          .option('json', { type: 'boolean', default: false }),
      (args) => {
        const reader = ManifestReader.open(String(args.manifest));
        const stats = manifestStats(reader);
        reader.close();
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
        if (args.html) out(`wrote ${args.html}`);
      },
    )
    .command(
      'validate <manifest>',
      'check every path exists, every mask matches its image size, every mask id is in the taxonomy; exit 1 on any problem',
      (y) =>
        y
          .positional('manifest', { type: 'string', demandOption: true })
          .option('workers', { type: 'number', default: os.cpus().length })
          .option('json', { type: 'boolean', default: false }),
      async (args) => {
        const reader = ManifestReader.open(String(args.manifest));
        const bar = args.json ? { update: () => undefined, stop: () => undefined } : counterBar('validate');
        const report = await validateManifest(reader, { workers: args.workers, onProgress: (n) => bar.update(n, '') });
        bar.stop();
        reader.close();
        if (args.json) out(JSON.stringify(report, null, 2));
        else {
          for (const p of report.problems) out(`${p.dataset}: ${p.file}: ${p.reason}`);
          out(`${report.checked} images checked, ${report.problems.length} problems`);
        }
        if (report.problems.length > 0) process.exit(1);
      },
    );
}
