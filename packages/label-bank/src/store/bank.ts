import { identifySqliteFile, replaceAtomic, sqliteKindMismatch } from '@sentseg/common';
import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { LabelBankError } from '../errors.js';
import { readLabelsFile, type LabelSpec } from '../labels-file.js';
import { wordOnlyText, type TextKind } from '../text.js';
import { listEncoders, matchEncoder } from './encoder-names.js';
import { SCHEMA_SQL, SCHEMA_VERSION } from './schema.js';

export type DescriptionSource = 'shipped' | 'wikipedia' | 'wordnet' | 'manual';

/** A label as the bank holds it now. */
export interface LabelRow {
  id: number;
  name: string;
  group: string;
  wikipediaTitle: string | null;
  description: string;
  source: DescriptionSource;
  fetchedAt: string | null;
  origin: 'shipped' | 'added';
}

export interface ModelRow {
  modelId: string;
  location: string;
  dim: number;
  addedAt: string;
}

/** Labels in id order with their embeddings as one row-major matrix (labels × dim). */
export interface EmbeddingMatrix {
  modelId: string;
  kind: TextKind;
  labels: LabelRow[];
  dim: number;
  data: Float32Array;
}

export interface OpenBankOptions {
  /** Labels file used to seed a new bank (default: manifests/labels.json). */
  labelsFile?: string;
  /** Open without writing anything; a missing file is then an error. */
  readonly?: boolean;
}

interface LabelDbRow {
  id: number;
  name: string;
  group_name: string;
  wikipedia_title: string | null;
  description: string;
  source: DescriptionSource;
  fetched_at: string | null;
  origin: 'shipped' | 'added';
}

export function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** The text a label is encoded from, by kind. */
export function labelText(label: Pick<LabelRow, 'name' | 'description'>, kind: TextKind): string {
  return kind === 'sentence' ? label.description : wordOnlyText(label.name);
}

function toLabel(row: LabelDbRow): LabelRow {
  return {
    id: row.id,
    name: row.name,
    group: row.group_name,
    wikipediaTitle: row.wikipedia_title,
    description: row.description,
    source: row.source,
    fetchedAt: row.fetched_at,
    origin: row.origin,
  };
}

function now(): string {
  return new Date().toISOString();
}

function bufferToVector(buf: Buffer): Float32Array {
  const copy = new Uint8Array(buf.byteLength);
  copy.set(buf);
  return new Float32Array(copy.buffer);
}

/** Writes a fresh bank seeded from the labels file to a temp file, then renames it into place. */
function createBank(file: string, labels: LabelSpec[]): void {
  replaceAtomic(file, (tmp) => {
    const db = new Database(tmp);
    try {
      db.exec(SCHEMA_SQL);
      const at = now();
      const insertLabel = db.prepare(
        `INSERT INTO labels (id, name, group_name, wikipedia_title, description, source, fetched_at, origin)
         VALUES (?, ?, ?, ?, ?, 'shipped', NULL, 'shipped')`,
      );
      const insertText = db.prepare(`INSERT INTO descriptions (label_id, source, text, fetched_at) VALUES (?, 'shipped', ?, ?)`);
      db.transaction(() => {
        db.prepare(`INSERT INTO meta (key, value) VALUES ('schema_version', ?), ('created_at', ?)`).run(String(SCHEMA_VERSION), at);
        for (const l of labels) {
          insertLabel.run(l.id, l.name, l.group, l.wikipedia, l.description);
          insertText.run(l.id, l.description, at);
        }
      })();
    } finally {
      if (db.open) db.close();
    }
  });
}

/**
 * label-bank.sqlite: label descriptions and cached text embeddings. Every write is one transaction,
 * so a failed command leaves the bank as it was.
 */
export class LabelBank {
  readonly file: string;
  private readonly db: Database.Database;
  private readonly statements = new Map<string, Database.Statement>();

  private constructor(file: string, db: Database.Database) {
    this.file = file;
    this.db = db;
  }

