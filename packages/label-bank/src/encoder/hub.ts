/**
 * Hub ids (`ORG/NAME[@REVISION]`): downloaded through @huggingface/transformers into a user cache,
 * then loaded from there like any local folder. transformers.js is told where the hub is
 * (env.remoteHost from HF_ENDPOINT), how to fetch (env.fetch: HF_TOKEN for the endpoint, a timeout
 * on silence) and where to store (the cache_dir option, a staging folder inside our cache). The
 * files move into `<cache>/<ORG>/<NAME>/<REVISION>/` only once every one of them has arrived, so the
 * cache never holds half a model; a cached model is used without asking the network again.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, rmdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LabelBankError } from '../errors.js';

/** The environment variable that overrides the model cache folder (as --cache-dir does). */
export const MODEL_CACHE_ENV = 'SENTSEG_MODEL_CACHE';
export const DEFAULT_HF_ENDPOINT = 'https://huggingface.co';
/** Seconds without a byte from the hub before a download is given up. */
export const DEFAULT_HUB_TIMEOUT_S = 30;

export interface HubId {
  repo: string;
  revision: string;
}

/** `ORG/NAME` or `ORG/NAME@REVISION` (the Hugging Face form), or null. */
export function parseHubId(model: string): HubId | null {
  const m = /^([A-Za-z0-9][\w.-]*)\/([A-Za-z0-9][\w.-]*)(?:@([\w.][\w./-]*))?$/.exec(model);
  if (!m) return null;
  return { repo: `${m[1]}/${m[2]}`, revision: m[3] ?? 'main' };
}

/**
 * The hub id `value` names, or null when it names a path: something that exists (relative to
 * `base`), starts with . / ~, or has more than one slash, is a path; else ORG/NAME[@REVISION] is a hub id.
 */
export function hubIdOf(value: string, base = process.cwd()): HubId | null {
  if (/^[.~/]/.test(value) || value.includes('\\') || existsSync(path.resolve(base, value))) return null;
  return parseHubId(value);
}

export const hubIdText = (id: HubId): string => `${id.repo}@${id.revision}`;

/** --cache-dir, else $SENTSEG_MODEL_CACHE, else $XDG_CACHE_HOME/sentseg/models, else ~/.cache/sentseg/models. */
export function modelCacheDir(explicit?: string): string {
  if (explicit) return path.resolve(explicit);
  const fromEnv = process.env[MODEL_CACHE_ENV];
  if (fromEnv) return path.resolve(fromEnv);
  const xdg = process.env.XDG_CACHE_HOME;
  return path.join(xdg && path.isAbsolute(xdg) ? xdg : path.join(os.homedir(), '.cache'), 'sentseg', 'models');
}

/** HF_ENDPOINT (the variable huggingface_hub users set for a mirror), else huggingface.co. */
export function hubEndpoint(): string {
  return (process.env.HF_ENDPOINT || DEFAULT_HF_ENDPOINT).replace(/\/+$/, '');
}

export interface DownloadProgress {
  repo: string;
  file: string;
  status: 'start' | 'progress' | 'done';
  loaded: number;
  total: number;
}

export interface HubOptions {
  /** Model cache folder (default: modelCacheDir()). */
  cacheDir?: string;
  /** Never use the network: the model must be in the cache. HF_HUB_OFFLINE=1 does the same. */
  offline?: boolean;
  /** Milliseconds without a byte from the hub before a request is given up. */
  timeoutMs?: number;
  onProgress?: (p: DownloadProgress) => void;
  /** The hub's address (default: hubEndpoint(), i.e. HF_ENDPOINT or huggingface.co). */
  endpoint?: string;
  /** Bearer token for gated or private models (default: HF_TOKEN). */
  token?: string;
}

/** Which files make a model of each kind, and how transformers.js loads (so downloads) it. */
export type HubModelKind = 'text' | 'vision';

const REQUIRED: Record<HubModelKind, string[]> = {
  text: ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'onnx/text_model.onnx'],
  vision: ['config.json', 'preprocessor_config.json', 'onnx/vision_model.onnx'],
};

/** The cache folder of one revision of a hub model. */
export function hubModelFolder(id: HubId, cacheDir: string): string {
  return path.join(cacheDir, ...id.repo.split('/'), encodeURIComponent(id.revision));
}

