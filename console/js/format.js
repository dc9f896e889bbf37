// How values read on the page: times (local, and how long ago), sizes, ratios, counts.

const rtf = new Intl.RelativeTimeFormat('en', { numeric: 'auto' });
const dtf = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

/** An ISO time as local date and time; '—' for none. */
export function when(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : dtf.format(d);
}

/** "3 hours ago", "in 2 days"; '—' for none. */
export function ago(iso, now = Date.now()) {
  if (!iso) return '—';
  const s = (new Date(iso).getTime() - now) / 1000;
  if (Number.isNaN(s)) return String(iso);
  const units = [
    ['day', 86400],
    ['hour', 3600],
    ['minute', 60],
  ];
  for (const [unit, n] of units) if (Math.abs(s) >= n) return rtf.format(Math.round(s / n), unit);
  return rtf.format(Math.round(s), 'second');
}

/** Bytes in KiB/MiB/GiB/TiB. */
export function bytes(n) {
  if (n === null || n === undefined) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = Number(n);
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

/** 0.873 → "87.3 %"; '—' for null. */
export function percent(ratio) {
  return ratio === null || ratio === undefined ? '—' : `${(ratio * 100).toFixed(1)} %`;
}

/** A count, or '—' when unknown (null). */
export function count(n) {
  return n === null || n === undefined ? '—' : String(n);
}

/** Milliseconds as "2 d", "5 h", "30 min". */
export function duration(ms) {
  if (ms === null || ms === undefined) return '—';
  if (ms >= 86_400_000) return `${+(ms / 86_400_000).toFixed(1)} d`;
  if (ms >= 3_600_000) return `${+(ms / 3_600_000).toFixed(1)} h`;
  if (ms >= 60_000) return `${Math.round(ms / 60_000)} min`;
  return `${Math.round(ms / 1000)} s`;
}
