/**
 * Ends the process once everything written to stdout and stderr has left it. process.exit drops
 * what a pipe has not taken yet: `label-bank list --json | wc -c` printed 65536 and cut the JSON.
 * A write's callback runs when its chunk is flushed, and chunks flush in order, so an empty write
 * on each stream marks the moment all earlier output is out. It exits explicitly rather than setting
 * process.exitCode: a command's backend (wasm threads, worker pools) may keep the loop alive.
 */
export async function flushAndExit(code: number): Promise<never> {
  await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
  process.exit(code);
}

function flushed(stream: NodeJS.WriteStream): Promise<void> {
  return new Promise((resolve) => {
    if (stream.destroyed || !stream.writable) return resolve();
    stream.write('', () => resolve());
  });
}
