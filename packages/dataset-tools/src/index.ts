export { DatasetError, isDatasetError, type Problem } from './errors.js';
export { readTaxonomy, readLabelNames, MANIFESTS_DIR, type Taxonomy, type SourceClass, type ClassTarget } from './taxonomy.js';
export { FORMATS, detectFormat, formatByName } from './formats/index.js';
export type { FormatAdapter, OpenedDataset, DenseSample, MaskEncoding, AnnotationKind, LossKind } from './formats/types.js';
export { ManifestReader, IGNORE_INDEX, type DatasetInfo, type ManifestSample } from './manifest/reader.js';
export { ManifestWriter, imageId, type MergeOptions, type MergeSummary } from './manifest/writer.js';
export { mergeDatasets, parseDatasetSpecs, type DatasetSpec } from './merge.js';
export { manifestStats, type ManifestStats } from './manifest/stats.js';
export { validateManifest, type ValidationReport } from './manifest/validate.js';
