// The overview's proxy part: hit ratio, requests and bytes over all clients (the overview's
// `proxy` totals), the cache's size (GET /api/v1/cache/stats), and the traffic of the last 24
// hours and 30 days (GET /api/v1/cache/traffic?period=24h|30d) drawn as lines.
import { get } from '../api.js';
import { lineChart } from '../chart.js';
import { EP } from '../endpoints.js';
import { bytes, percent } from '../format.js';
import { h } from '../dom.js';

const legend = (...labels) =>
  h(
    'figcaption',
    { class: 'legend' },
    labels.map((l, i) => [i ? ' ' : '', h('span', { class: `s${i}` }, `■ ${l}`)]),
  );

function trafficCharts(answer, period) {
  const buckets = answer?.buckets ?? [];
  if (!buckets.length) return h('p', { class: 'muted' }, `No traffic recorded in the last ${period}.`);
  const pts = (f) => buckets.map((b) => ({ x: Date.parse(b.at), y: f(b) }));
  const xFormat = (ms) =>
    new Date(ms).toLocaleString(undefined, period === '24h' ? { timeStyle: 'short' } : { dateStyle: 'short' });
  return h(
    'div',
    { class: 'charts' },
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
      legend('bytes from the cache', 'bytes from upstream'),
    ),
    h(
      'figure',
      {},
      lineChart({
        title: `Hit ratio, last ${period}`,
        // a bucket without requests has no ratio: no point
        series: [{ label: 'hit ratio', points: pts((b) => b.hitRatio).filter((p) => p.y !== null) }],
        yMax: 1,
        yFormat: percent,
        xFormat,
      }),
      legend('hit ratio (requests answered from the cache)'),
    ),
  );
}

async function history(period) {
  try {
    return trafficCharts(await get(EP.cacheTraffic, { period }), period);
  } catch (err) {
    return h('p', { class: 'muted' }, `No traffic history for the last ${period} (${err.message}).`);
  }
}

/**
 * `t`: the overview's proxy totals ({ clients, requests, bytes, hits, misses, hitRatio }), or null.
 * { facts, traffic }: the totals and the cache's size; the last 24 hours and 30 days drawn.
 */
export async function proxySection(t) {
  const [stats, day, month] = await Promise.allSettled([get(EP.cacheStats), history('24h'), history('30d')]);
  const s = stats.status === 'fulfilled' ? stats.value : null;
  return {
    facts: h(
      'dl',
      { class: 'facts' },
      h('dt', {}, 'Hit ratio (since clients were first seen)'),
      h('dd', { id: 'proxy-hit-ratio' }, t ? percent(t.hitRatio) : '—'),
      h('dt', {}, 'Requests answered from the cache / from upstream'),
      h('dd', {}, t ? `${t.hits} / ${t.misses}` : '—'),
      h('dt', {}, 'Bytes sent to clients'),
      h('dd', {}, t ? `${bytes(t.bytes)} to ${t.clients} client address${t.clients === 1 ? '' : 'es'}` : '—'),
      h('dt', {}, 'Cache size'),
      h('dd', {}, s ? `${bytes(s.bytes)} in ${s.files} files` : `${stats.reason.message} (${stats.reason.code})`),
    ),
    traffic: [h('h3', {}, 'Last 24 hours'), day.value, h('h3', {}, 'Last 30 days'), month.value],
  };
}
