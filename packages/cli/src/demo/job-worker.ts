/** Child-process entry of a demo job: node job-worker.js JOB.json RESULT.json */
import { flushAndExit } from '@sentseg/common';
import { readFileSync, writeFileSync } from 'node:fs';
import { evaluate, resolveConfig, selectBackend, train } from '@sentseg/trainer';
import type { EvalResult, Job, TrainResult } from './jobs.js';

async function main(): Promise<void> {
  const [jobFile, resultFile] = process.argv.slice(2);
  if (!jobFile || !resultFile) throw new Error('usage: job-worker JOB.json RESULT.json');
  const job = JSON.parse(readFileSync(jobFile, 'utf8')) as Job;
  const started = performance.now();
  if (job.kind === 'train') {
    const config = resolveConfig([{ where: jobFile, values: job.config }]);
    const summary = await train({ config, run: job.run, progress: false, log: (line) => process.stdout.write(`${line}\n`) });
    const result: TrainResult = {
      kind: 'train',
      seconds: (performance.now() - started) / 1000,
      steps: summary.endStep,
      backend: summary.backend.name,
      metrics: summary.metrics.map((m) => ({ step: m.step, loss: m.loss, hd: m.hd, ld: m.ld, wd: m.wd, tau: m.tau, lr: m.lr, imagesPerSec: m.imagesPerSec, stepSeconds: m.stepSeconds })),
    };
    writeFileSync(resultFile, `${JSON.stringify(result)}\n`);
    return;
  }
  const backend = await selectBackend('auto');
  process.stdout.write(`backend: ${backend.name}\n`);
  const results: EvalResult['results'] = [];
  for (const target of job.targets) {
    const report = await evaluate({
      run: job.run,
      manifest: job.manifest,
      labelBank: job.labelBank,
      dataset: target.dataset,
      split: target.split,
      infer: { scales: [job.shortEdge], flip: false },
      missingLabels: 'never-predicted',
    });
    process.stdout.write(`${target.dataset}/${target.split}: mIoU ${(report.miou * 100).toFixed(2)} over ${report.images} images\n`);
    results.push({
      dataset: target.dataset,
      split: target.split,
      miou: report.miou,
      pixelAccuracy: report.pixelAccuracy,
      images: report.images,
      perClass: report.classes.map((c, i) => ({ name: c.name, iou: report.iou[i] ?? null })),
      neverPredicted: report.neverPredicted,
    });
  }
  writeFileSync(resultFile, `${JSON.stringify({ kind: 'eval', seconds: (performance.now() - started) / 1000, results } satisfies EvalResult)}\n`);
}

// A failed job ends through flushAndExit: its stack must reach the log before the process goes
// (a bare exitCode would leave the process waiting on the backend's worker threads).
main().catch(async (err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  await flushAndExit(1);
});
