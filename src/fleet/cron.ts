// Five-field cron expressions (minute hour day-of-month month day-of-week), as crontab(5) reads
// them: lists, ranges, steps, names; local time; when both day fields are restricted, either
// matching is enough.
import { fail } from '../errors.js';

export interface Cron {
  minutes: Set<number>;
  hours: Set<number>;
  doms: Set<number>;
  months: Set<number>;
  dows: Set<number>;
  domStar: boolean;
  dowStar: boolean;
}

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

function field(
  text: string,
  lo: number,
  hi: number,
  names: string[] | undefined,
  nameBase: number,
  what: string,
): Set<number> {
  const out = new Set<number>();
  const num = (s: string): number => {
    const i = names ? names.indexOf(s.toLowerCase()) : -1;
    if (i >= 0) return i + nameBase;
    if (!/^\d{1,2}$/.test(s)) fail('USAGE', `cron ${what}: "${s}" is not a number`);
    return Number(s);
  };
  for (const part of text.split(',')) {
    const m = /^(\*|[a-z0-9]+(?:-[a-z0-9]+)?)(?:\/(\d{1,2}))?$/i.exec(part);
    if (!m) fail('USAGE', `cron ${what}: "${part}" is not valid`);
    const step = m[2] === undefined ? 1 : Number(m[2]);
    let a = lo;
    let b = hi;
    if (m[1] !== '*') {
      const [x, y] = m[1]!.split('-');
      a = num(x!);
      b = y === undefined ? (m[2] === undefined ? a : hi) : num(y);
    }
    if (step < 1 || a < lo || b > hi || a > b) fail('USAGE', `cron ${what}: "${part}" is outside ${lo}-${hi}`);
    for (let v = a; v <= b; v += step) out.add(v);
  }
  return out;
}

export function parseCron(text: string): Cron {
  const f = text.trim().split(/\s+/);
  if (f.length !== 5)
    fail('USAGE', `"${text.slice(0, 80)}" is not a cron expression (minute hour day month weekday, e.g. "0 2 * * *")`);
  const dows = field(f[4]!, 0, 7, DAYS, 0, 'weekday');
  if (dows.has(7)) {
    dows.delete(7);
    dows.add(0);
  }
  return {
    minutes: field(f[0]!, 0, 59, undefined, 0, 'minute'),
    hours: field(f[1]!, 0, 23, undefined, 0, 'hour'),
    doms: field(f[2]!, 1, 31, undefined, 0, 'day'),
    months: field(f[3]!, 1, 12, MONTHS, 1, 'month'),
    dows,
    domStar: f[2]!.startsWith('*'),
    dowStar: f[4]!.startsWith('*'),
  };
}

function dayMatches(c: Cron, d: Date): boolean {
  const dom = c.doms.has(d.getDate());
  const dow = c.dows.has(d.getDay());
  if (c.domStar || c.dowStar) return c.domStar ? dow : dom;
  return dom || dow;
}

/** The first minute strictly after `after` that the expression names (local time). */
export function nextRun(c: Cron, after: Date): Date {
  const d = new Date(after.getTime());
  d.setSeconds(0, 0);
  d.setMinutes(d.getMinutes() + 1);
  // at most about 4 years of days; each step skips a whole non-matching day or hour
  for (let guard = 0; guard < 1500 * 24 * 60; guard++) {
    if (!c.months.has(d.getMonth() + 1) || !dayMatches(c, d)) {
      d.setDate(d.getDate() + 1);
      d.setHours(0, 0, 0, 0);
      continue;
    }
    if (!c.hours.has(d.getHours())) {
      d.setHours(d.getHours() + 1, 0, 0, 0);
      continue;
    }
    if (c.minutes.has(d.getMinutes())) return d;
    d.setMinutes(d.getMinutes() + 1);
  }
  fail('USAGE', 'the cron expression never fires');
}
