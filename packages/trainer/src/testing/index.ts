/**
 * `@sentseg/trainer/testing`: what the end-to-end tests read the trainer's files with, not product
 * API. The box-embedding cache as training reads it (the PyTorch bridge's parity tests compare its
 * targets with the bridge's), and the key of a box in it.
 */
export { BoxEmbeddingCache, boxKey, BOX_CACHE_SCHEMA_VERSION } from '../boxes/clip-boxes.js';
