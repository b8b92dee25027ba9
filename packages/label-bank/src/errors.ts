/** What went wrong, as a stable code a caller can branch on. */
export type LabelBankErrorCode =
  | 'LABELS_FILE'
  | 'BANK_MISSING'
  | 'NOT_A_BANK'
  | 'BANK_CORRUPT'
  | 'BANK_VERSION'
  | 'UNKNOWN_LABEL'
  | 'LABEL_EXISTS'
  | 'EMPTY_DESCRIPTION'
  | 'TOO_MANY_TOKENS'
  | 'MODEL_MISSING'
  | 'NOT_A_TEXT_ENCODER'
  | 'NOT_A_VISION_ENCODER'
  | 'NO_EMBEDDINGS'
  | 'FETCH_FAILED'
  | 'BAD_REFERENCE'
  | 'DEADLINE'
  | 'BAD_ARGUMENT';

/** Every error label-bank throws on purpose: a code, and a message that names the file or label. */
export class LabelBankError extends Error {
  readonly code: LabelBankErrorCode;

  constructor(code: LabelBankErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LabelBankError';
    this.code = code;
  }
}
