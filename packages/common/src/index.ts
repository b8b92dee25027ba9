export { runCommandLine } from './run-command-line.js';
export { seededRandom } from './rng.js';
