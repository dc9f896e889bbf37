// Enrolment: administrator-made tokens (stored hashed, shown once, optionally expiring, limited
// in uses, auto-approving or not) exchanged by an agent for a machine identity and a secret.
// A machine-id enrols once. Enrolling it again never hands its identity over on a token alone:
// with proof of the current secret the secret is rotated; without, the new credential waits for
// the administrator (`aptgate machines approve`) while the current one keeps working.
// Enrolments are rate-limited per client address, per token and per machine-id.
import { createHash, randomBytes } from 'node:crypto';
import { defaultConfig } from '../config.js';
import { fail } from '../errors.js';
import { chrootMachineId, reenrolProofMatches, type ReenrolProof } from '../protocol/identity-proof.js';
import { SIGNATURE_WINDOW_MS } from '../protocol/signing.js';
import type { MachineRow, MachineStore, ReenrolRow, TokenRow } from '../state/machines.js';
import type { MachineFacts } from '../protocol/wire.js';
import { addressKey, RateLimiter, type Rate } from './rate-limit.js';

export type { MachineFacts };

export interface Enrolled {
  machine: number;
  secret: string;
  status: MachineRow['status'];
  /**
   * '' a new machine; 'proven' an enrolled machine-id that proved its secret (rotated);
   * 'pending' an enrolled machine-id on a token alone: the credential waits for approval
   */
  reenrol: '' | 'proven' | 'pending';
  /** of a pending re-enrolment: shown by the agent and by `aptgate machines show`, to compare */
  code: string;
  /** the machine-id the identity is bound to (a chroot's is derived by the server) */
  machineId: string;
}

export interface EnrolLimits {
  /** enrolments (also refused ones) from one client address */
  address: Rate;
  /** enrolments with one token */
  token: Rate;
  /** enrolments of one machine-id (a chroot's too) */
  machine: Rate;
}

/** The shipped defaults (config.ts holds them once). */
export const DEFAULT_ENROL_LIMITS: EnrolLimits = defaultConfig().fleet.enrolLimits;

export interface EnrolmentDeps {
  machines: MachineStore;
  joinClass: (className: string, machine: number) => void;
  /** the machine's credential changed hands: leases of the old identity end */
  endLeases?: (machine: number) => void;
  limits?: EnrolLimits;
}

/** Chroots one host may enrol (a compromised host cannot mint machines without end). */
const MAX_CHROOTS = 100;

const hashToken = (t: string) => createHash('sha256').update(t).digest('hex');

export function newToken(): string {
  return `agt_${randomBytes(24).toString('base64url')}`;
}

const HOST_RE = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}))*$/;
const ARCH_RE = /^[a-z0-9][a-z0-9-]{0,39}$/;
const WORD_RE = /^[A-Za-z0-9][A-Za-z0-9 ._+~:/()-]{0,127}$/;

/** Facts as sent by an agent, checked field by field (INVALID_PARAMS names the field). */
export function checkFacts(f: Record<string, unknown>): MachineFacts {
  const str = (k: string, re: RegExp, optional = false): string => {
    const v = f[k];
    if (optional && (v === undefined || v === '')) return '';
    if (typeof v !== 'string' || !re.test(v)) fail('RPC_INVALID_PARAMS', `facts.${k} is missing or malformed`);
    return v;
  };
  const foreign = f['foreignArchitectures'] ?? [];
  if (
    !Array.isArray(foreign) ||
    foreign.length > 16 ||
    !foreign.every((a) => typeof a === 'string' && ARCH_RE.test(a))
  ) {
    fail('RPC_INVALID_PARAMS', 'facts.foreignArchitectures must be an array of architecture names');
  }
  return {
    hostname: str('hostname', HOST_RE),
    machineId: str('machineId', /^[0-9a-f]{32}$/),
    architecture: str('architecture', ARCH_RE),
    foreignArchitectures: foreign as string[],
    distribution: str('distribution', WORD_RE, true),
    codename: str('codename', /^[a-z0-9][a-z0-9.-]{0,39}$/, true),
    kernel: str('kernel', WORD_RE, true),
    agentVersion: str('agentVersion', WORD_RE, true),
  };
}

export interface TokenOptions {
  class?: string | undefined;
  autoApprove?: boolean;
  expiresInMs?: number | undefined;
  maxUses?: number | undefined;
  note?: string | undefined;
}

export class Enrolment {
  private readonly machines: MachineStore;
  private readonly limits: EnrolLimits;
  // one map per kind of key: a flood of client addresses (unauthenticated, from a range of
  // addresses) pushes out only other addresses' buckets, never a token's or a machine-id's
  private readonly limiters = { a: new RateLimiter(), t: new RateLimiter(), m: new RateLimiter() };

  constructor(private readonly deps: EnrolmentDeps) {
    this.machines = deps.machines;
    this.limits = deps.limits ?? DEFAULT_ENROL_LIMITS;
  }

