// What every test shares: the repository's and the shared data's folders, and temp folders that
// are removed after a file's tests.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll } from 'vitest';

/** The repository root. */
export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** The shipped data contract: labels.json and taxonomy/<dataset>.json. */
export const MANIFESTS = path.join(REPO, 'manifests');
/** The shared data (models, datasets, paper lists): ../shared beside the checkout, or $SENTSEG_SHARED. */
export const SHARED = process.env.SENTSEG_SHARED ?? path.resolve(REPO, '..', 'shared');
export const TOKENIZER_JSON = path.join(SHARED, 'models', 'clip-tokenizer', 'tokenizer.json');
export const PAPER_LABELS = path.join(SHARED, 'paper', 'labels-238.txt');
export const HAS_TOKENIZER = existsSync(TOKENIZER_JSON);

if (!HAS_TOKENIZER) {
  console.warn(`[sentseg tests] ${TOKENIZER_JSON} is absent: tests that need the real CLIP tokenizer are skipped (put ../shared beside the checkout or set SENTSEG_SHARED)`);
}

/** A temp folder removed after the file's tests. */
export function tempDir(prefix = 'sentseg-test-'): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
