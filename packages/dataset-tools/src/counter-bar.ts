import cliProgress from 'cli-progress';

/** A counter bar on stderr when it is a terminal. */
export function counterBar(label: string): { update(n: number, what: string): void; stop(): void } {
  if (process.stderr.isTTY !== true) return { update: () => undefined, stop: () => undefined };
  const bar = new cliProgress.SingleBar({ format: `${label} {value} images | {what}`, stream: process.stderr }, cliProgress.Presets.shades_classic);
  bar.start(0, 0, { what: '' });
  return { update: (n, what) => bar.update(n, { what }), stop: () => bar.stop() };
}
