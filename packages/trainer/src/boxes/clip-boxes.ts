/**
 * CLIP image embeddings of box crops, the targets of L_WD. Computed once with a CLIP vision tower
 * (label-bank's loadClipVisionEncoder) and cached in SQLite keyed by (model, dataset, image,
 * box), so training never recomputes them.
 */
import path from 'node:path';
import Database from 'better-sqlite3';
import sharp from 'sharp';
import { sqliteKindMismatch } from '@sentseg/common';
import type { VisionEncoder } from '@sentseg/label-bank';
import type { ManifestReader } from '@sentseg/dataset-tools';
import { TrainerError } from '../errors.js';

// The vision tower itself is label-bank's CLIP module (clip/vision.ts), shared with the text tower.
export { loadClipVisionEncoder, type VisionEncoder } from '@sentseg/label-bank';

/** Version of the box-embedding cache's tables; a file of another version is refused. */
export const BOX_CACHE_SCHEMA_VERSION = 1;

const BOX_CACHE_SQL = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS box_embeddings (model_id TEXT NOT NULL, box_key TEXT NOT NULL, dim INTEGER NOT NULL, vector BLOB NOT NULL, PRIMARY KEY (model_id, box_key));
`;

/**
 * (model, box key) → vector, in one SQLite file with a `meta` table holding its `schema_version`,
 * like the manifest and the label bank. The file's kind is read before it is opened for writing:
 * a manifest or a label bank named as the cache is refused and left byte-identical. A cache of
 * version 1 written before the meta table existed has the same rows and gets the table. The
 * handle is closed by close(), or at process exit if a command ends without it (a second Ctrl-C),
 * so no -wal/-shm files are left beside the cache.
 */
export class BoxEmbeddingCache {
  private readonly db: Database.Database;
  private readonly closeAtExit = () => this.close();

  constructor(readonly file: string) {
    const mismatch = sqliteKindMismatch(file, 'box-embeddings', true);
    if (mismatch !== null) throw new TrainerError(`box-embedding cache (boxCache): ${mismatch}; name another file with --set boxCache=FILE`);
    this.db = new Database(file);
    try {
      this.db.pragma('journal_mode = WAL');
      this.db.transaction(() => {
        const hasMeta = this.db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'`).get() !== undefined;
        const version = hasMeta ? (this.db.prepare(`SELECT value FROM meta WHERE key = 'schema_version'`).get() as { value: string } | undefined)?.value : undefined;
        if (version !== undefined && version !== String(BOX_CACHE_SCHEMA_VERSION)) {
          throw new TrainerError(`box-embedding cache ${file} has schema ${version}, this trainer reads ${BOX_CACHE_SCHEMA_VERSION}: delete it (it is recomputed) or name another file with --set boxCache=FILE`);
        }
        this.db.exec(BOX_CACHE_SQL);
        if (version === undefined) this.db.prepare(`INSERT INTO meta (key, value) VALUES ('schema_version', ?), ('created_at', ?)`).run(String(BOX_CACHE_SCHEMA_VERSION), new Date().toISOString());
      })();
    } catch (err) {
      this.db.close();
      throw err;
    }
    process.on('exit', this.closeAtExit);
  }

  get(modelId: string, key: string): Float32Array | undefined {
    const row = this.db.prepare('SELECT vector FROM box_embeddings WHERE model_id = ? AND box_key = ?').get(modelId, key) as { vector: Buffer } | undefined;
    return row ? new Float32Array(row.vector.buffer.slice(row.vector.byteOffset, row.vector.byteOffset + row.vector.byteLength)) : undefined;
  }

  putMany(modelId: string, entries: { key: string; vector: Float32Array }[]): void {
    const insert = this.db.prepare('INSERT OR REPLACE INTO box_embeddings VALUES (?, ?, ?, ?)');
    this.db.transaction(() => {
      for (const e of entries) insert.run(modelId, e.key, e.vector.length, Buffer.from(e.vector.buffer, e.vector.byteOffset, e.vector.byteLength));
    })();
  }

  count(modelId: string): number {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM box_embeddings WHERE model_id = ?').get(modelId) as { n: number }).n;
  }

  close(): void {
    process.off('exit', this.closeAtExit);
    if (this.db.open) this.db.close();
  }
}

export interface BoxEmbeddings {
  modelId: string;
  dim: number;
  /** Box id (manifest) → L2-normalised CLIP embedding of its crop. */
  vectors: Map<number, Float32Array>;
  computed: number;
  cached: number;
}

/** The key of a box: dataset, image path relative to the root, and its coordinates. */
export function boxKey(dataset: string, image: string, root: string, box: { x: number; y: number; w: number; h: number }): string {
  return `${dataset}/${path.relative(root, image)}#${box.x},${box.y},${box.w},${box.h}`;
}

/** Embeddings of every box of the given images: from the cache, else computed (and cached). */
export async function boxEmbeddings(
  reader: ManifestReader,
  images: { dataset: string; imageId: number }[],
  encoder: VisionEncoder,
  cache: BoxEmbeddingCache,
  onProgress?: (done: number, total: number) => void,
): Promise<BoxEmbeddings> {
  const vectors = new Map<number, Float32Array>();
  const roots = new Map(reader.datasets().map((d) => [d.name, d.root]));
  let computed = 0;
  let cached = 0;
  for (const [n, { dataset, imageId }] of images.entries()) {
    const sample = reader.sample(imageId);
    if (!sample) continue;
    const boxes = reader.boxes(imageId);
    const missing: { boxId: number; key: string; box: (typeof boxes)[number] }[] = [];
    for (const box of boxes) {
      const key = boxKey(dataset, sample.image, roots.get(dataset) as string, box);
      const hit = cache.get(encoder.modelId, key);
      if (hit) {
        vectors.set(box.boxId, hit);
        cached += 1;
      } else missing.push({ boxId: box.boxId, key, box });
    }
    if (missing.length > 0) {
      let crops: { rgb: Uint8Array; width: number; height: number }[];
      try {
        // Decode the image once; cut every box from the decoded pixels.
        const { data, info } = await sharp(sample.image).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
        crops = await Promise.all(
          missing.map(async ({ box }) => {
            const left = Math.min(info.width - 1, Math.max(0, Math.floor(box.x)));
            const top = Math.min(info.height - 1, Math.max(0, Math.floor(box.y)));
            const width = Math.max(1, Math.min(info.width - left, Math.ceil(box.x + box.w) - left));
            const height = Math.max(1, Math.min(info.height - top, Math.ceil(box.y + box.h) - top));
            const rgb = await sharp(data, { raw: { width: info.width, height: info.height, channels: 3 } }).extract({ left, top, width, height }).raw().toBuffer();
            return { rgb: new Uint8Array(rgb), width, height };
          }),
        );
      } catch {
        // An unreadable image is skipped by the loader too; its boxes have no target.
        onProgress?.(n + 1, images.length);
        continue;
      }
      const embedded = await encoder.embed(crops);
      cache.putMany(encoder.modelId, missing.map((m, i) => ({ key: m.key, vector: embedded[i] as Float32Array })));
      missing.forEach((m, i) => vectors.set(m.boxId, embedded[i] as Float32Array));
      computed += missing.length;
    }
    onProgress?.(n + 1, images.length);
  }
  const dim = vectors.values().next().value?.length ?? 0;
  return { modelId: encoder.modelId, dim, vectors, computed, cached };
}
