// site.preload in pages: the central's list cut into pages with one hash over them, and the
// site's reading of them back: the same list whole, 'same' when the site holds it, 'changed'
// when another list takes its place between two pages (the site then waits for its next report).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { preloadPages } from '../src/assembly/queries.js';
import { readPreloadPages, type PreloadPage } from '../src/assembly/site-report.js';
import { checkPreloadList, type PreloadList } from '../src/proxy/preload-list.js';

function listOf(n: number, tag = 'a'): PreloadList {
  const items = Array.from({ length: n }, (_, i) => ({
    path: `/debian/pool/main/p/p${i}/p${i}_1.0-${tag}_all.deb`,
    size: 1000 + i,
    sha256: (i % 16).toString(16).repeat(64),
    machines: 1 + (i % 3),
  }));
  return {
    items,
    totals: { files: n, bytes: items.reduce((s, x) => s + x.size, 0) },
    dists: ['/debian/dists/bookworm'],
  };
}

/** What the central's site.preload answers for page n, given what the site holds. */
const server =
  (p: { hash: string; pages: string[] }, have: string) =>
  async (n: number): Promise<PreloadPage> => ({
    hash: p.hash,
    pages: p.pages.length,
    text: p.hash === have ? '' : p.pages[n]!,
  });

describe('site.preload in pages', () => {
  it('a list of 4,500 items is 3 pages of at most 2,000; read back page after page it is the same list', async () => {
    const l = listOf(4500);
    const p = await preloadPages(l, 2000);
    assert.equal(p.pages.length, 3);
    assert.deepEqual(
      p.pages.map((t) => (JSON.parse(t) as { items: unknown[] }).items.length),
      [2000, 2000, 500],
    );
    const read = await readPreloadPages(server(p, ''));
    assert.notEqual(read, 'same');
    assert.notEqual(read, 'changed');
    const r = read as Exclude<typeof read, string>;
    assert.equal(r.hash, p.hash);
    assert.deepEqual(r.list.items, l.items);
    assert.deepEqual(r.list.dists, l.dists);
    // the same list again: one page asked, nothing read
    let asked = 0;
    const again = await readPreloadPages(async (n) => {
      asked++;
      return server(p, p.hash)(n);
    });
    assert.equal(again, 'same');
    assert.equal(asked, 1);
  });

  it('an empty list is one page; another list between two pages is "changed"', async () => {
    const empty = await preloadPages(listOf(0), 2000);
    assert.equal(empty.pages.length, 1);
    const r = await readPreloadPages(server(empty, ''));
    assert.deepEqual((r as Exclude<typeof r, string>).list.items, []);
    const a = await preloadPages(listOf(3000, 'a'), 2000);
    const b = await preloadPages(listOf(3000, 'b'), 2000);
    assert.notEqual(a.hash, b.hash);
    const changed = await readPreloadPages(async (n) => (n === 0 ? server(a, '')(0) : server(b, '')(n)));
    assert.equal(changed, 'changed');
  });

  it("a list's suites may have segments of their own (buster/updates); a path that is no suite is refused", async () => {
    const ok = await checkPreloadList({
      ...listOf(1),
      dists: ['/debian-security/dists/buster/updates', '/debian/dists/bookworm'],
    });
    assert.deepEqual(ok.dists, ['/debian-security/dists/buster/updates', '/debian/dists/bookworm']);
    for (const bad of ['/debian/dists/../etc', '/debian/dists/', 'debian/dists/x', '/debian/pool/x'])
      await assert.rejects(checkPreloadList({ ...listOf(1), dists: [bad] }), /preload dists 0/, bad);
  });
});
