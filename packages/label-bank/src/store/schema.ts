/** label-bank.sqlite schema. Bump SCHEMA_VERSION when a table changes shape. */
export const SCHEMA_VERSION = 1;

export const SCHEMA_SQL = `
CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
-- The active description of every label; id = position in manifests/labels.json, added labels after.
CREATE TABLE labels (
  id              INTEGER PRIMARY KEY,
  name            TEXT NOT NULL UNIQUE,
  group_name      TEXT NOT NULL,
  wikipedia_title TEXT,
  description     TEXT NOT NULL CHECK (length(trim(description)) > 0),
  source          TEXT NOT NULL CHECK (source IN ('shipped', 'wikipedia', 'wordnet', 'manual')),
  fetched_at      TEXT,
  origin          TEXT NOT NULL CHECK (origin IN ('shipped', 'added'))
);
-- Every description ever obtained, one per label and source, so no good text is ever lost.
CREATE TABLE descriptions (
  label_id   INTEGER NOT NULL REFERENCES labels(id),
  source     TEXT NOT NULL,
  text       TEXT NOT NULL CHECK (length(trim(text)) > 0),
  fetched_at TEXT NOT NULL,
  PRIMARY KEY (label_id, source)
);
CREATE TABLE models (
  model_id TEXT PRIMARY KEY,
  location TEXT NOT NULL,
  dim      INTEGER NOT NULL,
  added_at TEXT NOT NULL
);
-- Text embeddings keyed by encoder and the sha256 of the exact text: L2-normalised float32.
CREATE TABLE embeddings (
  model_id    TEXT NOT NULL,
  text_sha256 TEXT NOT NULL,
  text        TEXT NOT NULL,
  dim         INTEGER NOT NULL,
  vector      BLOB NOT NULL CHECK (length(vector) = 4 * dim),
  created_at  TEXT NOT NULL,
  PRIMARY KEY (model_id, text_sha256)
);
`;
