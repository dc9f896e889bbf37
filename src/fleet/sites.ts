// The site registry: site enrolment tokens (made by the administrator, stored hashed, used once,
// optionally expiring and naming the site), a site's registration with one (site.register: a
// site id and a secret), the signature of its later calls (protocol/signing.ts, the site's own
// header and label; replays refused by its last accepted timestamp) and its reports (counters
// added up across the site's restarts, health, preload progress). Which site a machine belongs
// to is site-membership.ts's; the URL of that site becomes the base of its stage sources.
import { createHash, randomBytes } from 'node:crypto';
import { fail } from '../errors.js';
import {
  SIGNATURE_HEADERS,
  SIGNATURE_WINDOW_MS,
  siteSignatureMatches,
  siteSignedHeaders,
  SITE_HEADER,
} from '../protocol/signing.js';
import { SITE_NAME_RE, type SiteRegistered, type SiteReport } from '../protocol/wire.js';
import type { SiteRow, SiteStore } from '../state/sites.js';
import { unmapIPv4 } from '../sys/address.js';
import { TimeSlicer } from '../sys/time-slice.js';
import { addressKey, RateLimiter, type Rate } from './rate-limit.js';
import { siteMatcher, siteOfMachine } from './site-membership.js';

export type VerifiedSite = SiteRow;

const hashToken = (t: string) => createHash('sha256').update(t).digest('hex');
const TOKEN_RE = /^ast_[A-Za-z0-9_-]{32}$/;

/**
 * A site's URL as its machines reach it: http or https, a host, no credentials, query or
 * fragment, at most 300 characters; trailing slashes dropped. '' stays '' (no URL yet).
 */