const missingFiles = (folder: string, kind: HubModelKind) => REQUIRED[kind].filter((f) => !existsSync(path.join(folder, f)));

class HubTimeout extends Error {
  constructor(url: string, ms: number) {
    super(`no answer from ${url} for ${ms / 1000} s`);
    this.name = 'HubTimeout';
  }
}

/**
 * fetch for transformers.js: HF_TOKEN sent to the configured endpoint (transformers.js sends it only
 * to huggingface.co), and every request cancelled after `timeoutMs` without a byte (headers or body).
 */
export function hubFetch(endpoint: string, token: string | undefined, timeoutMs: number): typeof fetch {
  return async (input, init) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const headers = new Headers(init?.headers);
    if (token && url.startsWith(`${endpoint}/`) && !headers.has('Authorization')) headers.set('Authorization', `Bearer ${token}`);
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => controller.abort(new HubTimeout(url, timeoutMs)), timeoutMs);
      timer.unref();
    };
    arm();
    let res: Response;
    try {
      res = await fetch(url, { ...init, headers, signal: controller.signal });
    } catch (err) {
      clearTimeout(timer);
      throw controller.signal.aborted ? controller.signal.reason : err;
    }
    if (res.status !== 200 || !res.body) {
      clearTimeout(timer);
      return res;
    }
    const body = res.body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, c) {
          arm();
          c.enqueue(chunk);
        },
        flush() {
          clearTimeout(timer);
        },
      }),
    );
    return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
  };
}

/** The reason of a failed download in a user's words (a network error, a timeout, a 404). */
function downloadReason(err: unknown, endpoint: string): { reason: string; network: boolean } {
  let e: unknown = err;
  for (let i = 0; i < 4 && e instanceof Error; i++) {
    if (e instanceof HubTimeout) return { reason: e.message, network: true };
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^(ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|UND_ERR_\w+)$/.test(code)) {
      return { reason: `cannot reach ${endpoint} (${code})`, network: true };
    }
    e = e.cause;
  }
  const message = err instanceof Error ? err.message : String(err);
  if (message === 'fetch failed') return { reason: `cannot reach ${endpoint}`, network: true };
  const status = (err as { status?: unknown }).status;
  const url = /: "([^"]+)"/.exec(message)?.[1] ?? 'the hub';
  if (status === 404) return { reason: `${url} answered 404: no such model, revision or file on ${endpoint}`, network: false };
  if (status === 401 || status === 403) return { reason: `${url} answered ${status}: a gated or private model needs HF_TOKEN (with access granted on the hub)`, network: false };
  return { reason: message, network: false };
}

/** Downloads the files of one model kind into `staging` through transformers.js' own loaders. */
async function downloadThroughTransformers(id: HubId, kind: HubModelKind, staging: string, onProgress?: (p: DownloadProgress) => void): Promise<void> {
  const tf = await import('@huggingface/transformers');
  const progress_callback = (data: { status: string; file?: string; loaded?: number; total?: number }) => {
    if (!onProgress || !data.file) return;
    const status = data.status === 'initiate' ? 'start' : data.status === 'progress' ? 'progress' : data.status === 'done' ? 'done' : null;
    if (status) onProgress({ repo: id.repo, file: data.file, status, loaded: data.loaded ?? 0, total: data.total ?? 0 });
  };
  const options = { revision: id.revision, cache_dir: staging, progress_callback };
  // config.json first: a model id or revision the hub does not have fails here, as a 404, and not
  // later in a loader that takes its missing optional files for an empty tokenizer.
  await tf.AutoConfig.from_pretrained(id.repo, options);
  if (kind === 'text') {
    await tf.AutoTokenizer.from_pretrained(id.repo, options);
    const model = await tf.CLIPTextModelWithProjection.from_pretrained(id.repo, { ...options, dtype: 'fp32', device: 'cpu' });
    await model.dispose();
  } else {
    await tf.AutoProcessor.from_pretrained(id.repo, options);
    const model = await tf.CLIPVisionModelWithProjection.from_pretrained(id.repo, { ...options, dtype: 'fp32', device: 'cpu' });
    await model.dispose();
  }
}

