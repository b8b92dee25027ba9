/**
 * What the demo writes into its --out folder, and the checks made before it writes anything. The
 * folder may hold other files: only these are replaced, and a demo that fails or is interrupted
 * removes what it wrote so far, so no half-made report is left to be mistaken for a result.
 */
import { existsSync, readdirSync, rmdirSync, rmSync, statSync } from 'node:fs';
import { partialPath, removeWithSidecars } from '@sentseg/dataset-tools';
import path from 'node:path';
import { DemoError } from './errors.js';

const DEMO_FOLDERS = ['world', 'runs', 'jobs', 'assets', 'predict', 'label-report', 'tiny-clip-text'];
const DEMO_SQLITE = ['manifest-a.sqlite', 'manifest-abc.sqlite', 'manifest-eval.sqlite', 'manifest.sqlite', 'label-bank.sqlite'];
const DEMO_FILES = ['report.html', 'report.json'];

/** Refuses, before any work, an output path that is a file, a shared folder without what the demo needs, a missing --model folder. */
export function checkDemoInputs(out: string, shared: string, model: string | undefined): void {
  if (existsSync(out) && !statSync(out).isDirectory()) throw new DemoError(`--out ${out} is a file: the demo writes a folder (name a new or existing folder)`);
  if (model !== undefined && !existsSync(model)) throw new DemoError(`--model ${path.resolve(model)} does not exist (a CLIP text tower folder in transformers.js layout)`);
  if (model === undefined && !existsSync(path.join(shared, 'models'))) {
    throw new DemoError(`--shared ${path.resolve(shared)} has no models/ folder (the CLIP tokenizer is read from it): put ../shared beside the checkout, set SENTSEG_SHARED, or pass --shared or --model`);
  }
}

/** Removes every file the demo writes (none else); the folder itself too when that leaves it empty and `removeEmptyFolder`. */
export function removeDemoOutput(out: string, removeEmptyFolder = false): void {
  for (const sub of DEMO_FOLDERS) rmSync(path.join(out, sub), { recursive: true, force: true });
  for (const f of DEMO_FILES) rmSync(path.join(out, f), { force: true });
  // Each SQLite file with its sidecars, and the temporary manifest of a merge stopped mid-way.
  for (const f of DEMO_SQLITE) for (const file of [path.join(out, f), partialPath(path.join(out, f))]) removeWithSidecars(file);
  if (removeEmptyFolder && existsSync(out) && readdirSync(out).length === 0) rmdirSync(out);
}