export function siteUrl(text: string, code: 'USAGE' | 'RPC_INVALID_PARAMS'): string {
  const v = text.trim();
  if (v === '') return '';
  let u: URL | undefined;
  try {
    u = v.length <= 300 ? new URL(v) : undefined;
  } catch {
    u = undefined;
  }
  if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:') || !u.hostname)
    fail(code, `the site URL must be an http:// or https:// URL of at most 300 characters`);
  // an empty query or fragment ("http://x/#") is no search or hash, yet stays in href, and so in
  // the stage sources' URI, where the rest becomes a query or a fragment
  if (u.username || u.password || /[?#]/.test(u.href))
    fail(code, 'the site URL must carry no credentials, query or fragment');
  return u.href.replace(/\/+$/, '');
}

export function checkSiteName(name: string, code: 'USAGE' | 'RPC_INVALID_PARAMS'): string {
  if (!SITE_NAME_RE.test(name))
    fail(code, `a site name is lower-case letters, digits, _ . - (at most 63), not "${name.slice(0, 80)}"`);
  return name;
}

export interface SiteRegistryDeps {
  store: SiteStore;
  /** members of a class by name (for counting a site's machines) */
  membersOf: (className: string) => number[];
  /** rate of registrations from one client address (the enrolments' limit) */
  rate: Rate;
  now?: () => number;
}

export class SiteRegistry {
  private readonly now: () => number;
  private readonly limiter: RateLimiter;

  constructor(private readonly d: SiteRegistryDeps) {
    this.now = d.now ?? Date.now;
    this.limiter = new RateLimiter(this.now);
  }

  get store(): SiteStore {
    return this.d.store;
  }

  /** A site enrolment token; the returned text is the only copy. */
  createToken(o: { name?: string; expiresInMs?: number }): {
    id: number;
    token: string;
    name: string | null;
    expiresAt: number | null;
  } {
    const name = o.name === undefined ? null : checkSiteName(o.name, 'USAGE');
    if (name !== null && this.d.store.byName(name)) fail('USAGE', `a site named ${name} exists already`);
    const token = `ast_${randomBytes(24).toString('base64url')}`;
    const now = this.now();
    const expiresAt = o.expiresInMs ? now + o.expiresInMs : null;
    const id = this.d.store.addToken({ hash: hashToken(token), name, createdAt: now, expiresAt });
    return { id, token, name, expiresAt };
  }

  /** site.register: a token (used once) and the site's proposed name and URL → its identity. */
  register(token: string, proposed: string, url: string, client = ''): SiteRegistered {
    if (client)
      this.limiter.take(`a:${addressKey(client)}`, this.d.rate, 'ENROL_RATE_LIMITED', `from ${addressKey(client)}`);
    const siteUrlText = siteUrl(url, 'RPC_INVALID_PARAMS');
    if (proposed !== '') checkSiteName(proposed, 'RPC_INVALID_PARAMS');
    return this.d.store.db
      .transaction((): SiteRegistered => {
        const t = TOKEN_RE.test(token) ? this.d.store.tokenByHash(hashToken(token)) : undefined;
        if (!t) fail('TOKEN_INVALID', 'unknown site token');
        if (t.usedAt !== null) fail('TOKEN_INVALID', 'the site token was used already');
        if (t.expiresAt !== null && t.expiresAt <= this.now()) fail('TOKEN_INVALID', 'the site token has expired');
        // the token's name, when it names one, is the site's: the administrator chose it
        const name = t.name ?? proposed;
        if (!name) fail('RPC_INVALID_PARAMS', 'the token names no site: give the site a name (--name)');
        if (t.name !== null && proposed !== '' && proposed !== t.name)
          fail('RPC_INVALID_PARAMS', `this token is for the site named ${t.name}, not ${proposed}`);
        if (this.d.store.byName(name)) fail('RPC_INVALID_PARAMS', `a site named ${name} is registered already`);
        const secret = randomBytes(32).toString('base64url');
        const site = this.d.store.insert({ name, url: siteUrlText, secret, tokenId: t.id, createdAt: this.now() });
        if (!this.d.store.useToken(t.id, site, this.now())) fail('TOKEN_INVALID', 'the site token was used already');
        return { site, name, secret };
      })
      .immediate();
  }

  /**
   * The site that signed this request, or undefined when it carries no site header. A bad
   * signature, an unknown site, a stale or replayed timestamp are faults.
   */
  authenticate(headers: Record<string, string | string[] | undefined>, body: string): VerifiedSite | undefined {
    if (headers[SITE_HEADER] === undefined) return undefined;
    const h = siteSignedHeaders(headers);
    // a call is a site's or a machine's, never both
    if (!h || headers[SIGNATURE_HEADERS.machine] !== undefined) fail('AUTH_FAILED', 'malformed site signature headers');
    const s = this.d.store.byId(Number(h.machine));
    // an unknown site and a wrong signature look the same to the caller
    if (!s || !siteSignatureMatches(s.secret, h, body)) fail('AUTH_FAILED', 'signature not valid for this site');
    const ts = Number(h.timestamp);
    if (Math.abs(ts - this.now()) > SIGNATURE_WINDOW_MS)
      fail('REPLAY_REFUSED', 'timestamp outside the accepted window (check the clock)');
    if (!this.d.store.acceptTimestamp(s.id, ts))
      fail('REPLAY_REFUSED', 'timestamp not newer than the last accepted one (replayed request?)');
    return s;
  }

  secretOf(id: number): string | undefined {
    return this.d.store.byId(id)?.secret;
  }

  /** site.report: the counters of the site's current run added to what its earlier runs reported. */
  report(site: VerifiedSite, r: SiteReport, client?: string): { accepted: boolean } {
    this.d.store.db
      .transaction(() => {
        const s = this.d.store.byId(site.id);
        if (!s) fail('AUTH_FAILED', 'site removed');
        const sameRun = s.runStarted === r.started;
        const add = (k: 'bytesLocal' | 'bytesParent' | 'hits' | 'misses') => {
          const before = sameRun ? (s.runCounters[k] ?? 0) : 0;
          // a counter that went down within one run: the site's own restart we were not told of
          return r[k] >= before ? r[k] - before : r[k];
        };
        this.d.store.writeReport(s.id, {
          contact: this.now(),
          address: client === undefined ? null : unmapIPv4(client),
          bytesLocal: s.bytesLocal + add('bytesLocal'),
          bytesParent: s.bytesParent + add('bytesParent'),
          hits: s.hits + add('hits'),
          misses: s.misses + add('misses'),
          runStarted: r.started,
          runCounters: { bytesLocal: r.bytesLocal, bytesParent: r.bytesParent, hits: r.hits, misses: r.misses },
          health: r.health,
          healthReason: r.health === 'ok' ? '' : r.reason,
          preload: r.preload,
        });
      })
      .immediate();
    return { accepted: true };
  }

  /** The URL a machine's stage sources are based on: its site's, when it belongs to one that has a URL. */
  urlFor(machine: number, classes: () => readonly string[]): string | undefined {
    const sites = this.d.store.all();
    if (!sites.length) return undefined;
    // a machine's classes are worked out only when a site names one (check-ins are frequent)
    const s = siteOfMachine(sites, {
      classes: sites.some((x) => x.classes.length) ? classes() : [],
      address: this.d.store.machineAddress(machine),
    });
    return s?.url || undefined;
  }

  /**
   * Each machine that belongs to a site, with its site's name; in slices (a site asks for its
   * pre-load list after every report: 20,000 machines must not hold the loop).
   */
  private async memberships(): Promise<Array<{ machine: number; site: string }>> {
    const sites = this.d.store.all();
    if (!sites.length) return [];
    const classOf = new Map<number, string[]>();
    for (const c of new Set(sites.flatMap((s) => s.classes)))
      for (const id of this.d.membersOf(c)) classOf.set(id, [...(classOf.get(id) ?? []), c]);
    const siteOf = siteMatcher(sites);
    const slicer = new TimeSlicer();
    const out: Array<{ machine: number; site: string }> = [];
    for (const m of this.d.store.machineAddresses()) {
      if (slicer.due()) await slicer.pause();
      const s = siteOf({ classes: classOf.get(m.id) ?? [], address: m.address });
      if (s) out.push({ machine: m.id, site: s.name });
    }
    return out;
  }

  /** How many machines each site has (by name). */
  async machineCounts(): Promise<Map<string, number>> {
    const counts = new Map(this.d.store.all().map((s) => [s.name, 0]));
    for (const m of await this.memberships()) counts.set(m.site, (counts.get(m.site) ?? 0) + 1);
    return counts;
  }

  /** The machines that belong to a site (what it pre-loads for). */
  async membersOfSite(name: string): Promise<number[]> {
    return (await this.memberships()).filter((m) => m.site === name).map((m) => m.machine);
  }

  get(name: string): SiteRow {
    const s = this.d.store.byName(name);
    if (!s) fail('NOT_FOUND', `no site named ${name.slice(0, 80)} (aptgate sites list)`);
    return s;
  }
}
