// The child side of launch(): node runs this file with the entry's path as its first argument. It
// runs the entry as if node had been started on it (process.argv as the entry expects), and stops it
// when the launcher dies without passing a signal on (SIGKILL of the launcher alone, an OOM kill):
// the IPC channel to the launcher closes, and the entry gets the SIGTERM a launcher would have passed
// on, so a merge stops as it does on SIGTERM (its progress kept for the next run) instead of
// running on unseen.
import { pathToFileURL } from 'node:url';

const entry = process.argv[2];
process.argv.splice(1, 2, entry);
if (process.channel) {
  process.on('disconnect', () => process.kill(process.pid, 'SIGTERM'));
  // The channel must not keep this process alive once the entry's own work is done.
  process.channel.unref();
}
await import(pathToFileURL(entry).href);
