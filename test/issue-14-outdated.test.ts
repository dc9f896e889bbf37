// Issue 14: the one-shot `aptgate outdated` reads only the installed packages' paragraphs of each
// index (PackageSelector). It must give exactly what parsing everything gives: on the real
// bookworm index fed in chunks of every size, on texts the fast path must hand to the parser
// (\r\n, lines of blanks, Package not first, other spellings), and end to end against a view
// loaded in full. The one-shot path loads its own program: its help is the full program's.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildProgram } from '../src/cli/program.js';
import { outdatedFromFiles } from '../src/cli/outdated.js';
import { Deb822Parser, type Paragraph } from '../src/index/deb822.js';
import { outdated } from '../src/index/outdated.js';
import { PACKAGES_FIELDS } from '../src/index/packages.js';
import { PackageSelector } from '../src/index/select.js';
import { parseStatus } from '../src/index/status.js';
import { View } from '../src/index/view.js';
import { listsPrefix, loadListsDir } from '../src/sys/apt-lists.js';
import { writeLists } from './helpers/compare.js';
import { exec, execOk } from './helpers/exec.js';
import { fixturesDir, projectRoot } from './helpers/paths.js';
import { readFile } from 'node:fs/promises';

const archive = path.join(fixturesDir, 'debian-archive');

function all(text: Buffer, wanted: ReadonlySet<string>): Paragraph[] {
  const out: Paragraph[] = [];
  const p = new Deb822Parser(
    (x) => {
      if (wanted.has(x['package'] ?? '')) out.push(x);
    },
    { fields: PACKAGES_FIELDS },
  );
  p.write(text);
  p.end();
  return out;
}

function selected(text: Buffer, wanted: ReadonlySet<string>, chunk: number): Paragraph[] {
  const out: Paragraph[] = [];
  const s = new PackageSelector(wanted, (x) => out.push(x), { fields: PACKAGES_FIELDS });
  // one reused buffer, as the lists reader does
  const buf = Buffer.alloc(Math.min(chunk, text.length));
  for (let i = 0; i < text.length; i += chunk) {
    const n = text.copy(buf, 0, i, Math.min(i + chunk, text.length));
    s.write(buf.subarray(0, n));
  }
  s.end();
  return out;
}

