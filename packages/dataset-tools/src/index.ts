export { DatasetError, isDatasetError, type Problem } from './errors.js';
export { readTaxonomy, readLabelNames, MANIFESTS_DIR, type Taxonomy, type SourceClass, type ClassTarget } from './taxonomy.js';
export { FORMATS, detectFormat, formatByName } from './formats/index.js';
export type { FormatAdapter, OpenedDataset, DenseSample, BoxSample, SourceBox, InstanceSample, MaskEncoding, MaskEncodingKind, AnnotationKind, LossKind } from './formats/types.js';
export { LOSSES_FOR } from './formats/types.js';
export { partialPath, removeWithSidecars } from './manifest/partial.js';
export { readIddPolygons, IDD_LEVEL3_OF_NAME } from './formats/idd.js';
export { rasterizePolygons, type PolygonObject } from './polygons.js';
export {
  ManifestReader,
  IGNORE_INDEX,
  WIDE_IGNORE_INDEX,
  ignoreIndexFor,
  type CountedTable,
  type DatasetInfo,
  type ImageLabelPixels,
  type LabelDatasetPixels,
  type ManifestBox,
  type ManifestInstanceMask,
  type ManifestLabel,
  type ManifestProblem,
  type ManifestSample,
} from './manifest/reader.js';
export { MANIFEST_SCHEMA_VERSION } from './manifest/schema.js';
export { ManifestWriter, imageId, type MergeOptions, type MergeSummary } from './manifest/writer.js';
export { mergeDatasets, parseDatasetSpecs, MergeInterrupted, type DatasetSpec, type MergeDatasetsOptions, type MergeRun } from './merge.js';
export { manifestStats, type ManifestStats } from './manifest/stats.js';
export { validateManifest, type ValidationReport } from './manifest/validate.js';
export { streamJsonArrays } from './json-stream.js';
export { mergeDatasetsOptions, runMergeDatasets } from './commands/merge.js';
export { manifestCommands } from './commands/manifest.js';
export { readMaskBytes, MaskKindError, type MaskValues, type MaskDecoder } from './mask-values.js';
export { readMaskValues, maskDecoder } from './mask-decoders.js';
export { encodePalettePng } from './png.js';
export { imageSize } from './manifest/inspect.js';
export { taxonomyFor } from './taxonomy.js';
