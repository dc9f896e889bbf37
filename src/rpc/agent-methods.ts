// The agent.* methods: enrolment, check-in, reports, jobs. Parameters are structs; every
// member is checked here (type, size, syntax) before the fleet sees it. Documented in docs/rpc.md.
import { fail } from '../errors.js';
import {
  CHROOT_NAME_RE,
  type AgentExposures,
  type AptUpgradable,
  type CollectedExtras,
  type SourceFile,
} from '../protocol/wire.js';
import { checkFacts } from '../fleet/enrolment.js';
import type { ReenrolProof } from '../protocol/identity-proof.js';
import type { Fleet } from '../fleet/fleet.js';
import type { MachineRef } from '../fleet/auth.js';
import type { CallContext, MethodTable } from './methods.js';

type Struct = Record<string, unknown>;

function bad(what: string): never {
  fail('RPC_INVALID_PARAMS', what);
}
const isStruct = (v: unknown): v is Struct =>
  v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Date) && !Buffer.isBuffer(v);

function str(s: Struct, k: string, max: number, re?: RegExp): string {
  const v = s[k];
  if (typeof v !== 'string' || v.length > max || (re && !re.test(v)))
    bad(`${k} must be a string${re ? ' of the documented form' : ''} of at most ${max} characters`);
  return v;
}
function optStr(s: Struct, k: string, max: number): string {
  return s[k] === undefined ? '' : str(s, k, max);
}
function bool(s: Struct, k: string): boolean {
  if (typeof s[k] !== 'boolean') bad(`${k} must be a boolean`);
  return s[k] as boolean;
}
function int(s: Struct, k: string, min: number, max: number): number {
  const v = s[k];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) bad(`${k} must be an int in ${min}..${max}`);
  return v;
}
function arr(s: Struct, k: string, max: number): unknown[] {
  const v = s[k] ?? [];
  if (!Array.isArray(v) || v.length > max) bad(`${k} must be an array of at most ${max} items`);
  return v;
}
function struct(s: Struct, k: string): Struct {
  if (!isStruct(s[k])) bad(`${k} must be a struct`);
  return s[k] as Struct;
}
function b64(s: Struct, k: string): Buffer | undefined {
  const v = s[k];
  if (v === undefined) return undefined;
  if (!Buffer.isBuffer(v)) bad(`${k} must be base64`);
  return v;
}

const HASH_RE = /^[0-9a-f]{64}$/;
const MACHINE_ID_RE = /^[0-9a-f]{32}$/;
const PKG_ARCH_RE = /^[a-z0-9][a-z0-9+.-]*:[a-z0-9][a-z0-9-]*$/;

function files(s: Struct, k: string): SourceFile[] {
  return arr(s, k, 500).map((f) => {
    if (!isStruct(f)) bad(`${k} items must be structs {path, content}`);
    return { path: str(f, 'path', 4096, /^\/[^\0]*$/), content: str(f, 'content', 256 * 1024) };
  });
}

function extrasOf(s: Struct): CollectedExtras {
  const reboot = struct(s, 'reboot');
  const dpkg = struct(s, 'dpkg');
  return {
    holds: arr(s, 'holds', 100_000).map((h) =>
      typeof h === 'string' && PKG_ARCH_RE.test(h) ? h : bad('holds are package:architecture'),
    ),
    sources: files(s, 'sources'),
    preferences: files(s, 'preferences'),
    aptUpgradable: arr(s, 'aptUpgradable', 100_000).map((u): AptUpgradable => {
      if (!isStruct(u)) bad('aptUpgradable items must be structs');
      return {
        package: str(u, 'package', 200),
        architecture: str(u, 'architecture', 40),
        installed: str(u, 'installed', 200),
        candidate: str(u, 'candidate', 200),
        security: bool(u, 'security'),
      };
    }),
    reboot: {
      required: bool(reboot, 'required'),
      packages: arr(reboot, 'packages', 10_000).map((p) =>
        typeof p === 'string' && p.length <= 200 ? p : bad('reboot.packages are names'),
      ),
    },
    dpkg: { audit: str(dpkg, 'audit', 256 * 1024), interrupted: bool(dpkg, 'interrupted') },
    ...(s['os'] === undefined ? {} : { os: osOf(struct(s, 'os')) }),
  };
}

function osOf(o: Struct): { distribution: string; codename: string } {
  return {
    distribution: str(o, 'distribution', 64, /^[A-Za-z0-9._+~-]*$/),
    codename: str(o, 'codename', 40, /^(?:[a-z0-9][a-z0-9.-]{0,39})?$/),
  };
}

const FAILURE_RE = /^[a-z-]{1,40}$/;

