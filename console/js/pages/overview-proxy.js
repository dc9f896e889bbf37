// The overview's proxy part: hit ratio and bytes over all clients (GET /api/v1/cache/clients),
// the cache's size (GET /api/v1/cache/stats), and the traffic of the last 24 hours (5-minute
// buckets) and 30 days (days) (GET /api/v1/cache/traffic?period=24h|30d): bytes from the cache
// and from upstream, and the hit ratio, drawn as lines.
import { get, listOf } from '../api.js';
import { lineChart } from '../chart.js';
import { EP } from '../endpoints.js';
import { bytes, percent } from '../format.js';
import { h } from '../dom.js';

function totals(clients) {
  const t = { hits: 0, misses: 0, bytes: 0, requests: 0 };
  for (const c of clients) {
    t.hits += c.hits;
    t.misses += c.misses;
    t.bytes += c.bytes;
    t.requests += c.requests;
  }
  return { ...t, ratio: t.hits + t.misses ? t.hits / (t.hits + t.misses) : null };
}

function trafficChart(answer, period) {
  const buckets = answer?.buckets ?? [];
  if (!buckets.length) return h('p', { class: 'muted' }, `No traffic recorded in the last ${period}.`);
  const pts = (f) => buckets.map((b) => ({ x: Date.parse(b.at), y: f(b) }));
  const xFormat = (ms) =>
    new Date(ms).toLocaleString(undefined, period === '24h' ? { timeStyle: 'short' } : { dateStyle: 'short' });
  // the hit ratio of the buckets that had hits or misses (null otherwise: nothing to plot)
  const ratios = buckets.filter((b) => b.hitRatio !== null).map((b) => ({ x: Date.parse(b.at), y: b.hitRatio }));
  return [
    h(
      'figure',
      {},
      lineChart({
        title: `Bytes from the cache and from upstream, last ${period}`,
        series: [
          { label: 'from the cache', points: pts((b) => b.bytesFromCache) },
          { label: 'from upstream', points: pts((b) => b.bytesFromUpstream) },
        ],
        yFormat: bytes,
        xFormat,
      }),
      h(
        'figcaption',
        { class: 'legend' },
        h('span', { class: 's0' }, '■ from the cache'),
        ' ',
        h('span', { class: 's1' }, '■ from upstream'),
      ),
    ),
    ratios.length
      ? h(
          'figure',
          {},
          lineChart({
            title: `Hit ratio, last ${period}`,
            series: [{ label: 'hit ratio', points: ratios }],
            yMax: 1,
            yFormat: percent,
            xFormat,
          }),
          h(
            'figcaption',
            { class: 'legend' },
            h('span', { class: 's0' }, `■ hit ratio (${percent(answer.totals?.hitRatio ?? null)} over the ${period})`),
          ),
        )
      : null,
  ];
}

async function history(period) {
  try {
    return trafficChart(await get(EP.cacheTraffic, { period }), period);
  } catch (err) {
    return h('p', { class: 'muted' }, `No traffic history for the last ${period} (${err.message}).`);
  }
}

export async function proxySection() {
  const [clients, stats, day, month] = await Promise.allSettled([
    get(EP.cacheClients),
    get(EP.cacheStats),
    history('24h'),
    history('30d'),
  ]);
  const t = clients.status === 'fulfilled' ? totals(listOf(clients.value, 'clients')) : null;
  const s = stats.status === 'fulfilled' ? stats.value : null;
  return h(
    'div',
    {},
    h(
      'dl',
      { class: 'facts' },
      h('dt', {}, 'Hit ratio (since clients were first seen)'),
      h('dd', { id: 'proxy-hit-ratio' }, t ? percent(t.ratio) : clients.reason.message),
      h('dt', {}, 'Requests answered from the cache / from upstream'),
      h('dd', {}, t ? `${t.hits} / ${t.misses}` : '—'),
      h('dt', {}, 'Bytes sent to clients'),
      h('dd', {}, t ? bytes(t.bytes) : '—'),
      h('dt', {}, 'Cache size'),
      h('dd', {}, s ? `${bytes(s.bytes)} in ${s.files} files` : stats.reason.message),
    ),
    h('h3', {}, 'Last 24 hours'),
    day.value,
    h('h3', {}, 'Last 30 days'),
    month.value,
  );
}
