import { progress, type ProgressBar } from '@sentseg/common';

/** label-bank's bar on stderr: "LABEL [bar] done/total pct | ETA | item", shown at once at 0 of `total`. */
export function labelBankBar(label: string, total: number, enabled?: boolean): ProgressBar {
  return progress(`${label} [{bar}] {value}/{total} {percentage}% | ETA {eta_formatted} | {item}`, { total, enabled, hideCursor: true, payload: { item: '' } });
}
