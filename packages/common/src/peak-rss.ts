import { existsSync, readFileSync } from 'node:fs';

/** This process's own peak RSS in MiB (VmHWM; getrusage's maxRSS keeps the parent's peak across exec on Linux). */
export function peakRssMiB(): number {
  const hwm = existsSync('/proc/self/status') ? /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] : undefined;
  return (hwm !== undefined ? Number(hwm) : process.resourceUsage().maxRSS) / 1024;
}
