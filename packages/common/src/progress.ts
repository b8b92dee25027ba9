import cliProgress from 'cli-progress';

/** Values of a progress format's {tokens} besides cli-progress's own ({bar}, {value}, {total}, {eta_formatted}, ...). */
export type ProgressPayload = Record<string, string | number>;

export interface ProgressBar {
  /** Moves the bar to `value` (showing it, at the total known so far, on the first call). */
  update(value: number, payload?: ProgressPayload): void;
  setTotal(total: number): void;
  stop(): void;
}

export interface ProgressOptions {
  /** Show the bar (default: when stderr is a terminal, so logs and CI stay clean). */
  enabled?: boolean;
  /** Show the bar at once at 0 of this total; otherwise it appears on the first update. */
  total?: number;
  /** The tokens' values until the first update. */
  payload?: ProgressPayload;
  hideCursor?: boolean;
}

const SILENT: ProgressBar = { update: () => undefined, setTotal: () => undefined, stop: () => undefined };

/** A cli-progress bar on stderr with the given format, or a silent one when disabled. */
export function progress(format: string, options: ProgressOptions = {}): ProgressBar {
  if (!(options.enabled ?? process.stderr.isTTY === true)) return SILENT;
  const bar = new cliProgress.SingleBar({ format, stream: process.stderr, hideCursor: options.hideCursor }, cliProgress.Presets.shades_classic);
  let total = options.total ?? 0;
  let started = false;
  const start = (value: number, payload: ProgressPayload) => {
    bar.start(total, value, payload);
    started = true;
  };
  if (options.total !== undefined) start(0, options.payload ?? {});
  return {
    update: (value, payload = {}) => (started ? bar.update(value, payload) : start(value, { ...options.payload, ...payload })),
    setTotal: (n) => {
      total = n;
      if (started) bar.setTotal(n);
    },
    stop: () => {
      if (started) bar.stop();
      started = false;
    },
  };
}
