/**
 * The demo's training and evaluation runs as child processes, a few at a time (TensorFlow.js' wasm
 * backend computes on one core, so two runs use a 2-core machine fully). Each job is a JSON file in,
 * a JSON file out, and a log file.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Config values layered over the trainer's defaults (the shape of a --config file). */
export type ConfigValues = Record<string, unknown>;

export interface TrainJob {
  kind: 'train';
  id: string;
  run: string;
  config: ConfigValues;
}

export interface EvalJob {
  kind: 'eval';
  id: string;
  run: string;
  manifest: string;
  labelBank: string;
  targets: { dataset: string; split: string }[];
  shortEdge: number;
}

export type Job = TrainJob | EvalJob;

export interface TrainResult {
  kind: 'train';
  seconds: number;
  steps: number;
  backend: string;
  metrics: { step: number; loss: number; hd: number | null; ld: number | null; wd: number | null; tau: number; lr: number; imagesPerSec: number; stepSeconds: number }[];
}

export interface EvalTargetResult {
  dataset: string;
  split: string;
  miou: number;
  pixelAccuracy: number;
  images: number;
  perClass: { name: string; iou: number | null }[];
  neverPredicted: string[];
}

export interface EvalResult {
  kind: 'eval';
  seconds: number;
  results: EvalTargetResult[];
}

export type JobResult = TrainResult | EvalResult;

const WORKER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'job-worker.js');

/** The job processes running now, so a failed or interrupted demo can stop them. */
const running = new Set<ChildProcess>();

/** Stops every running job (SIGTERM) and resolves once they have all exited. */
export function stopAllJobs(): Promise<void> {
  const exited = [...running].map(
    (child) =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  );
  running.clear();
  return Promise.all(exited).then(() => undefined);
}

/** Runs one job in a child process; its output goes to `<dir>/<id>.log`. */
function runJob(job: Job, dir: string): Promise<JobResult> {
  const jobFile = path.join(dir, `${job.id}.job.json`);
  const resultFile = path.join(dir, `${job.id}.result.json`);
  const logFile = path.join(dir, `${job.id}.log`);
  writeFileSync(jobFile, `${JSON.stringify(job, null, 2)}\n`);
  const log = openSync(logFile, 'w');
  return new Promise<JobResult>((resolve, reject) => {
    const child = fork(WORKER, [jobFile, resultFile], { stdio: ['ignore', log, log, 'ipc'] });
    running.add(child);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      running.delete(child);
      closeSync(log);
      if (code === 0) {
        resolve(JSON.parse(readFileSync(resultFile, 'utf8')) as JobResult);
        return;
      }
      const tail = readFileSync(logFile, 'utf8').trim().split('\n').slice(-5).join('\n');
      reject(new Error(`demo job ${job.id} failed (${signal ?? `exit ${code}`}); see ${logFile}:\n${tail}`));
    });
  });
}

/** Runs jobs `concurrency` at a time, in order of the list; results in the same order. */
export async function runJobs(jobs: Job[], dir: string, concurrency: number, onDone?: (job: Job, result: JobResult, done: number) => void): Promise<JobResult[]> {
  const results: JobResult[] = new Array(jobs.length);
  let next = 0;
  let done = 0;
  const lanes = Array.from({ length: Math.max(1, Math.min(concurrency, jobs.length)) }, async () => {
    while (next < jobs.length) {
      const i = next++;
      const job = jobs[i] as Job;
      const result = await runJob(job, dir);
      results[i] = result;
      done += 1;
      onDone?.(job, result, done);
    }
  });
  await Promise.all(lanes);
  return results;
}
