/**
 * merge-datasets and manifest as a new user meets them (issue 11): a file of the wrong kind given as
 * --out or as a manifest, a merge that fails or is interrupted half-way, problems that must be
 * visible, hints that must name real flags, a validation-only ADE20K download, a dataset named
 * after a format or already in the manifest, and --help text.
 * Every command runs as the user runs it: the built bins, in a child process.
 */
import { spawn } from 'node:child_process';
import Database from 'better-sqlite3';
import { existsSync, linkSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ManifestReader } from '@sentseg/dataset-tools';
import { writeAde20k, writeCityscapes, writeObjects365 } from '@sentseg/dataset-tools/testing';
import { LabelBank } from '@sentseg/label-bank';
import { REPO, tempDir } from './utils.js';
import { runCli, startCli } from './run-cli.js';

const MERGE = path.join(REPO, 'packages', 'dataset-tools', 'dist', 'cli.js');
const MANIFEST = path.join(REPO, 'packages', 'dataset-tools', 'dist', 'manifest-cli.js');
const SENTSEG = path.join(REPO, 'packages', 'cli', 'dist', 'cli.js');
const dir = tempDir('sentseg-dt-first-hour-');
const at = (...parts: string[]) => path.join(dir, ...parts);

const start = (bin: string, args: string[]) => startCli(bin, args, { cwd: dir });
const run = (bin: string, args: string[]) => runCli(bin, args, { cwd: dir });

/** SQLite files beside `file`: the -wal/-shm a connection left, and .partial-PID files of a merge. */
const leftovers = (file: string) => readdirSync(path.dirname(file)).filter((f) => f.startsWith(`${path.basename(file)}-`) || f.startsWith(`${path.basename(file)}.partial-`));

const cityMask = (root: string, i: number) => {
  const city = i % 2 === 0 ? 'aachen' : 'bremen';
  return path.join(root, 'gtFine', 'train', city, `${city}_${String(i).padStart(6, '0')}_000019_gtFine_labelIds.png`);
};

