// How advisories read on the pages (CVEs, one CVE, a machine's exposures): the urgency as a
// badge, where a fix stands in words, a CVE as a link to its page. The values are the API's
// (docs/api.md, "Advisories against the fleet").
import { h, link } from './dom.js';

export const URGENCIES = ['critical', 'high', 'medium', 'low', 'unimportant', 'unknown'];

const URGENCY_CLASS = { critical: 'bad', high: 'bad', medium: 'warn' };

export const STATUS_TEXT = {
  upgradable: 'upgradable',
  'kept-back': 'kept back by apt-get upgrade',
  held: 'held',
  'waiting-at-gate': 'waiting at the gate',
  'not-fixed': 'not fixed yet',
  'not-available': 'fix in no suite the machine reads',
  unknown: 'unknown',
};

/** A fix status in words (an unknown one as it came). */
export const statusText = (s) => (s ? (STATUS_TEXT[s] ?? String(s)) : '—');

/** { upgradable: 2, held: 1, … } → "2 upgradable, 1 held" (the statuses that occur). */
export function statusCounts(counts) {
  const parts = Object.entries(counts ?? {})
    .filter(([, n]) => n > 0)
    .map(([k, n]) => `${n} ${statusText(k)}`);
  return parts.join(', ') || 'none';
}

export function urgencyBadge(u) {
  return h('span', { class: `badge ${URGENCY_CLASS[u] ?? ''}`.trim() }, u ?? 'unknown');
}

export const cveLink = (id) => link(`/cves/${encodeURIComponent(id)}`, id);