/**
 * The local folder of a hub model, downloaded into the cache when it is not there yet. A model in
 * the cache is used without the network; one that is not needs it (an error says so with --offline).
 */
export async function resolveHubModel(id: HubId, kind: HubModelKind, options: HubOptions = {}): Promise<string> {
  const cacheDir = modelCacheDir(options.cacheDir);
  const folder = hubModelFolder(id, cacheDir);
  if (missingFiles(folder, kind).length === 0) return folder;
  const offline = options.offline === true || /^(1|true|yes|on)$/i.test(process.env.HF_HUB_OFFLINE ?? '');
  if (offline) {
    throw new LabelBankError('MODEL_MISSING', `${hubIdText(id)} is not in the model cache ${cacheDir} and the network is off (--offline or HF_HUB_OFFLINE): run once with a network to download it`);
  }
  const endpoint = options.endpoint?.replace(/\/+$/, '') ?? hubEndpoint();
  const timeoutMs = options.timeoutMs ?? DEFAULT_HUB_TIMEOUT_S * 1000;
  const staging = path.join(cacheDir, '.downloading', `${process.pid}-${randomBytes(4).toString('hex')}`);
  const { env } = await import('@huggingface/transformers');
  const saved = { remoteHost: env.remoteHost, remotePathTemplate: env.remotePathTemplate, fetch: env.fetch, allowRemoteModels: env.allowRemoteModels, cacheDir: env.cacheDir, useFSCache: env.useFSCache };
  try {
    mkdirSync(staging, { recursive: true });
  } catch (err) {
    throw new LabelBankError('MODEL_MISSING', `cannot create the model cache ${cacheDir} (${(err as Error).message}); choose another with --cache-dir or ${MODEL_CACHE_ENV}`);
  }
  // Set only for this download and put back after it: the local loads elsewhere rely on the defaults.
  Object.assign(env, {
    remoteHost: `${endpoint}/`,
    remotePathTemplate: '{model}/resolve/{revision}/',
    fetch: hubFetch(endpoint, options.token ?? (process.env.HF_TOKEN || process.env.HF_ACCESS_TOKEN || undefined), timeoutMs),
    allowRemoteModels: true,
    cacheDir: staging,
    useFSCache: true,
  });
  try {
    await downloadThroughTransformers(id, kind, staging, options.onProgress);
    // transformers.js' file cache keys: ORG/NAME/FILE for main, ORG/NAME/REVISION/FILE otherwise.
    const got = path.join(staging, ...id.repo.split('/'), ...(id.revision === 'main' ? [] : id.revision.split('/')));
    const absent = missingFiles(got, kind);
    if (absent.length > 0) throw new LabelBankError('NOT_A_TEXT_ENCODER', `${hubIdText(id)} has no ${absent.join(', ')} on ${endpoint}: not a CLIP ${kind} tower in transformers.js layout`);
    mkdirSync(path.join(folder, 'onnx'), { recursive: true });
    // Every file is whole before the first moves; the model counts as cached once its last one has.
    for (const file of REQUIRED[kind]) renameSync(path.join(got, file), path.join(folder, file));
    return folder;
  } catch (err) {
    if (err instanceof LabelBankError) throw err;
    let { reason, network } = downloadReason(err, endpoint);
    if (!network && (err as { status?: unknown }).status === undefined) {
      const got = path.join(staging, ...id.repo.split('/'), ...(id.revision === 'main' ? [] : id.revision.split('/')));
      const absent = missingFiles(got, kind).filter((f) => f !== 'onnx/text_model.onnx' && f !== 'onnx/vision_model.onnx');
      if (absent.length > 0) reason = `transformers.js could not load it (${reason}); the hub has no ${absent.join(', ')}: not a CLIP ${kind} tower in transformers.js layout`;
    }
    throw new LabelBankError('MODEL_MISSING', `cannot download ${hubIdText(id)} from ${endpoint}: ${reason}; it is not in the model cache ${cacheDir} either`, { cause: err });
  } finally {
    Object.assign(env, saved);
    rmSync(staging, { recursive: true, force: true });
    try {
      rmdirSync(path.dirname(staging)); // only when no other download is under way
    } catch {
      // another process is downloading, or it was never made
    }
  }
}
