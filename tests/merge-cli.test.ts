import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ManifestReader } from '@sentseg/dataset-tools';
import { writeAde20k, writeCityscapes } from '@sentseg/dataset-tools/testing';
import { REPO, tempDir } from './utils.js';
import { runCli, startCli } from './run-cli.js';

const MERGE = path.join(REPO, 'packages', 'dataset-tools', 'dist', 'cli.js');
const MANIFEST = path.join(REPO, 'packages', 'dataset-tools', 'dist', 'manifest-cli.js');
const dir = tempDir('sentseg-merge-cli-');

const run = (bin: string, args: string[]) => runCli(bin, args, { cwd: dir });

/**
 * Runs a merge into `out` and SIGKILLs it once it has begun writing (a file beside `out` named
 * after it exists, and half a second has passed): a crash part-way, whatever the machine's load.
 */
async function killOnceWriting(args: string[], out: string) {
  const started = startCli(MERGE, args, { cwd: dir });
  const base = path.basename(out);
  const deadline = Date.now() + 120_000;
  let seenAt: number | undefined;
  while (Date.now() < deadline && started.child.exitCode === null) {
    if (seenAt === undefined && readdirSync(dir).some((f) => f.startsWith(`${base}.`))) seenAt = Date.now();
    if (seenAt !== undefined && Date.now() - seenAt >= 500) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  started.child.kill('SIGKILL');
  return started.done;
}

beforeAll(async () => {
  await writeCityscapes(path.join(dir, 'cityscapes'), { train: 4, val: 2 }, [32, 16]);
  await writeAde20k(path.join(dir, 'ade'), { training: 3 }, [24, 20]);
  await writeAde20k(path.join(dir, 'ade-kill'), { training: 3 }, [24, 20]);
  // A dataset whose 40th mask is a FIFO nobody writes to: reading it blocks, so the merge is
  // reliably still running (rows written, transaction open) when the test kills it.
  await writeCityscapes(path.join(dir, 'big'), { train: 60 }, [64, 32], 11);
  const stuck = path.join(dir, 'big', 'gtFine', 'train', 'aachen', 'aachen_000040_000019_gtFine_labelIds.png');
  rmSync(stuck);
  execFileSync('mkfifo', [stuck]);
});

describe('merge-datasets and manifest commands', () => {
  it('merge-datasets --help describes the formats', async () => {
    const r = await run(MERGE, ['--help']);
    expect(r.code).toBe(0);
    for (const f of ['ade20k', 'cityscapes', 'coco-panoptic', 'bdd100k', 'sun-rgbd', 'generic', '--keep-unmapped', '--replace', '--workers']) expect(r.stdout).toContain(f);
  });

  it('merges, prints a summary, and stats and validate read the manifest', async () => {
    const out = path.join(dir, 'm.sqlite');
    const r = await run(MERGE, ['--dataset', `cityscapes=${path.join(dir, 'cityscapes')}`, '--dataset', `ade=${path.join(dir, 'ade')}`, '--out', out, '--workers', '2']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/cityscapes +cityscapes +6 images +0 problems/);
    expect(r.stdout).toMatch(/ade +ade20k +3 images +0 problems/);
    const stats = await run(MANIFEST, ['stats', out, '--html', path.join(dir, 'coverage.html')]);
    expect(stats.code).toBe(0);
    expect(stats.stdout).toMatch(/cityscapes +cityscapes +6 +0 +train 4, val 2/);
    expect(stats.stdout).toMatch(/labels present: \d+/);
    const html = readFileSync(path.join(dir, 'coverage.html'), 'utf8');
    expect(html).toContain('data:image/png;base64,');
    const json = JSON.parse((await run(MANIFEST, ['stats', out, '--json'])).stdout) as { labels: { share: number }[] };
    expect(json.labels.reduce((s, l) => s + l.share, 0)).toBeCloseTo(1, 6);
    const ok = await run(MANIFEST, ['validate', out]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/9 images checked, 0 problems/);
  });

  it('validate exits 2 (bad input, not a bug) and names the file when one goes missing', async () => {
    const out = path.join(dir, 'v.sqlite');
    await run(MERGE, ['--dataset', `ade=${path.join(dir, 'ade')}`, '--out', out]);
    rmSync(path.join(dir, 'ade', 'annotations', 'training', 'ADE_train_00000003.png'));
    const bad = await run(MANIFEST, ['validate', out]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^error: .*v\.sqlite: 1 problem found on disk \(listed above\)\n$/);
    expect(bad.stdout).toMatch(/ade: .*ADE_train_00000003\.png: mask missing/);
    expect(bad.stdout).toContain('3 images checked, 1 problem found now; 0 recorded when merging');
  });

  it('a numeric option that is not a whole number (or below its least) is refused: exit 2 naming it, nothing written', async () => {
    const out = path.join(dir, 'numbers.sqlite');
    const cases: [string, string[], RegExp][] = [
      [MERGE, ['--limit', 'abc'], /^error: --limit takes a positive integer, got "abc"\n/],
      [MERGE, ['--limit', '0'], /^error: --limit takes a positive integer, got "0"\n/],
      [MERGE, ['--limit=-1'], /^error: --limit takes a positive integer, got "-1"\n/],
      [MERGE, ['--workers', 'abc'], /^error: --workers takes a whole number ≥ 0, got "abc"\n/],
      [MERGE, ['--workers', '1.5'], /^error: --workers takes a whole number ≥ 0, got "1.5"\n/],
    ];
    for (const [bin, extra, message] of cases) {
      const r = await run(bin, ['--dataset', `ade20k=${path.join(dir, 'ade')}`, '--out', out, ...extra]);
      expect(r.code, extra.join(' ')).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(existsSync(out)).toBe(false);
    }
    const validate = await run(MANIFEST, ['validate', out, '--workers', 'many']);
    expect(validate.code).toBe(2);
    expect(validate.stderr).toMatch(/^error: --workers takes a whole number ≥ 0, got "many"\n/);
  });

  it('--split naming no split the dataset has: exit 2 naming the splits it has', async () => {
    const out = path.join(dir, 'split.sqlite');
    const ade = path.join(dir, 'ade-split');
    await writeAde20k(ade, { training: 3 }, [24, 20]);
    const refused = await run(MERGE, ['--dataset', `ade=${ade}`, '--out', out, '--split', 'nosuchsplit']);
    expect(refused.code).toBe(2);
    // Refused before any dataset is read: the error is the only line.
    expect(refused.stderr).toBe(`error: no split "nosuchsplit" in ade20k dataset "ade" (has: training); no manifest written (${out} does not exist)\n`);
    const city = await run(MERGE, ['--dataset', `cityscapes=${path.join(dir, 'cityscapes')}`, '--out', out, '--split', 'training,nosuch']);
    expect(city.code).toBe(2);
    expect(city.stderr).toContain('error: no split "training" or "nosuch" in cityscapes dataset "cityscapes" (has: train, val);');
    expect(existsSync(out)).toBe(false);
    // One --split applies to every dataset: a split only one of them has is read from that one.
    const both = await run(MERGE, ['--dataset', `cityscapes=${path.join(dir, 'cityscapes')}`, '--dataset', `ade=${ade}`, '--out', out, '--split', 'val,training']);
    expect(both.code, both.stderr).toBe(0);
    expect(both.stdout).toMatch(/cityscapes +cityscapes +2 images/);
    expect(both.stdout).toMatch(/ade +ade20k +3 images/);
  });

  it('a bad argument or folder is a clear error with exit 2', async () => {
    const r = await run(MERGE, ['--dataset', 'nonsense', '--out', path.join(dir, 'x.sqlite')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--dataset must be NAME=VALUE, not "nonsense"/);
    const missing = await run(MERGE, ['--dataset', `x=${path.join(dir, 'nowhere')}`, '--out', path.join(dir, 'x.sqlite')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/dataset folder not found: .*nowhere/);
    expect(existsSync(path.join(dir, 'x.sqlite'))).toBe(false);
  });

  it('an annotation JSON cut short or corrupt: exit 2 naming the file and the byte offset, the manifest left byte-identical', async () => {
    const out = path.join(dir, 'o365-bad.sqlite');
    await run(MERGE, ['--dataset', `ade=${path.join(dir, 'ade')}`, '--out', out]);
    const before = readFileSync(out);
    const root = path.join(dir, 'o365-cut');
    mkdirSync(path.join(root, 'annotations'), { recursive: true });
    const json = JSON.stringify({ images: [{ id: 1, file_name: 'images/v2/patch0/a.jpg', width: 20, height: 10 }], annotations: [{ id: 1, image_id: 1, category_id: 1, bbox: [1, 1, 5, 5] }], categories: [{ id: 1, name: 'Person' }] });
    for (const [text, offset, why] of [
      [json.slice(0, 120), 120, /the file ends inside a value/],
      // The comma between the first image and the annotations array replaced.
      [`${json.slice(0, json.indexOf('],"annotations"') + 1)}?${json.slice(json.indexOf('],"annotations"') + 2)}`, json.indexOf('],"annotations"') + 1, /Unexpected "\?"/],
    ] as const) {
      writeFileSync(path.join(root, 'annotations', 'zhiyuan_objv2_train.json'), text);
      const r = await run(MERGE, ['--dataset', `o365=${root}`, '--out', out]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`annotations/zhiyuan_objv2_train.json: malformed JSON at byte ${offset}: `);
      expect(r.stderr).toMatch(why);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(readFileSync(out).equals(before)).toBe(true);
      expect(readdirSync(dir).filter((f) => f.startsWith('o365-bad.sqlite'))).toEqual(['o365-bad.sqlite']);
    }
  });

  it('a kill mid-run never leaves a half-written manifest', async () => {
    const out = path.join(dir, 'killed.sqlite');
    // A manifest with one dataset, then a long merge of a second one killed part-way.
    await run(MERGE, ['--dataset', `ade=${path.join(dir, 'ade-kill')}`, '--out', out]);
    const killed = await killOnceWriting(['--dataset', `big=${path.join(dir, 'big')}`, '--out', out, '--workers', '1'], out);
    expect(killed.signal).toBe('SIGKILL');
    const reader = ManifestReader.open(out);
    expect(reader.datasets().map((d) => [d.name, d.images])).toEqual([['ade', 3]]);
    reader.close();
    // A new manifest killed part-way is not left at its path at all.
    const fresh = path.join(dir, 'fresh.sqlite');
    const again = await killOnceWriting(['--dataset', `big=${path.join(dir, 'big')}`, '--out', fresh, '--workers', '1'], fresh);
    expect(again.signal).toBe('SIGKILL');
    expect(existsSync(fresh)).toBe(false);
    expect(readdirSync(dir).some((f) => f.startsWith('fresh.sqlite.partial-'))).toBe(true);
  });
});
