// The node flags a merge runs under, for every launcher that runs one (bin/merge-datasets.js, and
// the umbrella `sentseg merge-datasets`): peak RSS flat with the number of images. A young
// generation of 2 × 1 MB (V8 otherwise grows it to 32 MB over the first ~30,000 images: everything
// that outlives a scavenge counts towards growing it), and gc() for the merge to collect the old
// generation every 10,000 images and every 50,000 streamed annotation rows (src/full-gc.ts).
export const MERGE_NODE_FLAGS = ['--max-semi-space-size=1', '--expose-gc'];
