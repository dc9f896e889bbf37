// Enrolment tokens, machines and their last reports.
import { cached, type Db } from './db.js';

export interface TokenRow {
  id: number;
  hash: string;
  class: string | null;
  autoApprove: boolean;
  expiresAt: number | null;
  maxUses: number | null;
  uses: number;
  note: string | null;
  createdAt: number;
  revokedAt: number | null;
}

export type MachineStatus = 'pending' | 'approved';

/** What membership rules and job targets need of a machine. */
export type MachineBrief = Pick<MachineRow, 'id' | 'hostname' | 'architecture' | 'codename' | 'status' | 'parentId'>;

export interface MachineRow {
  id: number;
  machineId: string;
  parentId: number | null;
  hostname: string;
  architecture: string;
  codename: string | null;
  status: MachineStatus;
  secret: string;
  tokenId: number | null;
  facts: string;
  enrolledAt: number;
  approvedAt: number | null;
  lastTs: number;
  lastSeen: number | null;
  stateHash: string | null;
  profileId: number | null;
  reportedAt: number | null;
  pullNow: boolean;
  cloneMachineId: string | null;
  cloneAt: number | null;
  /** credential version: bumped when the credential changed hands without proof of the old secret (jobs record it) */
  credentialVersion: number;
}

/** A re-enrolment on a token alone: a credential waiting for the administrator's approval. */
export interface ReenrolRow {
  machineId: number;
  secret: string;
  /** short fingerprint the agent prints, to compare before approving */
  code: string;
  tokenId: number | null;
  hostname: string;
  architecture: string;
  codename: string | null;
  facts: string;
  /** the client address it came from */
  client: string;
  requestedAt: number;
  lastTs: number;
}

export interface ReportRow {
  machineId: number;
  reportedAt: number;
  extras: string;
  viewId: number | null;
  disagreements: string | null;
}

const TOKEN_COLS = `id, hash, class, auto_approve AS autoApprove, expires_at AS expiresAt, max_uses AS maxUses, uses, note,
  created_at AS createdAt, revoked_at AS revokedAt`;
const MACHINE_COLS = `id, machine_id AS machineId, parent_id AS parentId, hostname, architecture, codename, status, secret,
  token_id AS tokenId, facts, enrolled_at AS enrolledAt, approved_at AS approvedAt, last_ts AS lastTs, last_seen AS lastSeen,
  state_hash AS stateHash, profile_id AS profileId, reported_at AS reportedAt, pull_now AS pullNow,
  clone_machine_id AS cloneMachineId, clone_at AS cloneAt, credential_version AS credentialVersion`;
const REENROL_COLS = `machine_id AS machineId, secret, code, token_id AS tokenId, hostname, architecture, codename, facts, client,
  requested_at AS requestedAt, last_ts AS lastTs`;

function token(r: TokenRow | undefined): TokenRow | undefined {
  return r && { ...r, autoApprove: Boolean(r.autoApprove) };
}
function machine(r: MachineRow | undefined): MachineRow | undefined {
  return r && { ...r, pullNow: Boolean(r.pullNow) };
}

export class MachineStore {
  private readonly byIdStmt;
  private readonly touchStmt;

  constructor(readonly db: Db) {
    this.byIdStmt = db.prepare<[number], MachineRow>(`SELECT ${MACHINE_COLS} FROM machine WHERE id = ?`);
    // accepts a signed timestamp only when newer than the last one: the replay check and the
    // "last seen" update (with the address it came from) in one statement
    this.touchStmt = db.prepare<[number, number, string | null, number, number]>(
      'UPDATE machine SET last_ts = ?, last_seen = ?, last_address = coalesce(?, last_address) WHERE id = ? AND last_ts < ?',
    );
  }

  // ---- tokens ----
  addToken(t: {
    hash: string;
    class: string | null;
    autoApprove: boolean;
    expiresAt: number | null;
    maxUses: number | null;
    note: string | null;
  }): number {
    return Number(
      this.db
        .prepare(
          'INSERT INTO enrol_token (hash, class, auto_approve, expires_at, max_uses, note, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
        )
        .run(t.hash, t.class, t.autoApprove ? 1 : 0, t.expiresAt, t.maxUses, t.note, Date.now()).lastInsertRowid,
    );
  }
  tokenByHash(hash: string): TokenRow | undefined {
    return token(this.db.prepare<[string], TokenRow>(`SELECT ${TOKEN_COLS} FROM enrol_token WHERE hash = ?`).get(hash));
  }
  tokenById(id: number): TokenRow | undefined {
    return token(this.db.prepare<[number], TokenRow>(`SELECT ${TOKEN_COLS} FROM enrol_token WHERE id = ?`).get(id));
  }
  tokens(): TokenRow[] {
    return this.db
      .prepare<[], TokenRow>(`SELECT ${TOKEN_COLS} FROM enrol_token ORDER BY id`)
      .all()
      .map((r) => token(r)!);
  }
  useToken(id: number): void {
    this.db.prepare('UPDATE enrol_token SET uses = uses + 1 WHERE id = ?').run(id);
  }
  revokeToken(id: number): boolean {
    return (
      this.db.prepare('UPDATE enrol_token SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL').run(Date.now(), id)
        .changes > 0
    );
  }

