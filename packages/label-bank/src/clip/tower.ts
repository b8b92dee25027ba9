/**
 * What the CLIP text and vision towers share: where a name loads from (a local folder in
 * transformers.js layout, or a hub id downloaded once into the model cache), the model id a cache
 * keys on (`local:<folder name>@<sha>`, `hf:ORG/NAME@REVISION#<sha>`, sha = 16 hex of the weights'
 * sha256, streamed), loading with remote models off, and L2 normalisation.
 */
import { env } from '@huggingface/transformers';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import path from 'node:path';
import { hubIdOf, hubIdText, resolveHubModel, type HubId, type HubModelKind, type HubOptions } from '../encoder/hub.js';

/** Where a tower named by a folder path or a hub id `ORG/NAME[@REVISION]` is loaded from. */
export interface TowerSource {
  folder: string;
  hubId: HubId | null;
  /** What a bank records as the location: the folder, or `ORG/NAME@REVISION`. */
  location: string;
}

/** A local folder path (as opposed to a hub id such as Xenova/clip-vit-base-patch32). */
function looksLikePath(model: string): boolean {
  return model.startsWith('.') || model.startsWith('/') || model.startsWith('~') || existsSync(model) || /\\/.test(model) || model.split('/').length > 2;
}

/** The folder a tower loads from; a hub id is downloaded into the model cache first (hub.ts). */
export async function resolveTower(model: string, kind: HubModelKind, hub?: HubOptions): Promise<TowerSource> {
  const hubId = looksLikePath(model) ? null : hubIdOf(model);
  if (!hubId) {
    const folder = path.resolve(model);
    return { folder, hubId: null, location: folder };
  }
  return { folder: await resolveHubModel(hubId, kind, hub), hubId, location: hubIdText(hubId) };
}

/** sha256 of a file, hex, read as a stream (weights files run to hundreds of MB). */
export async function fileSha256(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** The cache key of a tower: its source and the first 16 hex of its weights' sha256. */
export async function towerModelId(source: TowerSource, weightsFile: string): Promise<string> {
  const sha = (await fileSha256(weightsFile)).slice(0, 16);
  return source.hubId ? `hf:${hubIdText(source.hubId)}#${sha}` : `local:${path.basename(source.folder)}@${sha}`;
}

/** Runs a transformers.js load with remote models off (everything is local by then), restoring the setting after. */
export async function loadLocally<T>(load: () => Promise<T>): Promise<T> {
  const previous = env.allowRemoteModels;
  env.allowRemoteModels = false;
  try {
    return await load();
  } finally {
    env.allowRemoteModels = previous;
  }
}

/** Divides a vector by its L2 norm in place; returns the norm (a zero or non-finite norm leaves it as it is). */
export function l2Normalise(vec: Float32Array): number {
  let norm = 0;
  for (const v of vec) norm += v * v;
  norm = Math.sqrt(norm);
  if (norm > 0 && Number.isFinite(norm)) for (let i = 0; i < vec.length; i++) vec[i] = (vec[i] as number) / norm;
  return norm;
}
