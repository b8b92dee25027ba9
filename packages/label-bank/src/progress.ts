import cliProgress from 'cli-progress';

/** A progress bar on stderr when it is a terminal; silent otherwise (logs and CI stay clean). */
export class Progress {
  private readonly bar: cliProgress.SingleBar | null;

  constructor(label: string, total: number, enabled: boolean = process.stderr.isTTY === true) {
    this.bar = enabled
      ? new cliProgress.SingleBar(
          { format: `${label} [{bar}] {value}/{total} {percentage}% | ETA {eta_formatted} | {item}`, stream: process.stderr, hideCursor: true },
          cliProgress.Presets.shades_classic,
        )
      : null;
    this.bar?.start(total, 0, { item: '' });
  }

  update(done: number, item = ''): void {
    this.bar?.update(done, { item });
  }

  setTotal(total: number): void {
    this.bar?.setTotal(total);
  }

  stop(): void {
    this.bar?.stop();
  }
}
