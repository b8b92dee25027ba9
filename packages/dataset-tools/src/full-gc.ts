/**
 * A full garbage collection when node exposes gc() (bin/merge-datasets.js and `sentseg
 * merge-datasets` start it with --expose-gc: node-flags.mjs); a no-op otherwise. Long loops call it
 * every so many items: V8 otherwise lets the old generation fill with what the small young
 * generation promoted, up to a limit it raises as it goes (RSS +20 MB between 10k and 100k images
 * with 7 MB live). A collection of that heap takes a few ms.
 */
const gc = (globalThis as { gc?: () => void }).gc;

export function fullGc(): void {
  gc?.();
}
