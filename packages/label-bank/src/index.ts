export { LabelBankError, type LabelBankErrorCode } from './errors.js';
export { readLabelsFile, defaultLabelsFile, type LabelSpec, type LabelsFile } from './labels-file.js';
export { LabelBank, labelText, sha256, type LabelRow, type ModelRow, type EmbeddingMatrix, type DescriptionSource, type OpenBankOptions } from './store/bank.js';
export { labelMatrix, type LabelMatrix, type LabelMatrixOptions, type OnMissingEmbedding } from './store/label-matrix.js';
export { wordOnlyText, sentenceText, firstSentence, type TextKind } from './text.js';
export { loadClipTextEncoder, inspectModelFolder } from './clip/text.js';
export type { SentenceEncoder, Truncation } from './encoder/sentence-encoder.js';
export { loadClipVisionEncoder, type VisionEncoder } from './clip/vision.js';
export { fileSha256, l2Normalise } from './clip/tower.js';
export { loadClipTokenizer, ClipTokenizer, CLIP_MAX_TOKENS } from './encoder/clip-tokenizer.js';
export { writeTinyClipTextModel, buildTinyClipTextGraph, type TinyClipOptions } from './clip/tiny-text.js';
export { embedLabels, embedTexts, type EmbedLabelsResult, type EmbedTextsResult } from './embed.js';
export { addLabel, composeDescription, type AddLabelResult } from './add-label.js';
export { nearestLabels, CONFUSION_COSINE, type Neighbour } from './neighbours.js';
export { writeSimilarityReport, type SimilarityReport } from './report/index.js';
export { blockScore, cosineMatrix, groupOrder, type BlockScore } from './report/similarity.js';
export { refreshFromWikipedia, refreshFromWordNet, type RefreshReport, type FetchSource } from './sources/refresh.js';
export { createWikiClient, DEFAULT_API_URL, type WikiClient } from './sources/wikipedia/client.js';
export { fetchLeadSentence, type LeadOutcome, type RetryPolicy } from './sources/wikipedia/fetch-lead.js';
export { WordNet, wordNetCandidates, glossSentence, parseSynsetLine, lexFilesForGroup, type WordNetGloss } from './sources/wordnet.js';
export { labelBankCommands, isLabelBankError } from './commands.js';
export { writeTinyClipVisionModel, buildTinyClipVisionGraph, type TinyClipVisionOptions } from './clip/tiny-vision.js';
export { LexicalEncoder, parseLexicalSpec, wordTokens, LEXICAL_PREFIX, type LexicalEncoderOptions } from './encoder/lexical.js';
export { OneHotEncoder } from './encoder/one-hot.js';
export { loadTextEncoder } from './encoder/load.js';
export { heatmapPng, viridis, type HeatmapOptions } from './report/heatmap.js';
export {
  resolveHubModel,
  hubIdOf,
  parseHubId,
  hubIdText,
  hubModelFolder,
  modelCacheDir,
  hubEndpoint,
  MODEL_CACHE_ENV,
  type HubId,
  type HubOptions,
  type HubModelKind,
  type DownloadProgress,
} from './encoder/hub.js';
export { hubYargsOptions, hubOptionsFromArgs, downloadProgress, type HubArgs } from './hub-cli.js';
export { matchEncoder, listEncoders, loadableName, type NamedEncoder } from './store/encoder-names.js';
export { clipTokenCounter, findClipTokenizer, CLIP_TOKENIZER_ENV, type TokenCounter } from './encoder/token-counter.js';
export { importEmbeddings, IMPORT_PREFIX, type ImportOptions, type ImportResult } from './import/import-embeddings.js';
export { readVectorFile, halfToFloat, type VectorMatrix } from './import/read-vectors.js';
