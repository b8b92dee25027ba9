/** What the trainer's benches share: their usage error, and running the bench file itself as a child. */
import { execFileSync } from 'node:child_process';

/** A usage mistake: the bench prints it in one line and exits 2. */
export class UsageError extends Error {}

/** A child's outcome: its last stdout line as JSON, or why it failed in one line (and its whole stderr). */
export type ChildOutcome<T> = { ok: true; value: T } | { ok: false; why: string; stderr: string };

/** Runs the bench file `self` as a child with `args` (its own process, so its peak RSS is its own). */
export function runChild<T>(self: string, args: string[]): ChildOutcome<T> {
  try {
    const out = execFileSync(process.execPath, [self, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 2 ** 20 });
    return { ok: true, value: JSON.parse(out.trim().split('\n').pop() as string) as T };
  } catch (err) {
    const e = err as { status?: number | null; signal?: string | null; stderr?: string };
    const stderr = e.stderr ?? '';
    const last = stderr.trim().split('\n').filter((l) => l.trim() !== '').slice(-1)[0] ?? (err as Error).message;
    return { ok: false, why: `exit ${e.status ?? e.signal ?? '?'}: ${last}`, stderr };
  }
}