  /** Creates a token; the returned text is the only copy. */
  createToken(o: TokenOptions): { id: number; token: string; expiresAt: number | null } {
    const token = newToken();
    const expiresAt = o.expiresInMs ? Date.now() + o.expiresInMs : null;
    const id = this.machines.addToken({
      hash: hashToken(token),
      class: o.class ?? null,
      autoApprove: o.autoApprove === true,
      expiresAt,
      maxUses: o.maxUses ?? null,
      note: o.note ?? null,
    });
    return { id, token, expiresAt };
  }

  private usableToken(token: string): TokenRow {
    const t = /^agt_[A-Za-z0-9_-]{32}$/.test(token) ? this.machines.tokenByHash(hashToken(token)) : undefined;
    if (!t) fail('TOKEN_INVALID', 'unknown enrolment token');
    if (t.revokedAt !== null) fail('TOKEN_INVALID', 'the enrolment token was revoked');
    if (t.expiresAt !== null && t.expiresAt <= Date.now()) fail('TOKEN_INVALID', 'the enrolment token has expired');
    if (t.maxUses !== null && t.uses >= t.maxUses) fail('TOKEN_INVALID', 'the enrolment token is used up');
    return t;
  }

  private limit(key: `${'a' | 't' | 'm'}:${string}`, rate: Rate, what: string): void {
    this.limiters[key[0] as 'a' | 't' | 'm'].take(key, rate, 'ENROL_RATE_LIMITED', what);
  }

  private joinTokenClass(tokenId: number | null, machine: number): void {
    const t = tokenId === null ? undefined : this.machines.tokenById(tokenId);
    if (t?.class) this.deps.joinClass(t.class, machine);
  }

  /**
   * An LTSP chroot, enrolled by its host's agent: a machine whose parent is the host, named
   * "host/name", approved when the host is, in the class of the host's token. Its machine-id is
   * derived here from the host's and the chroot's path (the agent's facts must carry that very
   * id): a host can make chroots, but never claim another machine's identity this way.
   */
  enrolChroot(host: MachineRow, chroot: { name: string; path: string }, facts: MachineFacts, client = ''): Enrolled {
    if (host.parentId !== null) fail('RPC_INVALID_PARAMS', 'a chroot has no chroots of its own');
    const machineId = chrootMachineId(host.machineId, chroot.path);
    if (facts.machineId !== machineId)
      fail(
        'CLONE_DETECTED',
        `a chroot's machine-id is derived from its host and its path (${machineId} for ${chroot.path.slice(0, 200)}): it cannot be chosen`,
      );
    if (client) this.limit(`a:${addressKey(client)}`, this.limits.address, `from ${addressKey(client)}`);
    this.limit(`m:${machineId}`, this.limits.machine, `of machine-id ${machineId}`);
    return this.machines.db
      .transaction(() => {
        const token = host.tokenId === null ? undefined : this.machines.tokenById(host.tokenId);
        if (token?.revokedAt != null)
          fail('TOKEN_INVALID', 'the token this host enrolled with was revoked: no further chroots enrol through it');
        const secret = randomBytes(32).toString('base64url');
        const hostname = `${host.hostname}/${chroot.name}`;
        const fields = {
          hostname,
          architecture: facts.architecture,
          codename: facts.codename || null,
          status: host.status,
          secret,
          tokenId: host.tokenId,
          facts: JSON.stringify({ ...facts, hostname }),
        };
        let known = this.machines.byMachineId(machineId);
        if (known && known.parentId === null) {
          // a machine enrolled on a token with this derived id: nothing ever has it as its own
          // /etc/machine-id, so it was computed to block the chroot (a squatter): it goes
          this.machines.remove(known.id);
          known = undefined;
        }
        if (known && known.parentId !== host.id)
          fail('CLONE_DETECTED', 'this chroot machine-id belongs to another machine');
        let id: number;
        if (known) {
          // the host lost the chroot's credential: a new identity (what the old one was leased ends)
          this.machines.reenrol(known.id, fields, { lastTs: 0 });
          this.deps.endLeases?.(known.id);
          id = known.id;
        } else {
          if (this.machines.childrenOf(host.id).length >= MAX_CHROOTS)
            fail('RPC_INVALID_PARAMS', `a host has at most ${MAX_CHROOTS} chroots`);
          id = this.machines.insert({ ...fields, machineId, parentId: host.id });
          if (token?.class) this.deps.joinClass(token.class, id);
        }
        return {
          machine: id,
          secret,
          status: host.status,
          reenrol: known ? ('proven' as const) : ('' as const),
          code: '',
          machineId,
        };
      })
      .immediate();
  }

  /** Whether a re-enrolment proves the machine's current secret (and is not a replay). */
  private proves(known: MachineRow, p: ReenrolProof | undefined, machineId: string, token: string): boolean {
    if (!p || p.machine !== known.id || !reenrolProofMatches(known.secret, p, machineId, token)) return false;
    const ts = Number(p.timestamp);
    return Math.abs(ts - Date.now()) <= SIGNATURE_WINDOW_MS && this.machines.acceptTimestamp(known.id, ts);
  }

