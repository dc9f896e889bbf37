// The site caches registered under this server (tables of migration-18.ts): each site's name,
// the URL its machines reach it by, the networks and classes whose machines belong to it, its
// credential (secret and last accepted timestamp) and what its last report said; and the site
// enrolment tokens (stored hashed, used once).
import { cached, type Db } from './db.js';

export interface SitePreloadRow {
  filesDone: number;
  filesTotal: number;
  bytesDone: number;
  bytesTotal: number;
}

export interface SiteRow {
  id: number;
  name: string;
  url: string;
  secret: string;
  networks: string[];
  classes: string[];
  createdAt: number;
  lastContact: number | null;
  lastAddress: string | null;
  bytesLocal: number;
  bytesParent: number;
  hits: number;
  misses: number;
  /** the site process's start its last report named, and that report's counters (to add up the next one's) */
  runStarted: number;
  runCounters: Partial<Record<'bytesLocal' | 'bytesParent' | 'hits' | 'misses', number>>;
  health: 'unknown' | 'ok' | 'degraded';
  healthReason: string;
  preload: Partial<SitePreloadRow>;
}

export interface SiteTokenRow {
  id: number;
  hash: string;
  name: string | null;
  createdAt: number;
  expiresAt: number | null;
  usedAt: number | null;
  siteId: number | null;
}

interface RawSite extends Omit<SiteRow, 'networks' | 'classes' | 'runCounters' | 'preload'> {
  networks: string;
  classes: string;
  runCounters: string;
  preload: string;
}

const SITE_COLS = `id, name, url, secret, networks, classes, created_at AS createdAt, last_contact AS lastContact,
  last_address AS lastAddress, bytes_local AS bytesLocal, bytes_parent AS bytesParent, hits, misses,
  run_started AS runStarted, run_counters AS runCounters, health, health_reason AS healthReason, preload`;
const TOKEN_COLS = `id, hash, name, created_at AS createdAt, expires_at AS expiresAt, used_at AS usedAt, site_id AS siteId`;

function parsed<T>(text: string, empty: T): T {
  try {
    return JSON.parse(text) as T;
  } catch {
    return empty;
  }
}

const siteRow = (r: RawSite | undefined): SiteRow | undefined =>
  r && {
    ...r,
    networks: parsed<string[]>(r.networks, []),
    classes: parsed<string[]>(r.classes, []),
    runCounters: parsed(r.runCounters, {}),
    preload: parsed(r.preload, {}),
  };

/** What a site's report changes of its row (the counters already added up). */
export interface SiteReportWrite {
  contact: number;
  address: string | null;
  bytesLocal: number;
  bytesParent: number;
  hits: number;
  misses: number;
  runStarted: number;
  runCounters: SiteRow['runCounters'];
  health: 'ok' | 'degraded';
  healthReason: string;
  preload: SitePreloadRow;
}

export class SiteStore {
  constructor(readonly db: Db) {}

  /** The URLs of the sites that have one (a machine's sources may name them). */
  urls(): string[] {
    return cached<[], { url: string }>(this.db, "SELECT url FROM site WHERE url <> ''")
      .all()
      .map((r) => r.url);
  }

  all(): SiteRow[] {
    return cached<[], RawSite>(this.db, `SELECT ${SITE_COLS} FROM site ORDER BY name`)
      .all()
      .map((r) => siteRow(r)!);
  }

  byId(id: number): SiteRow | undefined {
    return siteRow(cached<[number], RawSite>(this.db, `SELECT ${SITE_COLS} FROM site WHERE id = ?`).get(id));
  }

  byName(name: string): SiteRow | undefined {
    return siteRow(cached<[string], RawSite>(this.db, `SELECT ${SITE_COLS} FROM site WHERE name = ?`).get(name));
  }

  insert(s: { name: string; url: string; secret: string; tokenId: number; createdAt: number }): number {
    return Number(
      cached(this.db, 'INSERT INTO site (name, url, secret, token_id, created_at) VALUES (?, ?, ?, ?, ?)').run(
        s.name,
        s.url,
        s.secret,
        s.tokenId,
        s.createdAt,
      ).lastInsertRowid,
    );
  }

  /** The administrator's settings of a site (each given one replaces the stored one). */
  set(id: number, o: { url?: string; networks?: string[]; classes?: string[] }): void {
    if (o.url !== undefined) cached(this.db, 'UPDATE site SET url = ? WHERE id = ?').run(o.url, id);
    if (o.networks !== undefined)
      cached(this.db, 'UPDATE site SET networks = ? WHERE id = ?').run(JSON.stringify(o.networks), id);
    if (o.classes !== undefined)
      cached(this.db, 'UPDATE site SET classes = ? WHERE id = ?').run(JSON.stringify(o.classes), id);
  }

  remove(id: number): boolean {
    return cached(this.db, 'DELETE FROM site WHERE id = ?').run(id).changes > 0;
  }

  /** Accepts a signed call's timestamp only when newer than the site's last one (replays refused). */
  acceptTimestamp(id: number, ts: number): boolean {
    return cached(this.db, 'UPDATE site SET last_ts = ? WHERE id = ? AND last_ts < ?').run(ts, id, ts).changes > 0;
  }

  writeReport(id: number, r: SiteReportWrite): void {
    cached(
      this.db,
      `UPDATE site SET last_contact = ?, last_address = coalesce(?, last_address), bytes_local = ?, bytes_parent = ?,
        hits = ?, misses = ?, run_started = ?, run_counters = ?, health = ?, health_reason = ?, preload = ? WHERE id = ?`,
    ).run(
      r.contact,
      r.address,
      r.bytesLocal,
      r.bytesParent,
      r.hits,
      r.misses,
      r.runStarted,
      JSON.stringify(r.runCounters),
      r.health,
      r.healthReason,
      JSON.stringify(r.preload),
      id,
    );
  }

  /** The address a machine last called from (null when never). */
  machineAddress(machine: number): string | null {
    const r = cached<[number], { a: string | null }>(this.db, 'SELECT last_address AS a FROM machine WHERE id = ?').get(
      machine,
    );
    return r?.a ?? null;
  }

  /** Machines' last addresses (for counting a site's machines). */
  machineAddresses(): Array<{ id: number; address: string | null }> {
    return cached<[], { id: number; address: string | null }>(
      this.db,
      'SELECT id, last_address AS address FROM machine ORDER BY id',
    ).all();
  }

  addToken(t: { hash: string; name: string | null; createdAt: number; expiresAt: number | null }): number {
    return Number(
      cached(this.db, 'INSERT INTO site_token (hash, name, created_at, expires_at) VALUES (?, ?, ?, ?)').run(
        t.hash,
        t.name,
        t.createdAt,
        t.expiresAt,
      ).lastInsertRowid,
    );
  }

  tokenByHash(hash: string): SiteTokenRow | undefined {
    return cached<[string], SiteTokenRow>(this.db, `SELECT ${TOKEN_COLS} FROM site_token WHERE hash = ?`).get(hash);
  }

  /** Marks a token used by a site; false when another registration used it first. */
  useToken(id: number, site: number, at: number): boolean {
    return (
      cached(this.db, 'UPDATE site_token SET used_at = ?, site_id = ? WHERE id = ? AND used_at IS NULL').run(
        at,
        site,
        id,
      ).changes > 0
    );
  }
}