describe('issue 14: the one-shot outdated reads only the installed packages, with the same answer', () => {
  let main: Buffer;
  let names: string[];

  before(async () => {
    main = await execOk(
      'xz',
      ['-dc', path.join(archive, 'debian', 'dists', 'bookworm', 'main', 'binary-amd64', 'Packages.xz')],
      { timeoutMs: 60_000 },
    );
    names = [...main.toString('latin1').matchAll(/^Package: (\S+)$/gm)].map((m) => m[1]!);
  });

  it('the real bookworm index: the same paragraphs as parsing it all, in chunks of any size', () => {
    const wanted = new Set([...names.filter((_, i) => i % 61 === 0), names[0]!, names.at(-1)!, 'no-such-package']);
    const expected = all(main, wanted);
    assert.ok(expected.length > 1000, `${expected.length}`);
    for (const chunk of [1 << 20, 65_536, 4093, 61])
      assert.deepEqual(selected(main, wanted, chunk), expected, `chunks of ${chunk}`);
  });

  it('texts the fast path does not split itself: \\r\\n, lines of blanks, Package not first or spelt otherwise', () => {
    const wanted = new Set(['a', 'b', 'c', 'd', 'e', 'f', 'g']);
    const texts = [
      // a line of blanks ends a paragraph: b hides behind an unwanted one
      'Package: x\nVersion: 1\n \t\nPackage: b\nVersion: 2\n\nPackage: a\nVersion: 1\n',
      // \r\n line ends
      'Package: a\r\nVersion: 1\r\n\r\nPackage: x\r\nVersion: 1\r\n\r\nPackage: c\r\nVersion: 3\r\n',
      // Package not the first field; another spelling; a comment before a paragraph
      'Version: 4\nPackage: d\n\npackage: e\nVersion: 5\n\n# comment\nPackage: f\nVersion: 6\n\nPACKAGE : g\nVersion: 7\n',
      // a continued Package line; blank lines in runs; no final newline
      'Package: x\n y\nVersion: 1\n\n\n\nPackage: a\nVersion: 8',
      // a paragraph that ends where the one before had a line end: the bytes kept from it never end this one
      'Package: bb\nVersion: 2\n\nPackage: a\nVersion: 8\n',
      // a non-ASCII byte in a name, and a wanted name as a prefix of another
      'Package: \u00e4\nVersion: 1\n\nPackage: ab\nVersion: 1\n\nPackage: a \nVersion: 9\n',
    ];
    for (const t of texts) {
      const text = Buffer.from(t, 'utf8');
      const expected = all(text, wanted);
      assert.ok(expected.length > 0, t);
      for (const chunk of [text.length, 7, 2, 1])
        assert.deepEqual(selected(text, wanted, chunk), expected, `${JSON.stringify(t)} in chunks of ${chunk}`);
    }
  });

  describe('end to end on a lists directory', () => {
    let dir: string;
    let lists: string;
    const status = path.join(archive, 'dpkg-status.bookworm-node');
    const suites = [
      {
        distsDir: path.join(archive, 'debian', 'dists', 'bookworm'),
        uri: 'http://deb.debian.org/debian',
        suite: 'bookworm',
      },
      {
        distsDir: path.join(archive, 'debian', 'dists', 'bookworm-updates'),
        uri: 'http://deb.debian.org/debian',
        suite: 'bookworm-updates',
      },
      {
        distsDir: path.join(archive, 'debian-security', 'dists', 'bookworm-security'),
        uri: 'http://deb.debian.org/debian-security',
        suite: 'bookworm-security',
      },
    ];

    before(async () => {
      dir = await mkdtemp(path.join(os.tmpdir(), 'aptgate-oneshot-'));
      lists = path.join(dir, 'lists');
      await mkdir(lists);
      await writeLists(lists, suites);
    });
    after(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('the answer is the one computed from every entry of every index', async () => {
      const { result } = await outdatedFromFiles({ status, lists, arch: 'amd64' });
      const full = new View('amd64');
      await loadListsDir(full, lists);
      const expected = outdated(parseStatus(await readFile(status)), full.seal());
      assert.deepEqual(result, expected);
      assert.ok(result.counts.outdated > 50);
    });

    it('--sources: the suites of a candidate several offer, in the order apt reads them', async () => {
      assert.equal(listsPrefix('http://deb.debian.org/debian', 'bookworm'), 'deb.debian.org_debian_dists_bookworm_');
      assert.equal(
        listsPrefix('https://user:pw@example.org:8080/deb_ian/', 'a~b'),
        'example.org:8080_deb%5fian_dists_a%7eb_',
      );
      const sourcesFile = path.join(dir, 'debian.sources');
      const write = async (order: typeof suites) => {
        const { writeFile } = await import('node:fs/promises');
        await writeFile(
          sourcesFile,
          order.map((s) => `Types: deb\nURIs: ${s.uri}\nSuites: ${s.suite}\nComponents: main\n`).join('\n'),
        );
      };
      await write(suites);
      const forward = (await outdatedFromFiles({ status, lists, arch: 'amd64', sources: [sourcesFile] })).result;
      await write([...suites].reverse());
      const backward = (await outdatedFromFiles({ status, lists, arch: 'amd64', sources: [sourcesFile] })).result;
      const twice = forward.entries.filter((e) => e.origins.length > 1);
      assert.ok(twice.length > 0, 'some candidate is in bookworm and bookworm-security');
      for (const e of twice) {
        const b = backward.entries.find((x) => x.instance === e.instance)!;
        assert.deepEqual(
          e.origins.map((o) => o.suite),
          ['bookworm', 'bookworm-security'].filter((s) => e.origins.some((o) => o.suite === s)),
        );
        assert.deepEqual(
          b.origins.map((o) => o.suite),
          e.origins.map((o) => o.suite).reverse(),
        );
      }
      assert.deepEqual(
        forward.entries.map((e) => [e.instance, e.candidateVersion]),
        backward.entries.map((e) => [e.instance, e.candidateVersion]),
        'the order changes nothing else',
      );
    });
  });

  it('the one-shot program defines outdated as the full program does (same help, same errors)', async () => {
    let full = '';
    const program = buildProgram((s) => {
      full += s;
    });
    program.exitOverride().configureOutput({
      writeOut: (s) => {
        full += s;
      },
      writeErr: (s) => {
        full += s;
      },
    });
    for (const c of program.commands)
      c.exitOverride().configureOutput({
        writeOut: (s) => {
          full += s;
        },
        writeErr: (s) => {
          full += s;
        },
      });
    await assert.rejects(program.parseAsync(['node', 'aptgate', 'outdated', '--help']));
    const r = await exec(
      process.execPath,
      [path.join(projectRoot, 'dist', 'src', 'cli', 'main.js'), 'outdated', '--help'],
      { timeoutMs: 30_000 },
    );
    assert.equal(r.code, 0);
    assert.equal(r.stdout.toString(), full);
    assert.match(full, /--sources <file\|dir>/);
  });
});
