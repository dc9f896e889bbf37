// The XML-RPC protocol between aptgate and its agents, shared by the server and the agent:
// the protocol version and every fault code, declared once (documented in docs/rpc.md).

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

export class RpcFault extends Error {
  readonly faultCode: number;
  constructor(readonly fault: FaultName, message: string) {
    super(message);
    this.name = 'RpcFault';
    this.faultCode = faultCodes[fault];
  }
}

/** XML-RPC value types, as system.methodSignature names them. */
export type RpcType = 'int' | 'boolean' | 'string' | 'double' | 'dateTime.iso8601' | 'base64' | 'struct' | 'array' | 'nil';
