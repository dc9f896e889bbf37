// Identity rules shared by the server and the agent: the proof an agent that still holds its
// secret gives when it enrols again (so the server can rotate the secret without asking the
// administrator), and the machine-id of an LTSP chroot, which the server derives and never
// takes from the agent.
import { createHash, randomBytes } from 'node:crypto';
import { hmacHex, hmacMatches } from './hmac.js';

/** agent.enroll's `proof` member: an HMAC with the previous secret over the re-enrolment. */
export interface ReenrolProof {
  machine: number;
  /** milliseconds since the epoch, decimal (newer than the machine's last signed call) */
  timestamp: string;
  nonce: string;
  signature: string;
}

function material(machine: number, machineId: string, timestamp: string, nonce: string, token: string): string {
  // bound to the token it travels with, so it cannot be moved to another enrolment
  const tokenHash = createHash('sha256').update(token).digest('hex');
  return `aptgate-reenrol-v1\n${machine}\n${machineId}\n${timestamp}\n${nonce}\n${tokenHash}`;
}

export function reenrolProof(
  secret: string,
  machine: number,
  machineId: string,
  timestamp: number,
  token: string,
): ReenrolProof {
  const ts = String(timestamp);
  const nonce = randomBytes(12).toString('hex');
  return { machine, timestamp: ts, nonce, signature: hmacHex(secret, material(machine, machineId, ts, nonce, token)) };
}

/** Constant-time check of a proof against the secret the server holds. */
export function reenrolProofMatches(secret: string, p: ReenrolProof, machineId: string, token: string): boolean {
  if (!/^[1-9][0-9]{0,15}$/.test(p.timestamp) || !/^[0-9a-f]{16,64}$/.test(p.nonce)) return false;
  return hmacMatches(hmacHex(secret, material(p.machine, machineId, p.timestamp, p.nonce, token)), p.signature);
}

/**
 * A chroot's machine-id: derived from its host's machine-id and the chroot's path (stable,
 * unique per host). A host can name any path, but cannot arrive at another machine's id.
 */
export function chrootMachineId(hostMachineId: string, chrootPath: string): string {
  return createHash('sha256').update(`aptgate-chroot\0${hostMachineId}\0${chrootPath}`).digest('hex').slice(0, 32);
}
