/** A demo that cannot start with what it was given (its output path, the shared folder, a model folder): exit 2. */
export class DemoError extends Error {
  override name = 'DemoError';
}

export const isDemoError = (err: unknown): boolean => err instanceof DemoError;
