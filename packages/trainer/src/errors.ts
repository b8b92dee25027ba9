/** A problem with the user's input (config, manifest, label bank, run folder): exit 2 with the message. */
export class TrainerError extends Error {
  override name = 'TrainerError';
}