  // ---- machines ----
  byId(id: number): MachineRow | undefined {
    return machine(this.byIdStmt.get(id));
  }
  byMachineId(machineId: string): MachineRow | undefined {
    return machine(
      this.db.prepare<[string], MachineRow>(`SELECT ${MACHINE_COLS} FROM machine WHERE machine_id = ?`).get(machineId),
    );
  }
  /** The LTSP chroots of a host. */
  childrenOf(id: number): MachineRow[] {
    return this.db
      .prepare<[number], MachineRow>(`SELECT ${MACHINE_COLS} FROM machine WHERE parent_id = ? ORDER BY id`)
      .all(id)
      .map((r) => machine(r)!);
  }

  byHostname(hostname: string): MachineRow[] {
    return this.db
      .prepare<[string], MachineRow>(`SELECT ${MACHINE_COLS} FROM machine WHERE hostname = ? ORDER BY id`)
      .all(hostname)
      .map((r) => machine(r)!);
  }
  all(): MachineRow[] {
    return this.db
      .prepare<[], MachineRow>(`SELECT ${MACHINE_COLS} FROM machine ORDER BY hostname, id`)
      .all()
      .map((r) => machine(r)!);
  }
  /** Every machine, only what class membership and targets read (a fraction of all()'s cost). */
  brief(): MachineBrief[] {
    return cached<[], MachineBrief>(
      this.db,
      'SELECT id, hostname, architecture, codename, status, parent_id AS parentId FROM machine',
    ).all();
  }
  /** Id and host name of these machines only (in id order). */
  hostnames(ids: readonly number[]): Array<{ id: number; hostname: string }> {
    if (!ids.length) return [];
    return cached<[string], { id: number; hostname: string }>(
      this.db,
      'SELECT id, hostname FROM machine WHERE id IN (SELECT value FROM json_each(?)) ORDER BY id',
    ).all(JSON.stringify(ids));
  }
  insert(
    m: Pick<
      MachineRow,
      'machineId' | 'parentId' | 'hostname' | 'architecture' | 'codename' | 'status' | 'secret' | 'tokenId' | 'facts'
    >,
  ): number {
    const now = Date.now();
    return Number(
      this.db
        .prepare(
          `INSERT INTO machine (machine_id, parent_id, hostname, architecture, codename, status, secret, token_id, facts, enrolled_at, approved_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          m.machineId,
          m.parentId,
          m.hostname,
          m.architecture,
          m.codename,
          m.status,
          m.secret,
          m.tokenId,
          m.facts,
          now,
          m.status === 'approved' ? now : null,
        ).lastInsertRowid,
    );
  }
  /**
   * Re-enrolment of a known machine-id: new secret and facts; its history stays. `newIdentity`:
   * the credential changed hands without proof of the old secret (a new credential version; the
   * replay mark restarts at `lastTs`).
   */
  reenrol(
    id: number,
    m: Pick<MachineRow, 'hostname' | 'architecture' | 'codename' | 'status' | 'secret' | 'tokenId' | 'facts'>,
    newIdentity?: { lastTs: number },
  ): void {
    this.db
      .prepare(
        `UPDATE machine SET hostname = ?, architecture = ?, codename = ?, status = ?, secret = ?, token_id = ?, facts = ?,
      approved_at = CASE WHEN ? = 'approved' THEN coalesce(approved_at, ?) ELSE NULL END, clone_machine_id = NULL, clone_at = NULL,
      credential_version = credential_version + ?, last_ts = coalesce(?, last_ts) WHERE id = ?`,
      )
      .run(
        m.hostname,
        m.architecture,
        m.codename,
        m.status,
        m.secret,
        m.tokenId,
        m.facts,
        m.status,
        Date.now(),
        newIdentity ? 1 : 0,
        newIdentity?.lastTs ?? null,
        id,
      );
  }
  /** The facts JSON and the codename column class rules match (a release upgrade changes it). */
  setFacts(id: number, facts: string, codename?: string | null): void {
    if (codename === undefined) this.db.prepare('UPDATE machine SET facts = ? WHERE id = ?').run(facts, id);
    else this.db.prepare('UPDATE machine SET facts = ?, codename = ? WHERE id = ?').run(facts, codename, id);
  }
  approve(id: number): boolean {
    return (
      this.db
        .prepare("UPDATE machine SET status = 'approved', approved_at = ? WHERE id = ? AND status = 'pending'")
        .run(Date.now(), id).changes > 0
    );
  }
  remove(id: number): boolean {
    return this.db.prepare('DELETE FROM machine WHERE id = ?').run(id).changes > 0;
  }
  /** false when ts is not newer than the last accepted timestamp (a replay) */
  acceptTimestamp(id: number, ts: number, address?: string): boolean {
    return this.touchStmt.run(ts, Date.now(), address ?? null, id, ts).changes > 0;
  }
  flagClone(id: number, otherMachineId: string): void {
    this.db
      .prepare('UPDATE machine SET clone_machine_id = ?, clone_at = ? WHERE id = ?')
      .run(otherMachineId, Date.now(), id);
  }
  setPullNow(ids: readonly number[], on: boolean): void {
    const st = this.db.prepare('UPDATE machine SET pull_now = ? WHERE id = ?');
    this.db.transaction(() => {
      for (const id of ids) st.run(on ? 1 : 0, id);
    })();
  }
  setState(
    id: number,
    stateHash: string,
    profileId: number,
    extras: string,
    viewId: number | null,
    disagreements: string | null,
  ): void {
    const now = Date.now();
    this.db.transaction(() => {
      cached(
        this.db,
        'UPDATE machine SET state_hash = ?, profile_id = ?, reported_at = ?, pull_now = 0 WHERE id = ?',
      ).run(stateHash, profileId, now, id);
      cached(
        this.db,
        // reboot_required: the extras' flag as a column the machine list filters by (no JSON per machine)
        `INSERT INTO machine_report (machine_id, reported_at, extras, view_id, disagreements, reboot_required)
        VALUES (?, ?, ?, ?, ?, json_extract(?, '$.reboot.required'))
        ON CONFLICT (machine_id) DO UPDATE SET reported_at = excluded.reported_at, extras = excluded.extras, view_id = excluded.view_id,
        disagreements = excluded.disagreements, reboot_required = excluded.reboot_required`,
      ).run(id, now, extras, viewId, disagreements, extras);
    })();
  }
  /** The state the server holds was confirmed current by the machine (a check-in with its hash). */
  confirmState(id: number): void {
    cached(this.db, 'UPDATE machine SET reported_at = ? WHERE id = ?').run(Date.now(), id);
  }
  setDisagreements(id: number, disagreements: string | null): void {
    cached(this.db, 'UPDATE machine_report SET disagreements = ? WHERE machine_id = ?').run(disagreements, id);
  }
  // ---- re-enrolments waiting for approval ----
  pendingReenrol(id: number): ReenrolRow | undefined {
    return cached<[number], ReenrolRow>(
      this.db,
      `SELECT ${REENROL_COLS} FROM machine_reenrol WHERE machine_id = ?`,
    ).get(id);
  }
  pendingReenrols(): ReenrolRow[] {
    return this.db.prepare<[], ReenrolRow>(`SELECT ${REENROL_COLS} FROM machine_reenrol ORDER BY machine_id`).all();
  }
  /** One per machine: a newer request replaces the one waiting. */
  putReenrol(r: Omit<ReenrolRow, 'lastTs'>): void {
    this.db
      .prepare(
        `INSERT OR REPLACE INTO machine_reenrol (machine_id, secret, code, token_id, hostname, architecture, codename, facts, client, requested_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        r.machineId,
        r.secret,
        r.code,
        r.tokenId,
        r.hostname,
        r.architecture,
        r.codename,
        r.facts,
        r.client,
        r.requestedAt,
      );
  }
  /** A call signed with the waiting credential: its own replay mark (the current one's is not touched). */
  acceptReenrolTimestamp(id: number, ts: number): boolean {
    return (
      cached<[number, number, number]>(
        this.db,
        'UPDATE machine_reenrol SET last_ts = ? WHERE machine_id = ? AND last_ts < ?',
      ).run(ts, id, ts).changes > 0
    );
  }
  dropReenrol(id: number): boolean {
    return this.db.prepare('DELETE FROM machine_reenrol WHERE machine_id = ?').run(id).changes > 0;
  }

  report(id: number): ReportRow | undefined {
    return cached<[number], ReportRow>(
      this.db,
      `SELECT machine_id AS machineId, reported_at AS reportedAt, extras, view_id AS viewId,
      disagreements FROM machine_report WHERE machine_id = ?`,
    ).get(id);
  }
}
