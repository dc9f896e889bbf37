// The advisory feeds (GET /api/v1/advisories): per feed its records, the age of its data, the
// last import and the last error; an admin may fetch them now, when fetching is on (POST /api/v1/advisories/refresh,
// which answers once the feeds are imported: a minute or two for the Debian tracker).
import { get, post } from '../api.js';
import { EP } from '../endpoints.js';
import { h, heading, link, replace } from '../dom.js';
import { duration, when } from '../format.js';
import { showError, showInfo } from '../notice.js';

function mode(s) {
  if (!s.fetch) return 'Fetching is off (advisories.fetch = false): the feeds come from aptgate advisories import.';
  return s.refreshIntervalMs > 0
    ? `The server fetches the feeds every ${duration(s.refreshIntervalMs)}.`
    : 'The server fetches the feeds only when asked.';
}

function feedsTable(feeds) {
  if (!feeds.length) return h('p', { class: 'muted' }, 'No feed is on or was ever imported.');
  return h(
    'table',
    { id: 'feeds' },
    h('caption', { class: 'sr-only' }, 'Advisory feeds'),
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        ['Feed', 'Records', 'Data age', 'Last import', 'Feed date', 'Last error'].map((t) =>
          h('th', { scope: 'col' }, t),
        ),
      ),
    ),
    h(
      'tbody',
      {},
      feeds.map((f) =>
        h(
          'tr',
          { 'data-feed': f.feed },
          h(
            'td',
            {},
            h('strong', {}, f.feed),
            f.on ? '' : ' (off)',
            f.importing ? [' ', h('span', { class: 'badge' }, 'importing')] : null,
            h('div', { class: 'muted' }, f.url ?? 'no URL: imports only'),
          ),
          h('td', { class: 'num' }, String(f.records ?? 0)),
          h(
            'td',
            {},
            f.ageSeconds === null || f.ageSeconds === undefined ? 'never imported' : duration(f.ageSeconds * 1000),
            f.stale ? [' ', h('span', { class: 'badge warn' }, 'stale')] : null,
          ),
          h('td', {}, f.fetchedAt ? when(f.fetchedAt) : 'never'),
          h('td', {}, f.dataDate ? when(f.dataDate) : '—'),
          h('td', { class: f.error ? 'bad' : undefined }, f.error ? `${when(f.errorAt)}: ${f.error}` : '—'),
        ),
      ),
    ),
  );
}

const resultText = (r) =>
  (r.feeds ?? [])
    .map((f) => `${f.feed}: ${f.result}, ${f.records} records${f.error ? ` (${f.error})` : ''}`)
    .join('; ') || 'no feed fetched';

export async function render(ctx) {
  const s = await get(EP.advisories);
  let refresh = null;
  // fetching off: the API would refuse (the feeds come from files imported on the server host)
  if (ctx.can('admin') && s.fetch) {
    refresh = h('button', { type: 'button', class: 'primary' }, 'Refresh the feeds now');
    refresh.addEventListener('click', async () => {
      refresh.disabled = true;
      showInfo('Fetching the feeds… (the Debian tracker takes a minute or two)');
      try {
        const r = await post(EP.advisoriesRefresh, {});
        await ctx.refresh();
        showInfo(`Refreshed: ${resultText(r)}.`);
      } catch (err) {
        refresh.disabled = false;
        showError(err);
      }
    });
  }
  replace(
    ctx.root,
    h('p', { class: 'no-print' }, link('/cves', '← CVEs')),
    heading('Advisory feeds'),
    h('p', {}, mode(s)),
    refresh ? h('div', { class: 'actions' }, refresh) : null,
    feedsTable(s.feeds ?? []),
  );
}
