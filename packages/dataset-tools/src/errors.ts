/** A whole dataset (or the command) cannot be used; per-file trouble becomes a problems row instead. */
export class DatasetError extends Error {
  /** PROBLEMS: the command finished but recorded or found problems (files skipped or suspect). */
  readonly code: 'NOT_A_DATASET' | 'UNKNOWN_FORMAT' | 'TAXONOMY' | 'MANIFEST' | 'BAD_ARGUMENT' | 'PROBLEMS';

  constructor(code: DatasetError['code'], message: string) {
    super(message);
    this.name = 'DatasetError';
    this.code = code;
  }
}

/** One file that was skipped, and why: a row of the manifest's problems table. */
export interface Problem {
  file: string;
  reason: string;
}

/** Errors a user can fix (bad input), as opposed to bugs. */
export const isDatasetError = (err: unknown): boolean => err instanceof DatasetError;
