// tsc does not keep the executable bit: make the package bins runnable after every build.
import { chmodSync, existsSync } from 'node:fs';

for (const bin of ['packages/label-bank/dist/cli.js', 'packages/cli/dist/cli.js', 'packages/dataset-tools/dist/cli.js', 'packages/dataset-tools/dist/manifest-cli.js', 'packages/trainer/dist/cli.js']) {
  if (existsSync(bin)) chmodSync(bin, 0o755);
}
