// The packages' bins are these committed launchers, not files under dist/: npm links bins before
// the root `prepare` script builds dist/, and skips a bin whose target is missing, so bins pointing
// into dist/ were never linked by a first `npm ci` (`npx label-bank` then asked the public registry).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Runs the built entry `entry` (a file URL, packages/<pkg>/dist/<file>.js) of the command `name`, or says how to build it. */
export async function launch(entry, name) {
  if (existsSync(fileURLToPath(entry))) {
    await import(entry.href);
    return;
  }
  const checkout = fileURLToPath(new URL('../../../', entry));
  process.stderr.write(`error: ${name} is not built (${fileURLToPath(entry)} is missing): run \`npm run build\` in ${checkout}\n`);
  process.exitCode = 2;
}