/** Resolves once `text` appears on the child's stderr (the merge's per-dataset progress line). */
async function waitForStderr(started: ReturnType<typeof start>, text: string, timeoutMs = 8000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!started.stderr().includes(text)) {
    if (Date.now() > until) throw new Error(`no "${text}" on stderr within ${timeoutMs} ms: ${started.stderr()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

beforeAll(async () => {
  await writeAde20k(at('ade'), { training: 3 }, [24, 20]);
  await writeCityscapes(at('cs'), { train: 2 }, [32, 16]);
  // 10 images, 7 of them with a mask that is no PNG: 3 usable, 7 problems.
  await writeCityscapes(at('broken'), { train: 10 }, [16, 8], 5);
  for (let i = 0; i < 7; i++) writeFileSync(cityMask(at('broken'), i), 'not a png');
  // No usable image at all.
  await writeCityscapes(at('all-broken'), { train: 2 }, [8, 8], 4);
  for (let i = 0; i < 2; i++) writeFileSync(cityMask(at('all-broken'), i), 'x');
  // An evaluation-only ADE20K download: images/validation and annotations/validation, nothing else.
  await writeAde20k(at('ADE-val'), { validation: 2 }, [16, 12]);
  // A dataset slow enough to be mid-merge when Ctrl-C comes (seconds, it is never merged whole): 1000 hard links of one 2048×1024 pair.
  await writeCityscapes(at('big'), { train: 1 }, [2048, 1024]);
  for (let i = 1; i < 1000; i++) {
    const name = `aachen_${String(1000 + i).padStart(6, '0')}_000019`;
    linkSync(at('big', 'leftImg8bit', 'train', 'aachen', 'aachen_000000_000019_leftImg8bit.png'), at('big', 'leftImg8bit', 'train', 'aachen', `${name}_leftImg8bit.png`));
    linkSync(cityMask(at('big'), 0), at('big', 'gtFine', 'train', 'aachen', `${name}_gtFine_labelIds.png`));
  }
  // The other kinds of file a user may pass by mistake.
  LabelBank.open(at('label-bank.sqlite')).close();
  const other = new Database(at('other.sqlite'));
  other.exec(`CREATE TABLE notes (text TEXT); INSERT INTO notes VALUES ('mine')`);
  other.close();
  writeFileSync(at('notes.txt'), 'not a database\n');
  await writeObjects365(at('o365'), { train: 2 }, [16, 12], { version: 'v2', categories: [{ id: 1, name: 'person' }] });
}, 60_000);

describe('a file of the wrong kind', () => {
  it('given as merge-datasets --out is refused with its path and what it is, left byte-identical with no -wal/-shm', async () => {
    const cases: [string, RegExp][] = [
      ['label-bank.sqlite', /is a sentseg label bank \(label-bank\), not a sentseg manifest \(merge-datasets\)/],
      ['other.sqlite', /is a SQLite database of another program, not a sentseg manifest \(merge-datasets\)/],
      ['notes.txt', /is not a SQLite database, not a sentseg manifest \(merge-datasets\)/],
    ];
    for (const [name, what] of cases) {
      const file = at(name);
      const before = readFileSync(file);
      const r = await run(MERGE, ['--dataset', `ade=${at('ade')}`, '--out', file, '--workers', '0']);
      expect(r.code, name).toBe(2);
      expect(r.stderr, name).toMatch(new RegExp(`^error: --out ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} ${what.source}; it was left unchanged`));
      expect(r.stderr.trim().split('\n'), name).toHaveLength(1);
      expect(readFileSync(file).equals(before), `${name} is byte-identical`).toBe(true);
      expect(leftovers(file), name).toEqual([]);
    }
  });

  it('given to manifest stats, validate or problems is exit 2 with one line naming it, never a stack', async () => {
    for (const command of ['stats', 'validate', 'problems']) {
      const r = await run(MANIFEST, [command, at('label-bank.sqlite')]);
      expect(r.code, command).toBe(2);
      expect(r.stderr, command).toBe(`error: ${at('label-bank.sqlite')} is a sentseg label bank (label-bank), not a sentseg manifest (merge-datasets)\n`);
    }
    expect(leftovers(at('label-bank.sqlite'))).toEqual([]);
  });
});

describe('files are never half-written', () => {
  it('merge, stats, validate and problems leave no -wal/-shm beside the manifest', async () => {
    const out = at('clean.sqlite');
    expect((await run(MERGE, ['--dataset', `ade=${at('ade')}`, '--out', out, '--workers', '0'])).code).toBe(0);
    expect(leftovers(out)).toEqual([]);
    for (const args of [['stats', out], ['stats', out, '--json'], ['validate', out, '--workers', '0'], ['problems', out]]) {
      const r = await run(MANIFEST, args);
      expect(r.code, args.join(' ')).toBe(0);
      expect(leftovers(out), args.join(' ')).toEqual([]);
    }
  });

  it('a failed new merge leaves no file; a failed dataset leaves an existing manifest as it was before that dataset, and says so', async () => {
    const fresh = at('fresh.sqlite');
    const r = await run(MERGE, ['--dataset', `ade=${at('ade')}`, '--dataset', `bad=${at('all-broken')}`, '--format', 'bad=cityscapes', '--out', fresh, '--workers', '0']);
    expect(r.code).toBe(2);
    expect(existsSync(fresh)).toBe(false);
    expect(leftovers(fresh)).toEqual([]);
    expect(r.stderr).toMatch(/\nerror: no usable images in cityscapes dataset "bad" at .*all-broken \(2 problems; the first: gtFine\/train\/aachen\/aachen_000000_000019_gtFine_labelIds\.png: .*\); no manifest written \(.*fresh\.sqlite does not exist\)\n$/);

    const existing = at('existing.sqlite');
    expect((await run(MERGE, ['--dataset', `cs=${at('cs')}`, '--out', existing, '--workers', '0'])).code).toBe(0);
    const again = await run(MERGE, ['--dataset', `ade=${at('ade')}`, '--dataset', `bad=${at('all-broken')}`, '--format', 'bad=cityscapes', '--out', existing, '--workers', '0']);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/; .*existing\.sqlite keeps ade \(committed before the failure\); bad was rolled back\n$/);
    const reader = ManifestReader.open(existing);
    expect(reader.datasets().map((d) => [d.name, d.images])).toEqual([['ade', 3], ['cs', 2]]);
    reader.close();
    expect(leftovers(existing)).toEqual([]);
  });

  it('Ctrl-C mid-merge says what it did, exits 130, and leaves no .partial, -wal or -shm file', async () => {
    // A new manifest: the small dataset was merged into the partial file, which goes with the rest.
    const fresh = at('ctrl-c-new.sqlite');
    const first = start(MERGE, ['--dataset', `cs=${at('cs')}`, '--dataset', `big=${at('big')}`, '--out', fresh, '--workers', '1']);
    await waitForStderr(first, 'merging big (cityscapes)');
    first.child.kill('SIGINT');
    const r = await first.done;
    expect([r.code, r.signal]).toEqual([130, null]);
    expect(r.stderr).toMatch(/\ninterrupted: no manifest written \(.*ctrl-c-new\.sqlite does not exist; cs had been merged into its partial file, now removed\)\n$/);
    expect(existsSync(fresh)).toBe(false);
    expect(leftovers(fresh)).toEqual([]);

    // An existing manifest: cs is committed, big rolled back, ade untouched.
    const existing = at('ctrl-c-existing.sqlite');
    expect((await run(MERGE, ['--dataset', `ade=${at('ade')}`, '--out', existing, '--workers', '0'])).code).toBe(0);
    const second = start(MERGE, ['--dataset', `cs=${at('cs')}`, '--dataset', `big=${at('big')}`, '--out', existing, '--workers', '1']);
    await waitForStderr(second, 'merging big (cityscapes)');
    second.child.kill('SIGINT');
    const s = await second.done;
    expect([s.code, s.signal]).toEqual([130, null]);
    expect(s.stderr).toMatch(/\ninterrupted: cs committed to .*ctrl-c-existing\.sqlite; big was rolled back; the other datasets of .*ctrl-c-existing\.sqlite are as they were\n$/);
    expect(leftovers(existing)).toEqual([]);
    const reader = ManifestReader.open(existing);
    expect(reader.datasets().map((d) => [d.name, d.images])).toEqual([['ade', 3], ['cs', 2]]);
    reader.close();
  }, 30_000);

  it('a later run removes the .partial-PID files of dead processes, and keeps those of live ones', async () => {
    const out = at('stale.sqlite');
    // A pid that was alive and is not any more: a child that has exited.
    const gone = await new Promise<number>((resolve) => {
      const child = spawn(process.execPath, ['-e', '']);
      child.on('close', () => resolve(child.pid as number));
    });
    for (const suffix of ['', '-wal', '-shm']) writeFileSync(`${out}.partial-${gone}${suffix}`, 'left by a killed merge');
    writeFileSync(`${out}.partial-${process.pid}`, 'a merge still running');
    const r = await run(MERGE, ['--dataset', `ade=${at('ade')}`, '--out', out, '--workers', '0']);
    expect(r.code).toBe(0);
    expect(leftovers(out)).toEqual([`stale.sqlite.partial-${process.pid}`]);
  });
});

describe('problems are visible', () => {
  it('a merge that skipped files writes the usable images, shows the first 5 problems and exits 2; manifest problems lists them all', async () => {
    const out = at('problems.sqlite');
    const r = await run(MERGE, ['--dataset', `broken=${at('broken')}`, '--format', 'broken=cityscapes', '--out', out, '--workers', '0']);
    expect(r.code).toBe(2);
    expect(r.stdout).toMatch(/^broken +cityscapes +3 images +7 problems/m);
    const shown = r.stdout.split('\n').filter((l) => /^ {2}broken: .*_gtFine_labelIds\.png: /.test(l));
    expect(shown).toHaveLength(5);
    expect(shown[0]).toContain(path.join(at('broken'), 'gtFine', 'train', 'aachen', 'aachen_000000_000019_gtFine_labelIds.png'));
    expect(r.stdout).toContain(`  ... and 2 more (manifest problems ${out} lists them)\nwrote ${out}\n`);
    expect(r.stderr).toMatch(/(^|\n)error: 7 files skipped or suspect, 7 problems \(listed above; manifest problems .*problems\.sqlite lists them all\); problems\.sqlite holds the 3 usable images of this run\n$/);
    expect(ManifestReader.open(out).dataset('broken').images).toBe(3);

    const listed = await run(MANIFEST, ['problems', out]);
    expect(listed.code).toBe(0);
    expect(listed.stdout.split('\n').filter((l) => l.startsWith('broken: '))).toHaveLength(7);
    expect(listed.stdout).toMatch(/\n7 problems in 7 files\n$/);
    const json = JSON.parse((await run(MANIFEST, ['problems', out, '--dataset', 'broken', '--json'])).stdout) as { dataset: string; file: string; path: string; reason: string }[];
    expect(json.map((p) => p.path)).toEqual([0, 1, 2, 3, 4, 5, 6].map((i) => cityMask(at('broken'), i)).sort());
    expect(json.every((p) => p.dataset === 'broken' && /corrupt or truncated PNG|not a PNG/i.test(p.reason))).toBe(true);
    const unknown = await run(MANIFEST, ['problems', out, '--dataset', 'nope']);
    expect([unknown.code, unknown.stderr]).toEqual([2, `error: no dataset "nope" in ${out} (has: broken)\n`]);

    // validate reports the recorded rows too; nothing is wrong on disk, so it exits 0.
    const valid = await run(MANIFEST, ['validate', out, '--workers', '0']);
    expect(valid.code).toBe(0);
    expect(valid.stdout).toMatch(/^recorded when merging \(7 problems, files skipped or suspect\):\n( {2}broken: .*\n){7}3 images checked, 0 problems found now; 7 recorded when merging\n$/);
  });
});

describe('hints and detection', () => {
  it('an unknown folder names the real flag, --format NAME=FORMAT, and that flag works; ade20k=PATH reads a validation-only download', async () => {
    const unknown = await run(MERGE, ['--dataset', `x=${at('ADE-val', 'images')}`, '--out', at('hint.sqlite')]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/^error: cannot tell the format of .*ADE-val\/images; name it with --format x=FORMAT \(formats: ade20k, /);
    const named = await run(MERGE, ['--dataset', `x=${at('ADE-val')}`, '--format', 'x=ade20k', '--out', at('named.sqlite'), '--workers', '0']);
    expect(named.code).toBe(0);
    const byName = await run(MERGE, ['--dataset', `ade20k=${at('ADE-val')}`, '--out', at('ade-val.sqlite'), '--workers', '0']);
    expect(byName.code).toBe(0);
    expect(byName.stdout).toMatch(/^ade20k +ade20k +2 images +0 problems/m);
  });
});

describe('the name of a dataset', () => {
  it('named after a format, it is read as that format whatever the folder looks like; --format overrides the name', async () => {
    // Names swapped by mistake: detection must not win, or a later eval --dataset cityscapes evaluates ADE data.
    const swapped = await run(MERGE, ['--dataset', `cityscapes=${at('ade')}`, '--dataset', `ade20k=${at('cs')}`, '--out', at('swapped.sqlite'), '--workers', '0']);
    expect(swapped.code).toBe(2);
    expect(swapped.stdout).toBe('');
    expect(swapped.stderr).toMatch(
      /^error: not a Cityscapes folder \(no leftImg8bit\/ and gtFine\/\): .*\/ade; the dataset is named cityscapes, so it is read as cityscapes, but the folder looks like ade20k: --dataset ade20k=PATH \(or --format cityscapes=ade20k\) reads it as that\n$/,
    );
    expect(existsSync(at('swapped.sqlite'))).toBe(false);
    const ade = await run(MERGE, ['--dataset', `ade20k=${at('cs')}`, '--out', at('swapped.sqlite'), '--workers', '0']);
    expect([ade.code, ade.stderr]).toEqual([2, `error: not an ADE20K folder (no images/<split> with annotations/<split> for training or validation): ${at('cs')}; the dataset is named ade20k, so it is read as ade20k, but the folder looks like cityscapes: --dataset cityscapes=PATH (or --format ade20k=cityscapes) reads it as that\n`]);
    const missing = await run(MERGE, ['--dataset', `ade20k=${at('nowhere')}`, '--out', at('swapped.sqlite')]);
    expect([missing.code, missing.stderr]).toEqual([2, `error: dataset folder not found: ${at('nowhere')}\n`]);

    const forced = await run(MERGE, ['--dataset', `cityscapes=${at('ade')}`, '--format', 'cityscapes=ade20k', '--out', at('forced.sqlite'), '--workers', '0']);
    expect(forced.code).toBe(0);
    expect(forced.stdout).toMatch(/^cityscapes +ade20k +3 images +0 problems/m);
  });

  it('already in the manifest: skipped from the same folder (manifest unchanged), refused from another one, replaced with --replace', async () => {
    const out = at('names.sqlite');
    expect((await run(MERGE, ['--dataset', `ade20k=${at('ade')}`, '--out', out, '--workers', '0'])).code).toBe(0);
    const before = readFileSync(out);

    // The same command again, and the same folder through a symlink: a no-op success.
    symlinkSync(at('ade'), at('ade-link'));
    for (const root of [at('ade'), at('ade-link')]) {
      const same = await run(MERGE, ['--dataset', `ade20k=${root}`, '--out', out, '--workers', '0']);
      expect([same.code, same.stderr], root).toEqual([0, '']);
      expect(same.stdout, root).toBe(`ade20k: skipped, already in the manifest; --replace ade20k to redo it, --update ade20k to re-read its changed files\n${out} unchanged: nothing merged\n`);
    }
    expect(readFileSync(out).equals(before)).toBe(true);

    // Another folder under the same name: nothing was read from it, so it is refused.
    const other = await run(MERGE, ['--dataset', `ade20k=${at('ADE-val')}`, '--out', out, '--workers', '0']);
    expect(other.code).toBe(2);
    expect(other.stdout).toBe('');
    expect(other.stderr).toBe(
      `error: ade20k is already in ${out}, merged from ${at('ade')}, not from ${at('ADE-val')}: --replace ade20k replaces it with ${at('ADE-val')}, or --dataset OTHER-NAME=${at('ADE-val')} adds that folder beside it; ${out} is as it was\n`,
    );
    // Refused before anything is merged, also when it comes after a new dataset.
    const mixed = await run(MERGE, ['--dataset', `cs=${at('cs')}`, '--dataset', `ade20k=${at('ADE-val')}`, '--out', out, '--workers', '0']);
    expect(mixed.code).toBe(2);
    expect(readFileSync(out).equals(before)).toBe(true);
    expect(leftovers(out)).toEqual([]);

    const replaced = await run(MERGE, ['--dataset', `ade20k=${at('ADE-val')}`, '--replace', 'ade20k', '--out', out, '--workers', '0']);
    expect(replaced.code).toBe(0);
    expect(replaced.stdout).toMatch(/^ade20k +ade20k +2 images +0 problems.*\nwrote .*names\.sqlite\n$/s);
    const reader = ManifestReader.open(out);
    expect(reader.datasets().map((d) => [d.name, d.images, d.root])).toEqual([['ade20k', 2, at('ADE-val')]]);
    reader.close();
  });
});

/** Option and positional lines without a description, and lines that yargs' wrapping mangled. */
function helpFaults(help: string, invocation: string): string[] {
  const faults: string[] = [];
  let section = '';
  for (const line of help.split('\n')) {
    if (/^\S.*:$/.test(line)) section = line;
    if (line.length > 100) faults.push(`longer than the wrap width: ${line}`);
    if (section === 'Examples:' && line !== section && line !== '' && !line.startsWith(`  ${invocation} `)) faults.push(`example wrapped: ${line}`);
    const entry = section === 'Options:' ? /^ {2,6}(?:-\w, )?--[\w-]+/.exec(line) : section === 'Positionals:' ? /^ {2}[a-z][\w-]*/.exec(line) : null;
    if (entry && line.slice(entry[0].length).replace(/(\s*\[[^\]]*\])+\s*$/, '').trim() === '') faults.push(`no description: ${line.trim()}`);
  }
  return faults;
}

async function helpPages(pages: [string, string[], string][]): Promise<Map<string, string>> {
  const texts = new Map<string, string>();
  for (const [bin, args, invocation] of pages) {
    const r = await run(bin, args);
    const page = `${invocation} ${args.join(' ')}`;
    expect(r.code, page).toBe(0);
    expect(helpFaults(r.stdout, invocation), page).toEqual([]);
    texts.set(page, r.stdout);
  }
  return texts;
}

describe('--loss NAME=hd|ld|wd (issue 12)', () => {
  const storedLoss = (file: string, name: string) => {
    const reader = ManifestReader.open(file);
    try {
      return reader.dataset(name).loss;
    } finally {
      reader.close();
    }
  };

  it('stores the chosen loss instead of the format default, for masks and for boxes', async () => {
    const out = at('loss.sqlite');
    const r = await run(MERGE, ['--dataset', `ade=${at('ade')}`, '--dataset', `cs=${at('cs')}`, '--dataset', `o365=${at('o365')}`, '--format', 'o365=objects365', '--loss', 'ade=ld', '--loss', 'o365=wd', '--out', out]);
    expect(r.stderr).not.toMatch(/error/);
    expect(r.code).toBe(0);
    expect([storedLoss(out, 'ade'), storedLoss(out, 'cs'), storedLoss(out, 'o365')]).toEqual(['ld', 'hd', 'wd']);
  }, 30_000);

  it('refuses a loss the annotations cannot feed, an unknown loss and an unknown dataset name: exit 2, one line, nothing written', async () => {
    const out = at('loss-refused.sqlite');
    const cases: [string[], RegExp][] = [
      [['--dataset', `ade=${at('ade')}`, '--loss', 'ade=wd'], /^error: --loss ade=wd: ade is read as ade20k, whose annotations are dense masks; wd needs boxes \(ade can take hd or ld\)\n$/],
      [['--dataset', `o365=${at('o365')}`, '--format', 'o365=objects365', '--loss', 'o365=hd'], /^error: --loss o365=hd: o365 is read as objects365, whose annotations are boxes only; hd needs masks \(dense or instance masks\) \(o365 can take wd\)\n$/],
      [['--dataset', `ade=${at('ade')}`, '--loss', 'ade=focal'], /^error: --loss ade=focal: the loss is hd \(dense masks\), ld \(noisy masks: .*\) or wd \(boxes\)\n$/],
      [['--dataset', `ade=${at('ade')}`, '--loss', 'cityscapes=ld'], /^error: --loss name "cityscapes" has no --dataset cityscapes=PATH\n$/],
      [['--dataset', `ade=${at('ade')}`, '--loss', 'ld'], /^error: --loss must be NAME=VALUE, not "ld"\n$/],
    ];
    for (const [args, message] of cases) {
      const r = await run(MERGE, [...args, '--out', out]);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(message);
      expect(r.code).toBe(2);
      expect(existsSync(out)).toBe(false);
      expect(leftovers(out)).toEqual([]);
    }
  }, 30_000);

  it('a dataset already in the manifest with another loss is refused (not skipped silently); --replace stores the new one', async () => {
    const out = at('loss-again.sqlite');
    expect((await run(MERGE, ['--dataset', `ade=${at('ade')}`, '--out', out])).code).toBe(0);
    expect(storedLoss(out, 'ade')).toBe('hd');
    const before = readFileSync(out);
    const again = await run(MERGE, ['--dataset', `ade=${at('ade')}`, '--loss', 'ade=ld', '--out', out]);
    expect(again.stderr).toMatch(/^error: --loss ade=ld: ade is already in .*loss-again\.sqlite with loss hd, and a dataset already there is skipped: --replace ade merges it again with ld; .* is as it was\n$/);
    expect(again.code).toBe(2);
    expect(readFileSync(out).equals(before)).toBe(true);
    const replaced = await run(MERGE, ['--dataset', `ade=${at('ade')}`, '--loss', 'ade=ld', '--replace', 'ade', '--out', out]);
    expect(replaced.code).toBe(0);
    expect(storedLoss(out, 'ade')).toBe('ld');
    expect((await run(SENTSEG, ['merge-datasets', '--help'])).stdout).toMatch(/--loss\s+NAME=LOSS: the loss the trainer applies/);
  }, 30_000);
});

describe('--help', () => {
  it('of merge-datasets and manifest describes every option and positional, in text that yargs wraps without mangling it', async () => {
    const texts = await helpPages([
      [MERGE, ['--help'], 'merge-datasets'],
      [MANIFEST, ['--help'], 'manifest'],
      [MANIFEST, ['stats', '--help'], 'manifest'],
      [MANIFEST, ['validate', '--help'], 'manifest'],
      [MANIFEST, ['problems', '--help'], 'manifest'],
    ]);
    // One example per line, the --update one included.
    const examples = texts.get('merge-datasets --help')?.split('\n').filter((l) => l.startsWith('  merge-datasets --dataset'));
    expect(examples).toHaveLength(5);
    expect(examples?.some((l) => l.includes('--update city'))).toBe(true);
    expect(texts.get('manifest --help')).toMatch(/manifest problems <manifest> +Lists the problem rows/);
  }, 30_000);

  it('through sentseg (the umbrella reuses these builders) is as clean', async () => {
    await helpPages([
      [SENTSEG, ['merge-datasets', '--help'], 'sentseg merge-datasets'],
      [SENTSEG, ['manifest', 'validate', '--help'], 'sentseg'],
    ]);
  }, 30_000);
});
