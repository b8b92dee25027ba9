/**
 * Embedding matrices computed elsewhere (Python: open_clip, SigLIP, larger CLIPs), read from
 * NumPy .npy (format 1.0–3.0, float16/float32, either byte order, C or Fortran order), JSON (an
 * array of rows) or safetensors (one 2-D F16/F32 tensor), as rows × dim float32.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { LabelBankError } from '../errors.js';

export interface VectorMatrix {
  rows: number;
  dim: number;
  /** Row-major rows × dim. */
  data: Float32Array;
  /** What the file stored: float16 or float32. */
  dtype: 'float16' | 'float32';
}

const bad = (file: string, why: string) => new LabelBankError('BAD_ARGUMENT', `cannot read embeddings from ${file}: ${why}`);

/** IEEE 754 half → float. */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * 2 ** -14 * (frac / 1024);
  if (exp === 0x1f) return frac === 0 ? sign * Infinity : NaN;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}

function decode(file: string, bytes: Uint8Array, dtype: 'float16' | 'float32', littleEndian: boolean, count: number): Float32Array {
  const width = dtype === 'float16' ? 2 : 4;
  if (bytes.byteLength < count * width) throw bad(file, `the data is ${bytes.byteLength} bytes, the shape needs ${count * width}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, count * width);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = dtype === 'float16' ? halfToFloat(view.getUint16(i * 2, littleEndian)) : view.getFloat32(i * 4, littleEndian);
  return out;
}

function readNpy(file: string, buf: Buffer): VectorMatrix {
  if (buf.length < 10 || buf.toString('latin1', 0, 6) !== '\x93NUMPY') throw bad(file, 'not a NumPy .npy file (no \\x93NUMPY magic)');
  const major = buf[6] as number;
  const headerLen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  const header = buf.toString(major === 3 ? 'utf8' : 'latin1', start, start + headerLen);
  const descr = /'descr':\s*'([<>|=]?)([fiu])(\d+)'/.exec(header);
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1] === 'True';
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || shapeText === undefined) throw bad(file, `unreadable .npy header ${header.trim()}`);
  const kind = `${descr[2]}${descr[3]}`;
  if (kind !== 'f2' && kind !== 'f4') throw bad(file, `dtype ${descr[1]}${kind}; float16 (<f2) or float32 (<f4) expected`);
  const shape = shapeText.split(',').map((s) => s.trim()).filter((s) => s !== '').map(Number);
  if (shape.length !== 2) throw bad(file, `shape (${shapeText}); a 2-D rows × dim array expected`);
  const [rows, dim] = shape as [number, number];
  const dtype = kind === 'f2' ? 'float16' : 'float32';
  const raw = decode(file, buf.subarray(start + headerLen), dtype, descr[1] !== '>', rows * dim);
  if (!fortran) return { rows, dim, data: raw, dtype };
  const data = new Float32Array(rows * dim);
  for (let r = 0; r < rows; r++) for (let c = 0; c < dim; c++) data[r * dim + c] = raw[c * rows + r] as number;
  return { rows, dim, data, dtype };
}

function readSafetensors(file: string, buf: Buffer, tensor?: string): VectorMatrix {
  if (buf.length < 8) throw bad(file, 'too short for safetensors');
  const headerLen = Number(buf.readBigUInt64LE(0));
  if (headerLen <= 0 || 8 + headerLen > buf.length) throw bad(file, 'not a safetensors file (header length out of range)');
  let header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  try {
    header = JSON.parse(buf.toString('utf8', 8, 8 + headerLen)) as typeof header;
  } catch {
    throw bad(file, 'not a safetensors file (header is not JSON)');
  }
  const names = Object.keys(header).filter((k) => k !== '__metadata__');
  const chosen = tensor ?? (names.length === 1 ? names[0] : undefined);
  if (chosen === undefined || header[chosen] === undefined) {
    throw bad(file, tensor === undefined ? `it holds ${names.length} tensors (${names.join(', ')}); name one with --tensor` : `no tensor "${tensor}" (it holds ${names.join(', ')})`);
  }
  const t = header[chosen];
  if (t.dtype !== 'F16' && t.dtype !== 'F32') throw bad(file, `tensor "${chosen}" is ${t.dtype}; F16 or F32 expected`);
  if (t.shape.length !== 2) throw bad(file, `tensor "${chosen}" has shape [${t.shape.join(', ')}]; a 2-D rows × dim tensor expected`);
  const [rows, dim] = t.shape as [number, number];
  const dtype = t.dtype === 'F16' ? 'float16' : 'float32';
  const bytes = buf.subarray(8 + headerLen + t.data_offsets[0], 8 + headerLen + t.data_offsets[1]);
  return { rows, dim, data: decode(file, bytes, dtype, true, rows * dim), dtype };
}

function readJson(file: string, buf: Buffer): VectorMatrix {
  let value: unknown;
  try {
    value = JSON.parse(buf.toString('utf8'));
  } catch (err) {
    throw bad(file, `not JSON (${(err as Error).message})`);
  }
  if (!Array.isArray(value) || value.length === 0 || !value.every((r) => Array.isArray(r))) throw bad(file, 'a JSON array of rows (arrays of numbers) expected');
  const rows = value as unknown[][];
  const dim = rows[0]?.length ?? 0;
  const data = new Float32Array(rows.length * dim);
  rows.forEach((row, r) => {
    if (row.length !== dim) throw bad(file, `row ${r + 1} has ${row.length} numbers, row 1 has ${dim}`);
    row.forEach((x, c) => {
      if (typeof x !== 'number') throw bad(file, `row ${r + 1}, column ${c + 1} is not a number`);
      data[r * dim + c] = x;
    });
  });
  return { rows: rows.length, dim, data, dtype: 'float32' };
}

/** Reads an embedding matrix by its extension: .npy, .json or .safetensors. */
export function readVectorFile(file: string, options: { tensor?: string } = {}): VectorMatrix {
  let buf: Buffer;
  try {
    buf = readFileSync(file);
  } catch (err) {
    throw new LabelBankError('BAD_ARGUMENT', `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const ext = path.extname(file).toLowerCase();
  if (ext === '.npy') return readNpy(file, buf);
  if (ext === '.safetensors') return readSafetensors(file, buf, options.tensor);
  if (ext === '.json') return readJson(file, buf);
  throw bad(file, `unknown extension "${ext}"; .npy, .json or .safetensors expected`);
}