  /**
   * An agent enrols with a token. `client`: its address (rate limits); `proof`: given by an agent
   * that still holds the machine's credential (protocol/identity-proof.ts).
   */
  enrol(token: string, facts: MachineFacts, o: { client?: string; proof?: ReenrolProof } = {}): Enrolled {
    const client = o.client ?? '';
    if (client) this.limit(`a:${addressKey(client)}`, this.limits.address, `from ${addressKey(client)}`);
    return this.machines.db
      .transaction((): Enrolled => {
        const t = this.usableToken(token);
        this.limit(`t:${t.id}`, this.limits.token, `with token ${t.id}`);
        const known = this.machines.byMachineId(facts.machineId);
        const proven =
          known !== undefined && known.parentId == null && this.proves(known, o.proof, facts.machineId, token);
        // the holder of the secret is never limited per machine-id: a token holder using up that
        // allowance must not block the real machine's renewal
        if (!proven) this.limit(`m:${facts.machineId}`, this.limits.machine, `of machine-id ${facts.machineId}`);
        const secret = randomBytes(32).toString('base64url');
        const fields = {
          hostname: facts.hostname,
          architecture: facts.architecture,
          codename: facts.codename || null,
          secret,
          tokenId: t.id,
          facts: JSON.stringify(facts),
        };
        // a chroot's identity is its host's to renew (agent.enrollChroot), never a token holder's
        if (known?.parentId != null)
          fail('CLONE_DETECTED', 'this machine-id belongs to an LTSP chroot of another machine');
        this.machines.useToken(t.id);
        if (!known) {
          const status = t.autoApprove ? ('approved' as const) : ('pending' as const);
          const id = this.machines.insert({ ...fields, status, machineId: facts.machineId, parentId: null });
          if (t.class) this.deps.joinClass(t.class, id);
          return { machine: id, secret, status, reenrol: '', code: '', machineId: facts.machineId };
        }
        if (proven) {
          // the holder of the identity renews its secret: same identity, approval kept
          const status = known.status === 'approved' || t.autoApprove ? ('approved' as const) : ('pending' as const);
          this.machines.reenrol(known.id, { ...fields, status });
          if (t.class) this.deps.joinClass(t.class, known.id);
          return { machine: known.id, secret, status, reenrol: 'proven', code: '', machineId: facts.machineId };
        }
        // a token alone (/etc/machine-id is world-readable): a new credential that waits for the
        // administrator; the current one keeps working, nothing (class, facts) changes until then
        const code = randomBytes(4).toString('hex');
        this.machines.putReenrol({
          machineId: known.id,
          secret,
          code,
          tokenId: t.id,
          hostname: facts.hostname,
          architecture: facts.architecture,
          codename: facts.codename || null,
          facts: fields.facts,
          client,
          requestedAt: Date.now(),
        });
        return { machine: known.id, secret, status: 'pending', reenrol: 'pending', code, machineId: facts.machineId };
      })
      .immediate();
  }

  /**
   * `aptgate machines approve`: a pending machine is approved; a waiting re-enrolment becomes the
   * machine's identity (a new credential version: what the old one was leased is handed out again).
   * `code` must be the waiting re-enrolment's: without it a waiting re-enrolment is refused, so
   * approving a pending machine never hands it to a re-enrolment slipped in meanwhile.
   */
  approve(id: number, code?: string): { changed: boolean; reenrolment: ReenrolRow | null } {
    return this.machines.db
      .transaction(() => {
        const r = this.machines.pendingReenrol(id);
        if (code === undefined && r) {
          fail(
            'USAGE',
            `machine ${id} has a re-enrolment waiting (code ${r.code}, from ${r.client || 'an unknown address'}): approve it with --code ${r.code} only if its agent printed that code, or refuse it with aptgate machines reject ${id}`,
          );
        }
        if (code !== undefined && r?.code !== code) {
          fail(
            'USAGE',
            r
              ? `the re-enrolment of machine ${id} that waits has code ${r.code}, not ${code.slice(0, 40)}`
              : `no re-enrolment of machine ${id} waits for approval`,
          );
        }
        if (!r) return { changed: this.machines.approve(id), reenrolment: null };
        this.machines.reenrol(
          id,
          {
            hostname: r.hostname,
            architecture: r.architecture,
            codename: r.codename,
            status: 'approved',
            secret: r.secret,
            tokenId: r.tokenId,
            facts: r.facts,
          },
          { lastTs: r.lastTs },
        );
        this.machines.dropReenrol(id);
        this.joinTokenClass(r.tokenId, id);
        this.deps.endLeases?.(id);
        return { changed: true, reenrolment: r };
      })
      .immediate();
  }

  /** `aptgate machines reject`: a waiting re-enrolment is dropped; the current identity stays. */
  reject(id: number): ReenrolRow | undefined {
    return this.machines.db
      .transaction(() => {
        const r = this.machines.pendingReenrol(id);
        if (r) this.machines.dropReenrol(id);
        return r;
      })
      .immediate();
  }
}
