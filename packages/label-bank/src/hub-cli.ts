/** The command-line side of hub ids, shared by label-bank's commands and the trainer's --clip-vision. */
import type { Argv } from 'yargs';
import { DEFAULT_HUB_TIMEOUT_S, MODEL_CACHE_ENV, type DownloadProgress, type HubOptions } from './encoder/hub.js';
import type { ProgressBar } from '@sentseg/common';
import { labelBankBar } from './progress.js';

export interface HubArgs {
  'cache-dir'?: string;
  offline?: boolean;
  'hub-timeout'?: number;
}

/** --cache-dir, --offline and --hub-timeout, for every command that may load a hub id. */
export function hubYargsOptions<T>(y: Argv<T>) {
  return y
    .option('cache-dir', {
      type: 'string',
      describe: `where hub models are downloaded to and loaded from (also ${MODEL_CACHE_ENV})`,
      defaultDescription: `$${MODEL_CACHE_ENV}, else $XDG_CACHE_HOME/sentseg/models, else ~/.cache/sentseg/models`,
    })
    .option('offline', { type: 'boolean', default: false, describe: 'never use the network: a hub model must already be in the cache (also HF_HUB_OFFLINE=1)' })
    .option('hub-timeout', { type: 'number', default: DEFAULT_HUB_TIMEOUT_S, describe: 'seconds without a byte from the hub (HF_ENDPOINT) before a download is given up' })
    .check((a) => {
      const t = a['hub-timeout'] as number | undefined;
      if (t !== undefined && !(Number.isFinite(t) && t > 0)) throw new Error(`--hub-timeout must be a number of seconds above 0, got ${t}`);
      return true;
    });
}

/**
 * Download progress on stderr: a bar per file on a terminal, a line when each file starts and ends
 * elsewhere (so a slow download is never silent and logs stay short).
 */
export function downloadProgress(tty = process.stderr.isTTY === true): (p: DownloadProgress) => void {
  let bar: ProgressBar | null = null;
  const sizes = new Map<string, number>();
  const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;
  return (p) => {
    if (p.status === 'start') {
      if (!tty) process.stderr.write(`download: ${p.repo} ${p.file}\n`);
    } else if (p.status === 'progress') {
      sizes.set(p.file, p.loaded);
      if (tty) {
        if (!bar) bar = labelBankBar(`download ${p.file}`, Math.max(1, p.total), true);
        bar.setTotal(Math.max(1, p.total));
        bar.update(p.loaded, { item: mb(p.loaded) });
      }
    } else {
      bar?.stop();
      bar = null;
      const size = sizes.get(p.file) ?? p.loaded;
      if (!tty) process.stderr.write(`download: ${p.repo} ${p.file} done${size > 0 ? ` (${mb(size)})` : ''}\n`);
    }
  };
}

export function hubOptionsFromArgs(args: HubArgs, progress = downloadProgress()): HubOptions {
  return {
    ...(args['cache-dir'] !== undefined ? { cacheDir: args['cache-dir'] } : {}),
    offline: args.offline === true,
    timeoutMs: (args['hub-timeout'] ?? DEFAULT_HUB_TIMEOUT_S) * 1000,
    onProgress: progress,
  };
}
