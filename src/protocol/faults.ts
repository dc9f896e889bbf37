// The XML-RPC protocol between aptgate and its agents, shared by the server and the agent:
// the protocol version, every fault number, and the error code each fault stands for, declared
// once (documented in docs/rpc.md and docs/errors.md). Fault numbers are a wire contract: they
// never change.
import type { ErrorCode } from '../errors.js';

/** Bumped when a method changes incompatibly; agent.hello negotiates it. */
export const PROTOCOL_VERSION = 1;

export const faultCodes = {
  // the interoperability convention (xmlrpc-epi; Python's xmlrpc.client knows them)
  PARSE_ERROR: -32700,
  INVALID_REQUEST: -32600,
  METHOD_NOT_FOUND: -32601,
  INVALID_PARAMS: -32602,
  INTERNAL_ERROR: -32603,
  // aptgate's own, positive
  PROTOCOL_VERSION: 1,
  /** no or a wrong signature, an unknown or removed machine */
  AUTH_FAILED: 2,
  /** the signed timestamp is outside the window or not newer than the last one accepted */
  REPLAY_REFUSED: 3,
  /** the enrolment token is unknown, expired, revoked or used up */
  TOKEN_INVALID: 4,
  /** the machine is enrolled but waits for `aptgate machines approve` */
  MACHINE_PENDING: 5,
  /** these credentials were presented with another /etc/machine-id */
  CLONE_DETECTED: 6,
  /** the report names a packages hash (or delta base) the server does not have: send in full */
  STATE_UNKNOWN: 7,
  /** the delta applied to the base does not give the announced packages hash */
  STATE_MISMATCH: 8,
  /** no such job for this machine */
  JOB_UNKNOWN: 9,
  /** the job was cancelled or expired: do not run it */
  JOB_CLOSED: 10,
  /** a report's packages exceed the server's limits (fleet.report_max_packages, fleet.report_max_bytes) */
  REPORT_TOO_LARGE: 11,
  /** too many calls of this kind from this machine: try again later (the message says when) */
  RATE_LIMITED: 12,
  /** too many enrolments from this address, with this token or for this machine-id: try later */
  ENROL_RATE_LIMITED: 13,
  /** the job was leased to another identity of this machine (before a re-enrolment): result refused */
  JOB_NOT_LEASED: 14,
} as const;

export type FaultName = keyof typeof faultCodes;

/**
 * The error code each fault stands for, one code per fault: the server answers an AptgateError
 * with one of these codes with its fault (rpc/faults.ts), an agent turns the fault back into an
 * AptgateError with the code (agent/client.ts). Errors with other codes reach an agent as
 * INTERNAL_ERROR, or as one of these faults where rpc/faults.ts says so.
 */
export const faultErrors = {
  PARSE_ERROR: 'RPC_PARSE_ERROR',
  INVALID_REQUEST: 'RPC_INVALID_REQUEST',
  METHOD_NOT_FOUND: 'RPC_METHOD_NOT_FOUND',
  INVALID_PARAMS: 'RPC_INVALID_PARAMS',
  INTERNAL_ERROR: 'RPC_INTERNAL_ERROR',
  PROTOCOL_VERSION: 'PROTOCOL_UNSUPPORTED',
  AUTH_FAILED: 'AUTH_FAILED',
  REPLAY_REFUSED: 'REPLAY_REFUSED',
  TOKEN_INVALID: 'TOKEN_INVALID',
  MACHINE_PENDING: 'MACHINE_PENDING',
  CLONE_DETECTED: 'CLONE_DETECTED',
  STATE_UNKNOWN: 'PACKAGES_UNKNOWN',
  STATE_MISMATCH: 'PACKAGES_MISMATCH',
  JOB_UNKNOWN: 'JOB_UNKNOWN',
  JOB_CLOSED: 'JOB_CLOSED',
  REPORT_TOO_LARGE: 'REPORT_TOO_LARGE',
  RATE_LIMITED: 'RATE_LIMITED',
  ENROL_RATE_LIMITED: 'ENROL_RATE_LIMITED',
  JOB_NOT_LEASED: 'JOB_NOT_LEASED',
} as const satisfies Record<FaultName, ErrorCode>;

/** The codes that have a fault of their own. */
export type FaultErrorCode = (typeof faultErrors)[FaultName];

const faultOfCode = new Map<ErrorCode, FaultName>(Object.entries(faultErrors).map(([f, c]) => [c, f as FaultName]));
const codeOfNumber = new Map<number, FaultErrorCode>(
  Object.entries(faultErrors).map(([f, c]) => [faultCodes[f as FaultName], c]),
);

/** The fault an error code travels as; undefined for a code without one of its own. */
export function faultOf(code: ErrorCode): FaultName | undefined {
  return faultOfCode.get(code);
}

/** The error code a received fault number stands for; undefined for a number this side does not know. */
export function errorCodeOfFault(faultCode: number): FaultErrorCode | undefined {
  return codeOfNumber.get(faultCode);
}
