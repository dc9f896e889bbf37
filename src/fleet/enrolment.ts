// Enrolment: administrator-made tokens (stored hashed, shown once, optionally expiring, limited
// in uses, auto-approving or not) exchanged by an agent for a machine identity and a secret.
// A machine-id enrols once: enrolling it again rotates the secret instead of duplicating it.
import { createHash, randomBytes } from 'node:crypto';
import { RpcFault } from '../rpc/protocol.js';
import type { MachineRow, MachineStore, TokenRow } from '../state/machines.js';
import type { MachineFacts } from '../rpc/wire.js';

export type { MachineFacts };

export interface Enrolled {
  machine: number;
  secret: string;
  status: MachineRow['status'];
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
    if (typeof v !== 'string' || !re.test(v)) throw new RpcFault('INVALID_PARAMS', `facts.${k} is missing or malformed`);
    return v;
  };
  const foreign = f['foreignArchitectures'] ?? [];
  if (!Array.isArray(foreign) || foreign.length > 16 || !foreign.every((a) => typeof a === 'string' && ARCH_RE.test(a))) {
    throw new RpcFault('INVALID_PARAMS', 'facts.foreignArchitectures must be an array of architecture names');
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
  constructor(private readonly machines: MachineStore, private readonly joinClass: (className: string, machine: number) => void) {}

  /** Creates a token; the returned text is the only copy. */
  createToken(o: TokenOptions): { id: number; token: string; expiresAt: number | null } {
    const token = newToken();
    const expiresAt = o.expiresInMs ? Date.now() + o.expiresInMs : null;
    const id = this.machines.addToken({ hash: hashToken(token), class: o.class ?? null, autoApprove: o.autoApprove === true, expiresAt, maxUses: o.maxUses ?? null, note: o.note ?? null });
    return { id, token, expiresAt };
  }

  private usableToken(token: string): TokenRow {
    const t = /^agt_[A-Za-z0-9_-]{32}$/.test(token) ? this.machines.tokenByHash(hashToken(token)) : undefined;
    if (!t) throw new RpcFault('TOKEN_INVALID', 'unknown enrolment token');
    if (t.revokedAt !== null) throw new RpcFault('TOKEN_INVALID', 'the enrolment token was revoked');
    if (t.expiresAt !== null && t.expiresAt <= Date.now()) throw new RpcFault('TOKEN_INVALID', 'the enrolment token has expired');
    if (t.maxUses !== null && t.uses >= t.maxUses) throw new RpcFault('TOKEN_INVALID', 'the enrolment token is used up');
    return t;
  }

  /**
   * An LTSP chroot, enrolled by its host's agent: a machine whose parent is the host, named
   * "host/name", approved when the host is, in the class of the host's token. Its machine-id
   * (derived by the agent from the host's and the chroot's path) enrols again only under the
   * same host: a host cannot take over another machine's identity this way.
   */
  enrolChroot(host: MachineRow, name: string, facts: MachineFacts): Enrolled {
    if (host.parentId !== null) throw new RpcFault('INVALID_PARAMS', 'a chroot has no chroots of its own');
    const db = this.machines.db;
    return db.transaction(() => {
      const token = host.tokenId === null ? undefined : this.machines.tokenById(host.tokenId);
      if (token?.revokedAt != null) throw new RpcFault('TOKEN_INVALID', 'the token this host enrolled with was revoked: no further chroots enrol through it');
      const secret = randomBytes(32).toString('base64url');
      const hostname = `${host.hostname}/${name}`;
      const fields = { hostname, architecture: facts.architecture, codename: facts.codename || null, status: host.status, secret, tokenId: host.tokenId, facts: JSON.stringify({ ...facts, hostname }) };
      const known = this.machines.byMachineId(facts.machineId);
      if (known && known.parentId !== host.id) throw new RpcFault('CLONE_DETECTED', 'this chroot machine-id belongs to another machine');
      let id: number;
      if (known) {
        this.machines.reenrol(known.id, fields);
        id = known.id;
      } else {
        if (this.machines.childrenOf(host.id).length >= MAX_CHROOTS) throw new RpcFault('INVALID_PARAMS', `a host has at most ${MAX_CHROOTS} chroots`);
        id = this.machines.insert({ ...fields, machineId: facts.machineId, parentId: host.id });
        if (token?.class) this.joinClass(token.class, id);
      }
      return { machine: id, secret, status: host.status };
    }).immediate();
  }

  enrol(token: string, facts: MachineFacts, parentId: number | null = null): Enrolled {
    const db = this.machines.db;
    return db.transaction(() => {
      const t = this.usableToken(token);
      const secret = randomBytes(32).toString('base64url');
      const status = t.autoApprove ? 'approved' as const : 'pending' as const;
      const fields = { hostname: facts.hostname, architecture: facts.architecture, codename: facts.codename || null, status, secret, tokenId: t.id, facts: JSON.stringify(facts) };
      const known = this.machines.byMachineId(facts.machineId);
      // a chroot's identity is its host's to renew (agent.enrollChroot), never a token holder's
      if (known?.parentId != null) throw new RpcFault('CLONE_DETECTED', 'this machine-id belongs to an LTSP chroot of another machine');
      let id: number;
      if (known) {
        // the same machine enrolling again (reinstalled agent, lost secret): one identity, new secret
        this.machines.reenrol(known.id, fields);
        id = known.id;
      } else {
        id = this.machines.insert({ ...fields, machineId: facts.machineId, parentId });
      }
      this.machines.useToken(t.id);
      if (t.class) this.joinClass(t.class, id);
      return { machine: id, secret, status };
    }).immediate();
  }
}