  /**
   * Opens a bank, creating it from the shipped labels when the file does not exist yet. What the
   * file is (its tables) is read before it is opened for writing: a manifest also has a meta table
   * with schema_version 1, and opening it read-write would leave -wal/-shm files beside it.
   */
  static open(file: string, options: OpenBankOptions = {}): LabelBank {
    const resolved = path.resolve(file);
    if (!existsSync(resolved)) {
      if (options.readonly) throw new LabelBankError('BANK_MISSING', `label bank not found: ${resolved} (label-bank embed creates one)`);
      const folder = path.dirname(resolved);
      if (!existsSync(folder)) throw new LabelBankError('BANK_MISSING', `the folder of the label bank does not exist: ${folder} (create it first: mkdir -p ${folder})`);
      createBank(resolved, readLabelsFile(options.labelsFile).labels);
    }
    const mismatch = sqliteKindMismatch(resolved, 'label-bank');
    if (mismatch !== null) {
      const code = identifySqliteFile(resolved) === 'damaged' ? 'BANK_CORRUPT' : 'NOT_A_BANK';
      throw new LabelBankError(code, `${mismatch}; it was left unchanged`);
    }
    let db: Database.Database | undefined;
    try {
      db = new Database(resolved, { readonly: options.readonly ?? false, fileMustExist: true });
      const check = db.pragma('quick_check', { simple: true });
      if (check !== 'ok') throw new Error(String(check));
    } catch (err) {
      db?.close();
      throw new LabelBankError('BANK_CORRUPT', `label bank is damaged (${(err as Error).message}): ${resolved}`, { cause: err });
    }
    let version: string | undefined;
    try {
      version = (db.prepare(`SELECT value FROM meta WHERE key = 'schema_version'`).get() as { value: string } | undefined)?.value;
    } catch {
      db.close();
      throw new LabelBankError('BANK_CORRUPT', `label bank is damaged (no readable meta table): ${resolved}`);
    }
    if (version !== String(SCHEMA_VERSION)) {
      db.close();
      throw new LabelBankError('BANK_VERSION', `label bank schema ${version ?? 'missing'}, this label-bank reads ${SCHEMA_VERSION}: ${resolved}`);
    }
    db.pragma('foreign_keys = ON');
    return new LabelBank(resolved, db);
  }

  close(): void {
    this.db.close();
  }

  /** A prepared statement, prepared once per bank (lookups run once per label on hot paths). */
  private stmt(sql: string): Database.Statement {
    let prepared = this.statements.get(sql);
    if (!prepared) {
      prepared = this.db.prepare(sql);
      this.statements.set(sql, prepared);
    }
    return prepared;
  }

  /** Runs `work` in one transaction: all of its writes land, or none. */
  atomically<T>(work: () => T): T {
    return this.db.transaction(work)();
  }

  labels(): LabelRow[] {
    return (this.db.prepare(`SELECT * FROM labels ORDER BY id`).all() as LabelDbRow[]).map(toLabel);
  }

  label(name: string): LabelRow | undefined {
    const row = this.stmt(`SELECT * FROM labels WHERE name = ?`).get(name) as LabelDbRow | undefined;
    return row ? toLabel(row) : undefined;
  }

  /** The label, or an UNKNOWN_LABEL error that suggests close names. */
  requireLabel(name: string): LabelRow {
    const found = this.label(name);
    if (found) return found;
    const needle = name.toLowerCase();
    const close = this.labels()
      .map((l) => l.name)
      .filter((n) => n.includes(needle) || needle.includes(n) || n.split(' ').some((w) => needle.split(' ').includes(w)))
      .slice(0, 5);
    const hint = close.length > 0 ? ` (did you mean: ${close.join(', ')}?)` : '';
    throw new LabelBankError('UNKNOWN_LABEL', `unknown label "${name}" in ${this.file}${hint}`);
  }

  /** Every description obtained for a label, one per source. */
  descriptions(name: string): { source: string; text: string; fetchedAt: string }[] {
    const label = this.requireLabel(name);
    return this.db
      .prepare(`SELECT source, text, fetched_at AS fetchedAt FROM descriptions WHERE label_id = ? ORDER BY source`)
      .all(label.id) as { source: string; text: string; fetchedAt: string }[];
  }

