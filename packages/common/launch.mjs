// The packages' bins are these committed launchers, not files under dist/: npm links bins before
// the root `prepare` script builds dist/, and skips a bin whose target is missing, so bins pointing
// into dist/ were never linked by a first `npm ci` (`npx label-bank` then asked the public registry).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * Runs the built entry `entry` (a file URL, packages/<pkg>/dist/<file>.js) of the command `name`, or
 * says how to build it. `nodeFlags` are V8 options that must be set when node starts (the heap's
 * limits cannot change later): when this node lacks them, the entry runs in a child node that has
 * them, with the same arguments, standard streams and exit code.
 */
export async function launch(entry, name, nodeFlags = []) {
  if (!existsSync(fileURLToPath(entry))) {
    const checkout = fileURLToPath(new URL('../../../', entry));
    process.stderr.write(`error: ${name} is not built (${fileURLToPath(entry)} is missing): run \`npm run build\` in ${checkout}\n`);
    process.exitCode = 2;
    return;
  }
  const missing = nodeFlags.filter((flag) => !process.execArgv.includes(flag));
  if (missing.length === 0) {
    await import(entry.href);
    return;
  }
  // launched.mjs runs the entry, and stops it if this process dies without passing a signal on (the IPC channel closes).
  const launched = fileURLToPath(new URL('./launched.mjs', import.meta.url));
  const child = spawn(process.execPath, [...nodeFlags, launched, fileURLToPath(entry), ...process.argv.slice(2)], { stdio: ['inherit', 'inherit', 'inherit', 'ipc'] });
  // Ctrl-C reaches the child from the terminal (same process group): this process only waits for it.
  // A signal sent to this process alone is passed on.
  process.on('SIGINT', () => undefined);
  for (const signal of ['SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  const [code, signal] = await new Promise((resolve) => child.on('exit', (c, s) => resolve([c, s])));
  if (signal) {
    process.removeAllListeners(signal);
    process.kill(process.pid, signal);
  }
  process.exitCode = code ?? 1;
}
