/** manifest.sqlite schema, read by the trainer through reader.ts. Bump on any change of shape. */
export const MANIFEST_SCHEMA_VERSION = 1;

export const MANIFEST_SQL = `
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
-- Labels: ids 0..237 are manifests/labels.json; unmapped classes kept with --keep-unmapped follow.
CREATE TABLE labels (
  id     INTEGER PRIMARY KEY,
  name   TEXT NOT NULL UNIQUE,
  origin TEXT NOT NULL
);
CREATE TABLE datasets (
  name       TEXT PRIMARY KEY,
  format     TEXT NOT NULL,
  version    TEXT NOT NULL,
  variant    TEXT,
  root       TEXT NOT NULL,
  annotation TEXT NOT NULL CHECK (annotation IN ('dense', 'instance-masks', 'boxes')),
  loss       TEXT NOT NULL CHECK (loss IN ('hd', 'ld', 'wd')),
  encoding   TEXT NOT NULL,
  ignore_values TEXT NOT NULL,
  added_at   TEXT NOT NULL
);
-- Every source class: the id found in masks (or the category id) → a label, or none (ignored).
CREATE TABLE dataset_classes (
  dataset     TEXT NOT NULL REFERENCES datasets(name),
  source_id   INTEGER NOT NULL,
  source_name TEXT NOT NULL,
  status      TEXT NOT NULL CHECK (status IN ('mapped', 'ignore', 'unmapped', 'kept')),
  label_id    INTEGER REFERENCES labels(id),
  PRIMARY KEY (dataset, source_id)
);
CREATE TABLE images (
  id         INTEGER PRIMARY KEY,
  dataset    TEXT NOT NULL REFERENCES datasets(name),
  split      TEXT NOT NULL,
  image_path TEXT NOT NULL,
  mask_path  TEXT,
  width      INTEGER NOT NULL,
  height     INTEGER NOT NULL,
  UNIQUE (dataset, image_path)
);
-- A dataset's images in sample order (split, then path), covering every column the reader lists
-- (the id is the rowid every index holds): listing a dataset reads this index alone, where ids are
-- hashes and each row looked up in the table is a random page.
CREATE INDEX images_in_sample_order ON images (dataset, split, image_path, mask_path, width, height);
-- Pixels per label present in each image, counted from the mask after remapping.
CREATE TABLE image_labels (
  image_id INTEGER NOT NULL REFERENCES images(id),
  label_id INTEGER NOT NULL REFERENCES labels(id),
  pixels   INTEGER NOT NULL,
  PRIMARY KEY (image_id, label_id)
);
CREATE INDEX image_labels_by_label ON image_labels (label_id);
-- Panoptic masks: segment id → source class (category id), per image.
CREATE TABLE segments (
  image_id   INTEGER NOT NULL REFERENCES images(id),
  segment_id INTEGER NOT NULL,
  source_id  INTEGER NOT NULL,
  PRIMARY KEY (image_id, segment_id)
);
-- Box-only and instance-mask datasets (Objects365, OpenImages).
CREATE TABLE boxes (
  id        INTEGER PRIMARY KEY,
  image_id  INTEGER NOT NULL REFERENCES images(id),
  source_id INTEGER NOT NULL,
  x REAL NOT NULL, y REAL NOT NULL, w REAL NOT NULL, h REAL NOT NULL
);
CREATE TABLE instance_masks (
  id        INTEGER PRIMARY KEY,
  image_id  INTEGER NOT NULL REFERENCES images(id),
  source_id INTEGER NOT NULL,
  mask_path TEXT NOT NULL
);
-- Every file that was skipped or is suspect, and why.
CREATE TABLE problems (
  dataset TEXT NOT NULL,
  file    TEXT NOT NULL,
  reason  TEXT NOT NULL
);
CREATE INDEX problems_by_dataset ON problems (dataset);
`;

/**
 * The index of a dataset's images in sample order. Manifests written before it have
 * images_by_split_path (dataset, split, image_path) instead, which orders the same rows but covers
 * no other column: the reader reads them at the old speed (a listing looks up every row in the
 * table), and merge-datasets replaces that index the next time it writes to them (SAMPLE_ORDER_SQL,
 * in one transaction). A change of index, not of shape: the schema version stays.
 */
export const SAMPLE_ORDER_INDEX = 'images_in_sample_order';
export const SAMPLE_ORDER_SQL = `
CREATE INDEX IF NOT EXISTS main.images_in_sample_order ON images (dataset, split, image_path, mask_path, width, height);
DROP INDEX IF EXISTS main.images_by_split_path;
`;

/**
 * What merge-datasets adds to a manifest it writes or extends (IF NOT EXISTS: manifests written
 * before them gain them on their next merge; readers do not need them).
 */
export const MANIFEST_EXTRA_SQL = `
-- The size and mtime of each image's files (and its boxes' digest) when it was read: --update NAME
-- re-reads only the images whose signature changed.
CREATE TABLE IF NOT EXISTS image_sources (
  image_id  INTEGER PRIMARY KEY REFERENCES images(id),
  signature TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS problems_by_file ON problems (dataset, file);
-- An image's boxes and instance masks (the trainer's loader asks for them by image id).
CREATE INDEX IF NOT EXISTS boxes_by_image ON boxes (image_id);
CREATE INDEX IF NOT EXISTS instance_masks_by_image ON instance_masks (image_id);
`;