  /** Makes `text` the label's active description and keeps it among its descriptions. */
  setDescription(name: string, text: string, source: DescriptionSource, fetchedAt: string = now()): void {
    if (text.trim() === '') throw new LabelBankError('EMPTY_DESCRIPTION', `empty description for label "${name}"`);
    const label = this.requireLabel(name);
    this.db.transaction(() => {
      this.db
        .prepare(`UPDATE labels SET description = ?, source = ?, fetched_at = ? WHERE id = ?`)
        .run(text, source, source === 'shipped' ? null : fetchedAt, label.id);
      this.db
        .prepare(
          `INSERT INTO descriptions (label_id, source, text, fetched_at) VALUES (?, ?, ?, ?)
           ON CONFLICT (label_id, source) DO UPDATE SET text = excluded.text, fetched_at = excluded.fetched_at`,
        )
        .run(label.id, source, text, fetchedAt);
    })();
  }

  /** Makes each label's stored description from `source` the active one; reports labels that have none. */
  useSource(source: DescriptionSource, names?: string[]): { switched: string[]; without: string[] } {
    const labels = names && names.length > 0 ? names.map((n) => this.requireLabel(n)) : this.labels();
    const find = this.db.prepare(`SELECT text, fetched_at AS fetchedAt FROM descriptions WHERE label_id = ? AND source = ?`);
    const switched: string[] = [];
    const without: string[] = [];
    this.atomically(() => {
      for (const label of labels) {
        const row = find.get(label.id, source) as { text: string; fetchedAt: string } | undefined;
        if (!row) {
          without.push(label.name);
          continue;
        }
        this.db
          .prepare(`UPDATE labels SET description = ?, source = ?, fetched_at = ? WHERE id = ?`)
          .run(row.text, source, source === 'shipped' ? null : row.fetchedAt, label.id);
        switched.push(label.name);
      }
    });
    return { switched, without };
  }

  /** Adds a new label after the existing ones; returns it. */
  addLabel(spec: { name: string; group: string; description: string; source: DescriptionSource; wikipediaTitle?: string }): LabelRow {
    const name = spec.name.trim();
    if (name === '') throw new LabelBankError('BAD_ARGUMENT', 'a label needs a name');
    if (spec.description.trim() === '') throw new LabelBankError('EMPTY_DESCRIPTION', `empty description for label "${name}"`);
    if (this.label(name)) throw new LabelBankError('LABEL_EXISTS', `label "${name}" already exists in ${this.file}`);
    const at = now();
    const id = this.db.transaction(() => {
      const next = (this.db.prepare(`SELECT COALESCE(MAX(id) + 1, 0) AS id FROM labels`).get() as { id: number }).id;
      this.db
        .prepare(
          `INSERT INTO labels (id, name, group_name, wikipedia_title, description, source, fetched_at, origin)
           VALUES (?, ?, ?, ?, ?, ?, ?, 'added')`,
        )
        .run(next, name, spec.group, spec.wikipediaTitle ?? null, spec.description, spec.source, at);
      this.db.prepare(`INSERT INTO descriptions (label_id, source, text, fetched_at) VALUES (?, ?, ?, ?)`).run(next, spec.source, spec.description, at);
      return next;
    })();
    return { ...this.requireLabel(name), id };
  }

  /** Removes an added label (shipped labels cannot be removed). */
  removeLabel(name: string): void {
    const label = this.requireLabel(name);
    if (label.origin !== 'added') throw new LabelBankError('BAD_ARGUMENT', `label "${name}" is shipped and cannot be removed`);
    this.db.transaction(() => {
      this.db.prepare(`DELETE FROM descriptions WHERE label_id = ?`).run(label.id);
      this.db.prepare(`DELETE FROM labels WHERE id = ?`).run(label.id);
    })();
  }

  models(): ModelRow[] {
    return this.db.prepare(`SELECT model_id AS modelId, location, dim, added_at AS addedAt FROM models ORDER BY added_at, model_id`).all() as ModelRow[];
  }

