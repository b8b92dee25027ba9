import { progress, type ProgressBar } from '@sentseg/common';

/** A counter on stderr (a terminal only) for work whose total is not known: "LABEL n images | what". */
export function imageCounter(label: string, enabled = true): ProgressBar {
  return progress(`${label} {value} images | {what}`, { total: 0, enabled: enabled && process.stderr.isTTY === true, payload: { what: '' } });
}
