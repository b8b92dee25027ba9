/**
 * Named tensors to and from the TensorFlow.js weights format: a JSON file whose
 * `weightsManifest` lists names, shapes and dtypes, and one binary shard with the values.
 * Written to temporary files and renamed, so a file is either whole or absent.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { writeAtomic } from '@sentseg/common';
import { tf, type Tensor } from '../tf.js';

export interface WeightsFile {
  format: string;
  generatedBy: string;
  /** Whatever describes the tensors' owner (model config, optimizer config). */
  modelTopology: unknown;
  weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
  /** Extra fields the caller stores beside the weights. */
  userDefinedMetadata?: Record<string, unknown>;
}

/** Writes `<dir>/<stem>.json` and `<dir>/<stem>.bin`. */
export async function saveWeights(dir: string, stem: string, tensors: Map<string, Tensor>, topology: unknown, metadata?: Record<string, unknown>): Promise<void> {
  const named = [...tensors.entries()].map(([name, tensor]) => ({ name, tensor }));
  const { data, specs } = await tf.io.encodeWeights(named);
  writeAtomic(path.join(dir, `${stem}.bin`), new Uint8Array(data));
  const json: WeightsFile = {
    format: 'sentseg',
    generatedBy: `TensorFlow.js ${tf.version.tfjs}`,
    modelTopology: topology,
    weightsManifest: [{ paths: [`${stem}.bin`], weights: specs }],
    ...(metadata ? { userDefinedMetadata: metadata } : {}),
  };
  writeAtomic(path.join(dir, `${stem}.json`), JSON.stringify(json, null, 1));
}

/** Reads what saveWeights wrote; tensors are new (the caller disposes them). */
export function loadWeights(dir: string, stem: string): { file: WeightsFile; tensors: Map<string, Tensor> } {
  const jsonPath = path.join(dir, `${stem}.json`);
  let file: WeightsFile;
  try {
    file = JSON.parse(readFileSync(jsonPath, 'utf8')) as WeightsFile;
  } catch (err) {
    throw new Error(`cannot read weights manifest ${jsonPath}: ${(err as Error).message}`);
  }
  const tensors = new Map<string, Tensor>();
  for (const group of file.weightsManifest) {
    const buffers = group.paths.map((p) => readFileSync(path.join(dir, p)));
    const joined = Buffer.concat(buffers);
    const expected = group.weights.reduce((s, w) => s + w.shape.reduce((a, b) => a * b, 1) * 4, 0);
    if (joined.byteLength !== expected) throw new Error(`weights shard ${group.paths.join(', ')} in ${dir} holds ${joined.byteLength} bytes, its manifest says ${expected}`);
    const arrayBuffer = joined.buffer.slice(joined.byteOffset, joined.byteOffset + joined.byteLength);
    const decoded = tf.io.decodeWeights(arrayBuffer, group.weights);
    for (const [name, t] of Object.entries(decoded)) tensors.set(name, t);
  }
  return { file, tensors };
}