  /**
   * The encoder to use: the one `name` names (its full id, the name it was embedded with, a folder
   * path, a hub id: see matchEncoder), or the bank's only one. Errors list the bank's encoders.
   */
  resolveModel(name?: string): ModelRow {
    const models = this.models();
    if (name !== undefined) {
      const found = matchEncoder(models, name);
      if (!found) {
        throw new LabelBankError('NO_EMBEDDINGS', `no embeddings of encoder "${name}" in ${this.file}; its encoders: ${listEncoders(models)} (name one by its id or by the name in brackets; or run label-bank embed --model ${name})`);
      }
      return found;
    }
    if (models.length === 0) throw new LabelBankError('NO_EMBEDDINGS', `no embeddings in ${this.file}; run label-bank embed --model ...`);
    if (models.length > 1) {
      throw new LabelBankError(
        'BAD_ARGUMENT',
        `${this.file} holds embeddings of ${models.length} encoders: ${listEncoders(models)}; name one by its id or by the name in brackets (label-bank: --model NAME; train: --encoder NAME)`,
      );
    }
    return models[0] as ModelRow;
  }

  registerModel(modelId: string, location: string, dim: number): void {
    const existing = this.models().find((m) => m.modelId === modelId);
    if (existing && existing.dim !== dim) {
      throw new LabelBankError('BAD_ARGUMENT', `model ${modelId} gave ${dim}-d vectors but the bank holds ${existing.dim}-d ones for it`);
    }
    this.db
      .prepare(`INSERT INTO models (model_id, location, dim, added_at) VALUES (?, ?, ?, ?) ON CONFLICT (model_id) DO UPDATE SET location = excluded.location`)
      .run(modelId, location, dim, now());
  }

  /** Which of `texts` have no cached embedding for the model yet (order kept, duplicates dropped). */
  missingTexts(modelId: string, texts: string[]): string[] {
    const has = this.db.prepare(`SELECT 1 FROM embeddings WHERE model_id = ? AND text_sha256 = ?`).pluck();
    return [...new Set(texts)].filter((t) => has.get(modelId, sha256(t)) === undefined);
  }

  embedding(modelId: string, text: string): Float32Array | undefined {
    const row = this.stmt(`SELECT vector FROM embeddings WHERE model_id = ? AND text_sha256 = ?`).get(modelId, sha256(text)) as
      | { vector: Buffer }
      | undefined;
    return row ? bufferToVector(row.vector) : undefined;
  }

  /** Stores vectors in one transaction. */
  putEmbeddings(modelId: string, entries: { text: string; vector: Float32Array }[]): void {
    const insert = this.db.prepare(
      `INSERT OR REPLACE INTO embeddings (model_id, text_sha256, text, dim, vector, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
    );
    const at = now();
    this.db.transaction(() => {
      for (const { text, vector } of entries) {
        insert.run(modelId, sha256(text), text, vector.length, Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength), at);
      }
    })();
  }

  countEmbeddings(modelId?: string): number {
    const sql = modelId === undefined ? `SELECT COUNT(*) FROM embeddings` : `SELECT COUNT(*) FROM embeddings WHERE model_id = ?`;
    const stmt = this.db.prepare(sql).pluck();
    return Number(modelId === undefined ? stmt.get() : stmt.get(modelId));
  }

  /**
   * All labels (id order) and their embeddings for one model and text kind, as a labels × dim
   * Float32Array. Errors, naming the labels, when some have not been embedded yet.
   */
  embeddingMatrix(kind: TextKind, modelId?: string, labels: LabelRow[] = this.labels()): EmbeddingMatrix {
    const model = this.resolveModel(modelId);
    const data = new Float32Array(labels.length * model.dim);
    const missing: string[] = [];
    labels.forEach((label, row) => {
      const vec = this.embedding(model.modelId, labelText(label, kind));
      if (!vec) missing.push(label.name);
      else data.set(vec, row * model.dim);
    });
    if (missing.length > 0) throw missingEmbeddingsError(kind, model.modelId, missing);
    return { modelId: model.modelId, kind, labels, dim: model.dim, data };
  }
}

/** The error for labels whose text of a kind has no embedding of a model yet (NO_EMBEDDINGS, naming them). */
export function missingEmbeddingsError(kind: TextKind, modelId: string, missing: string[]): LabelBankError {
  const shown = missing.slice(0, 8).join(', ') + (missing.length > 8 ? `, … (${missing.length} in all)` : '');
  return new LabelBankError('NO_EMBEDDINGS', `${kind} embeddings missing for model ${modelId}: ${shown}; run label-bank embed`);
}
