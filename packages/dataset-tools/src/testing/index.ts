/**
 * `@sentseg/dataset-tools/testing`: fixtures for tests, benchmarks and the demo, not product API.
 * The layout writers put small seeded datasets in each format's official on-disk layout (their
 * file names come from the format modules' own path constants); the scene world renders one set
 * of synthetic scenes into four layouts with different class names.
 */
export {
  seeded,
  bandMask,
  valueCounts,
  writeGrayPng,
  writeRgbPng,
  writeImage,
  writeCityscapes,
  writeAde20k,
  writeCocoPanoptic,
  writeMapillaryVistas,
  writeIdd,
  writeObjects365,
  writeOpenImages,
  type GeneratedSet,
  type IddRect,
  type WrittenBox,
  type WrittenInstance,
} from './write-layouts.js';
export { renderScene, SCENE_CONCEPTS, DEFAULT_SCENE_STYLE, type Scene, type SceneConcept, type SceneStyle } from './scene-render.js';
export { writeSceneWorld, writeWorldDataset, WORLD_DATASETS, CONCEPT_GROUPS, type WorldDatasetSpec, type WorldClass, type WrittenWorld, type WrittenWorldDataset, type WorldFormat } from './scene-world.js';
