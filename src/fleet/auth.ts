// Verifies a signed agent call (protocol/signing.ts) against the machine's secret, refuses replays
// by the machine's last accepted timestamp, and checks the machine is still the one that
// enrolled (its /etc/machine-id) so copied credentials are flagged as a clone. A call signed
// with a re-enrolment's credential that still waits for approval is answered MACHINE_PENDING
// and changes nothing (it has its own replay mark: it cannot lock the current credential out).
import { fail } from '../errors.js';
import { SIGNATURE_WINDOW_MS, signatureMatches, signedHeaders, type SignedHeaders } from '../protocol/signing.js';
import type { MachineRow, MachineStore } from '../state/machines.js';
import { unmapIPv4 } from '../sys/address.js';

/** The machine row read to check a call's signature: it travels in that call's context (one read per call). */
export type VerifiedMachine = MachineRow;

/** A machine as a call names it: the verified row of its context, or an id (then read). */
export type MachineRef = number | VerifiedMachine;

export const idOf = (ref: MachineRef): number => (typeof ref === 'number' ? ref : ref.id);

export class AgentAuth {
  constructor(
    private readonly machines: MachineStore,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * The machine that signed this request (its row, for the call's context), or undefined when the
   * request carries no signature headers at all (anonymous methods). A bad signature, an unknown machine, a stale or
   * replayed timestamp are faults.
   */
  authenticate(
    headers: Record<string, string | string[] | undefined>,
    body: string,
    client?: string,
  ): VerifiedMachine | undefined {
    const h = signedHeaders(headers);
    if (!h) {
      if (headers['x-aptgate-signature'] !== undefined || headers['x-aptgate-machine'] !== undefined)
        fail('AUTH_FAILED', 'malformed signature headers');
      return undefined;
    }
    const id = Number(h.machine);
    const m = this.machines.byId(id);
    if (m && !signatureMatches(m.secret, h, body)) this.waitingCredential(id, h, body);
    // an unknown machine and a wrong signature look the same to the caller
    if (!m) fail('AUTH_FAILED', 'signature not valid for this machine');
    const ts = this.inWindow(h.timestamp);
    if (!this.machines.acceptTimestamp(id, ts, client === undefined ? undefined : unmapIPv4(client)))
      fail('REPLAY_REFUSED', 'timestamp not newer than the last accepted one (replayed request?)');
    return m;
  }

  private inWindow(timestamp: string): number {
    const ts = Number(timestamp);
    if (Math.abs(ts - this.now()) > SIGNATURE_WINDOW_MS)
      fail('REPLAY_REFUSED', 'timestamp outside the accepted window (check the clock)');
    return ts;
  }

  /** Not the machine's current credential: a waiting re-enrolment's (MACHINE_PENDING), or none (AUTH_FAILED). */
  private waitingCredential(id: number, h: SignedHeaders, body: string): never {
    const r = this.machines.pendingReenrol(id);
    if (!r || !signatureMatches(r.secret, h, body)) fail('AUTH_FAILED', 'signature not valid for this machine');
    const ts = this.inWindow(h.timestamp);
    if (!this.machines.acceptReenrolTimestamp(id, ts))
      fail('REPLAY_REFUSED', 'timestamp not newer than the last accepted one (replayed request?)');
    fail(
      'MACHINE_PENDING',
      `this credential is a re-enrolment of machine ${id} (code ${r.code}) that waits for approval (aptgate machines approve ${id}); the machine's current identity stays in force until then`,
    );
  }

  /** The secret of a waiting re-enrolment of the machine (its MACHINE_PENDING answers are signed with it). */
  waitingSecretOf(id: number): string | undefined {
    return this.machines.pendingReenrol(id)?.secret;
  }

  /** A machine's current secret (to sign the answer). */
  secretOf(id: number): string | undefined {
    return this.machines.byId(id)?.secret;
  }

  /**
   * The machine row for an authenticated call that also names its /etc/machine-id: the row its
   * signature was checked with (from the call's context), or read by id.
   */
  identify(ref: MachineRef, machineId: unknown): MachineRow {
    const id = idOf(ref);
    const m = typeof ref === 'number' ? this.machines.byId(id) : ref;
    if (!m) fail('AUTH_FAILED', 'machine removed');
    if (typeof machineId !== 'string' || machineId !== m.machineId) {
      const other = typeof machineId === 'string' ? machineId.slice(0, 64) : '';
      this.machines.flagClone(id, other);
      fail(
        'CLONE_DETECTED',
        'these credentials belong to another machine (cloned image?): enrol this machine with its own token',
      );
    }
    return m;
  }
}
