import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** ../shared beside the checkout (packages/cli/dist/demo → repo root → its parent), or $SENTSEG_SHARED. */
export function defaultSharedDir(): string {
  return process.env.SENTSEG_SHARED ?? path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..', '..', 'shared');
}