function proofOf(p: Struct): ReenrolProof {
  return {
    machine: int(p, 'machine', 1, 2 ** 31 - 1),
    timestamp: str(p, 'timestamp', 16, /^[1-9][0-9]{0,15}$/),
    nonce: str(p, 'nonce', 64, /^[0-9a-f]{16,64}$/),
    signature: str(p, 'signature', 64, HASH_RE),
  };
}

/** The signing machine of a call: the row its signature was checked with (the call's own context), else its id. */
const caller = (ctx: CallContext): MachineRef => ctx.verified ?? ctx.machine!;

export function registerAgentMethods(
  table: MethodTable,
  fleet: Fleet,
  more: { exposuresOf?: (machine: number) => Promise<AgentExposures> } = {},
): void {
  table.add({
    name: 'agent.enroll',
    signature: ['struct', 'struct'],
    help: 'Enrolment: {token: string, facts: struct, proof?: {machine, timestamp, nonce, signature}} → {machine: int, secret: string, status: "pending"|"approved", reenrol: ""|"proven"|"pending", code: string}. The secret signs every later call; it is given only here. An enrolled machine-id gets a new secret at once only with a proof made with its current secret; on a token alone the new credential waits for aptgate machines approve (reenrol "pending", code to compare) while the current one keeps working. Fault 4 for a token that is unknown, expired, revoked or used up; 13 when enrolments from this address, with this token or of this machine-id exceed their rate.',
    handler: ([p], ctx) => {
      const s = p as Struct;
      const token = str(s, 'token', 200);
      const facts = checkFacts(struct(s, 'facts'));
      const proof = s['proof'] === undefined ? undefined : proofOf(struct(s, 'proof'));
      const e = fleet.enrol(token, facts, { client: ctx.client, ...(proof ? { proof } : {}) });
      return { machine: e.machine, secret: e.secret, status: e.status, reenrol: e.reenrol, code: e.code };
    },
  });
  table.add({
    name: 'agent.enrollChroot',
    signature: ['struct', 'struct'],
    auth: true,
    help: "An LTSP chroot of this (approved) host: {machineId (the host's), name, path (the chroot's directory on the host), facts (the chroot's)} → {machine, secret, status, machineId}. The chroot's machine-id is derived by the server from the host's and the path (facts.machineId must be that one, else fault 6). The chroot becomes a machine whose parent is the host, named host/name, with the host's status and token class. Signed by the host.",
    handler: ([p], ctx) => {
      const s = p as Struct;
      const chroot = { name: str(s, 'name', 63, CHROOT_NAME_RE), path: str(s, 'path', 4096, /^\/[^\0]*$/) };
      const e = fleet.enrolChroot(
        caller(ctx),
        str(s, 'machineId', 64, MACHINE_ID_RE),
        chroot,
        checkFacts(struct(s, 'facts')),
        ctx.client,
      );
      return { machine: e.machine, secret: e.secret, status: e.status, machineId: e.machineId };
    },
  });
  table.add({
    name: 'agent.checkIn',
    signature: ['struct', 'struct'],
    auth: true,
    help: "The cheap call: {machineId, state, packages} (hashes) → {status, stateKnown, packagesKnown, packagesBase, jobsWaiting, pullNow, sources, aptProxy} (aptProxy: the http proxy of the machine's site, '' when none). Signed.",
    handler: ([p], ctx) => {
      const s = p as Struct;
      return fleet.checkIn(caller(ctx), {
        machineId: str(s, 'machineId', 64, MACHINE_ID_RE),
        state: str(s, 'state', 64, HASH_RE),
        packages: str(s, 'packages', 64, HASH_RE),
        ...(ctx.host ? { host: ctx.host } : {}),
      });
    },
  });
  table.add({
    name: 'agent.stageSources',
    signature: ['struct', 'struct'],
    auth: true,
    help: "The apt sources of the machine's stage (release gate): {machineId} → {entries: array of {uri, suites, components}, key: string (armored public key of the server, for Signed-By), hash}. Signed.",
    handler: async ([p], ctx) => {
      const s = p as Struct;
      return fleet.sourcesOf(caller(ctx), str(s, 'machineId', 64, MACHINE_ID_RE), ctx.host);
    },
  });
  table.add({
    name: 'agent.report',
    signature: ['struct', 'struct'],
    auth: true,
    help: 'A state report: {machineId, state, packages: {hash, full?|base?+upsert?+remove?}, holds, sources, preferences, aptUpgradable, reboot, dpkg} → {profile: int}. Faults 7/8 ask for the packages in full. Signed.',
    handler: ([p], ctx) => {
      const s = p as Struct;
      const pk = struct(s, 'packages');
      const full = b64(pk, 'full');
      const upsert = b64(pk, 'upsert');
      const base = pk['base'] === undefined ? undefined : str(pk, 'base', 64, HASH_RE);
      const remove = arr(pk, 'remove', 100_000).map((k) =>
        typeof k === 'string' && PKG_ARCH_RE.test(k) ? k : bad('packages.remove items are package:architecture'),
      );
      return fleet.report(caller(ctx), {
        machineId: str(s, 'machineId', 64, MACHINE_ID_RE),
        state: str(s, 'state', 64, HASH_RE),
        packages: {
          hash: str(pk, 'hash', 64, HASH_RE),
          ...(full ? { full } : {}),
          ...(base !== undefined ? { base } : {}),
          ...(upsert ? { upsert } : {}),
          remove,
        },
        extras: extrasOf(s),
        agentVersion: optStr(s, 'agentVersion', 100),
        ...(ctx.host ? { serverHost: ctx.host } : {}),
      });
    },
  });
  table.add({
    name: 'agent.outdated',
    signature: ['struct', 'struct'],
    auth: true,
    help: 'What the server finds outdated on this machine, from its last report: {machineId} → {stage: string ("" when not gated), approved: struct, available: struct}; each {known: boolean, outdated, security, packages: array of {package, architecture, installed, candidate, security, held}}; approved = in its stage (what it may install), available = newest upstream. Signed.',
    handler: async ([p], ctx) => {
      const s = p as Struct;
      fleet.auth.identify(caller(ctx), str(s, 'machineId', 64, MACHINE_ID_RE));
      // computed in the server's worker and cached first: never on the event loop right after a report
      await fleet.prepareOutdated(ctx.machine!);
      const o = await fleet.outdatedListsInSlices(ctx.machine!);
      const part = (l: typeof o.approved) =>
        l
          ? { known: true, outdated: l.counts.outdated, security: l.counts.security, packages: l.entries }
          : { known: false, outdated: 0, security: 0, packages: [] };
      return { stage: o.stage ?? '', approved: part(o.approved), available: part(o.available) };
    },
  });
  if (more.exposuresOf) {
    const exposuresOf = more.exposuresOf;
    table.add({
      name: 'agent.exposures',
      signature: ['struct', 'struct'],
      auth: true,
      help: 'The CVEs the server finds this machine exposed to (its last report against the imported advisories): {machineId} → {known: boolean, total: int, byUrgency: struct of int, cves: array of {cve, urgency, source, installed, fixed, status}} (the most urgent 20). Signed.',
      handler: async ([p], ctx) => {
        const s = p as Struct;
        fleet.auth.identify(caller(ctx), str(s, 'machineId', 64, MACHINE_ID_RE));
        return exposuresOf(ctx.machine!);
      },
    });
  }
  table.add({
    name: 'agent.fetchJob',
    signature: ['struct', 'struct'],
    auth: true,
    help: 'The next job: {machineId} → {jobs: array of at most one {id, kind, params, policy, attempt, leaseSeconds, deadline}}. One job at a time per machine. Signed.',
    handler: ([p], ctx) => {
      const s = p as Struct;
      const d = fleet.fetchJob(caller(ctx), str(s, 'machineId', 64, MACHINE_ID_RE));
      return { jobs: d ? [{ ...d, deadline: d.deadline === null ? '' : new Date(d.deadline) }] : [] };
    },
  });
  table.add({
    name: 'agent.jobStarted',
    signature: ['struct', 'struct'],
    auth: true,
    help: 'The agent starts a job: {machineId, id} → {leaseSeconds}. Fault 10 when it was cancelled or expired meanwhile: do not run it; 14 when it was leased to another identity of this machine. Signed.',
    handler: ([p], ctx) => {
      const s = p as Struct;
      return fleet.jobStarted(caller(ctx), str(s, 'machineId', 64, MACHINE_ID_RE), int(s, 'id', 1, 2 ** 31 - 1));
    },
  });
  table.add({
    name: 'agent.jobFinished',
    signature: ['struct', 'struct'],
    auth: true,
    help: 'A job\'s result: {machineId, id, exitCode, durationMs, failure ("" on success), summary, transcript} → {state}. Idempotent: reporting again changes nothing. Only from the identity the job was leased to: fault 14 otherwise (a job handed out before a re-enrolment). Signed.',
    handler: ([p], ctx) => {
      const s = p as Struct;
      const failure = optStr(s, 'failure', 40);
      if (failure && !FAILURE_RE.test(failure)) bad('failure must be a failure reason name');
      return fleet.jobFinished(caller(ctx), str(s, 'machineId', 64, MACHINE_ID_RE), int(s, 'id', 1, 2 ** 31 - 1), {
        exitCode: int(s, 'exitCode', -1, 255),
        durationMs: int(s, 'durationMs', 0, 2 ** 31 - 1),
        failure: failure || null,
        summary: optStr(s, 'summary', 4000),
        transcript: optStr(s, 'transcript', 1024 * 1024),
      });
    },
  });
}
