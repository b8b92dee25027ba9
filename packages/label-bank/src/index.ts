export { LabelBankError, type LabelBankErrorCode } from './errors.js';
export { readLabelsFile, defaultLabelsFile, type LabelSpec, type LabelsFile } from './labels-file.js';
export { LabelBank, labelText, sha256, type LabelRow, type ModelRow, type EmbeddingMatrix, type DescriptionSource, type OpenBankOptions } from './store/bank.js';
export { wordOnlyText, sentenceText, firstSentence, type TextKind } from './text.js';
export { loadClipTextEncoder, inspectModelFolder, type SentenceEncoder, type Truncation } from './encoder/clip-text.js';
export { loadClipTokenizer, ClipTokenizer, CLIP_MAX_TOKENS } from './encoder/clip-tokenizer.js';
export { writeTinyClipTextModel, buildTinyClipTextGraph, type TinyClipOptions } from './encoder/tiny-clip.js';
