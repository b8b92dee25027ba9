// One way to name an encoder everywhere: its full id, the name it was embedded with (lexical, a
// folder, a hub id) or its stored location; a bank with two encoders says which names it knows.
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { BIN, runCli } from '../../../tests/run-cli.js';
import { writeTinyClipTextModel } from '../src/clip/tiny-text.js';
import { listEncoders, loadableName, matchEncoder } from '../src/store/encoder-names.js';
import { LabelBank } from '../src/store/bank.js';
import { HAS_TOKENIZER, tempDir, TOKENIZER_JSON } from '../../../tests/utils.js';

const dir = tempDir('sentseg-encoder-names-');

describe('matchEncoder', () => {
  const models = [
    { modelId: 'lexical:dim=512,seed=0,depth=4@v1', location: 'lexical:dim=512,seed=0,depth=4' },
    { modelId: 'lexical:dim=32,seed=1,depth=4@v1', location: 'lexical:dim=32,seed=1,depth=4' },
    { modelId: 'local:clip@0123456789abcdef', location: '/models/clip' },
    { modelId: 'hf:Xenova/clip-vit-base-patch32@main#fedcba9876543210', location: 'Xenova/clip-vit-base-patch32@main' },
    { modelId: 'import:detic-coco@00112233445566ff', location: 'import:detic-coco' },
  ];
  const id = (name: string, base = '/') => matchEncoder(models, name, base)?.modelId;

  it('takes the full id, the short name it was embedded with, a folder path and a hub id', () => {
    expect(id('lexical:dim=32,seed=1,depth=4@v1')).toBe('lexical:dim=32,seed=1,depth=4@v1');
    expect(id('lexical')).toBe('lexical:dim=512,seed=0,depth=4@v1');
    expect(id('lexical:dim=32,seed=1')).toBe('lexical:dim=32,seed=1,depth=4@v1');
    expect(id('local:clip@0123456789abcdef')).toBe('local:clip@0123456789abcdef');
    expect(id('/models/clip')).toBe('local:clip@0123456789abcdef');
    expect(id('./clip', '/models')).toBe('local:clip@0123456789abcdef');
    expect(id('Xenova/clip-vit-base-patch32')).toBe('hf:Xenova/clip-vit-base-patch32@main#fedcba9876543210');
    expect(id('Xenova/clip-vit-base-patch32@main')).toBe('hf:Xenova/clip-vit-base-patch32@main#fedcba9876543210');
    expect(id('hf:Xenova/clip-vit-base-patch32@main#fedcba9876543210')).toBe('hf:Xenova/clip-vit-base-patch32@main#fedcba9876543210');
    expect(id('detic-coco')).toBe('import:detic-coco@00112233445566ff');
    expect(id('import:detic-coco')).toBe('import:detic-coco@00112233445566ff');
  });

  it('names nothing the bank does not hold', () => {
    expect(id('lexical:dim=64')).toBeUndefined();
    expect(id('Xenova/clip-vit-base-patch32@v2')).toBeUndefined();
    expect(id('./other')).toBeUndefined();
  });

  it('turns a full id into the name that loads it', () => {
    expect(loadableName('lexical:dim=32,seed=1,depth=4@v1')).toBe('lexical:dim=32,seed=1,depth=4');
    expect(loadableName('hf:Xenova/clip-vit-base-patch32@main#fedcba9876543210')).toBe('Xenova/clip-vit-base-patch32@main');
    expect(listEncoders(models.slice(0, 1))).toBe('lexical:dim=512,seed=0,depth=4@v1 (lexical:dim=512,seed=0,depth=4)');
  });
});

describe.runIf(HAS_TOKENIZER)('every command takes the same encoder names', () => {
  const bank = path.join(dir, 'two.sqlite');
  const lexicalId = 'lexical:dim=32,seed=0,depth=4@v1';
  let clipId = '';
  const cli = (args: string[]) => runCli(BIN.labelBank, [...args, '--bank', bank], { cwd: dir, env: { SENTSEG_CLIP_TOKENIZER: TOKENIZER_JSON } });
  beforeAll(async () => {
    writeTinyClipTextModel(path.join(dir, 'tiny'), { tokenizerJson: TOKENIZER_JSON, seed: 2 });
    const a = await cli(['embed', '--model', 'lexical:dim=32']);
    expect(a.code).toBe(0);
    const b = await cli(['embed', '--model', './tiny']);
    expect(b.code).toBe(0);
    const handle = LabelBank.open(bank, { readonly: true });
    clipId = handle.models().find((m) => m.modelId.startsWith('local:'))?.modelId ?? '';
    handle.close();
  }, 180_000);

  it('show, report, embed and add: the full id, the short name and the folder all work', async () => {
    for (const name of [lexicalId, 'lexical:dim=32', clipId, './tiny', path.join(dir, 'tiny')]) {
      const show = await cli(['show', 'bus', '--model', name, '--json']);
      expect(show.code, `${name}: ${show.stderr}`).toBe(0);
      expect(JSON.parse(show.stdout).neighbours).toHaveLength(5);
    }
    const report = await cli(['report', '--model', 'lexical:dim=32', '--out', path.join(dir, 'report')]);
    expect(report.code, report.stderr).toBe(0);
    expect(report.stdout).toContain(`model ${lexicalId}`);
    const embed = await cli(['embed', '--model', clipId, '--labels', 'bus']);
    expect(embed.code, embed.stderr).toBe(0);
    expect(embed.stdout).toContain(`model ${clipId}`);
    const add = await cli(['add', 'zebra crossing', '--description', 'A road crossing marked with white stripes.', '--model', lexicalId]);
    expect(add.code, add.stderr).toBe(0);
  }, 180_000);

  it('without a name, or with one the bank lacks, the error lists the encoders by id and by name', async () => {
    const none = await cli(['show', 'bus']);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain(`holds embeddings of 2 encoders: ${lexicalId} (lexical:dim=32,seed=0,depth=4), ${clipId} (${path.join(dir, 'tiny')})`);
    const unknown = await cli(['report', '--model', 'lexical:dim=64']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain(`no embeddings of encoder "lexical:dim=64" in ${bank}; its encoders: ${lexicalId} (lexical:dim=32,seed=0,depth=4), ${clipId}`);
    const addNone = await cli(['add', 'kerb stone', '--description', 'A stone at the edge of a pavement.']);
    expect(addNone.code).toBe(2);
    expect(addNone.stderr).toContain(`the bank holds 2 encoders: ${lexicalId}`);
  }, 180_000);
});
