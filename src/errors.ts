// Every error aptgate raises on purpose, declared once with a stable code and HTTP status.
// Tests assert codes, never messages. Each edge maps codes in one table: the HTTP status stays
// here, beside the declaration, because every HTTP route answers with it (proxy/service.ts
// errorStatus) and a code cannot be declared without one; /RPC2 faults are in
// protocol/faults.ts and rpc/faults.ts, exit statuses in term/exit-status.ts; docs/errors.md
// lists them all (test/issue-15-errors checks it).

export const errorCodes = {
  // configuration and command line
  CONFIG_INVALID: 500,
  CONFIG_FILE: 500,
  // what a client asked for
  BAD_PATH: 400,
  BAD_REQUEST: 400,
  NOT_A_BACKEND: 403,
  CONNECT_REFUSED: 403,
  // a client outside server.allow (proxy/admission.ts)
  CLIENT_NOT_ALLOWED: 403,
  METHOD_NOT_ALLOWED: 405,
  RANGE_NOT_SATISFIABLE: 416,
  NOT_IN_RELEASE: 404,
  NOT_FOUND: 404,
  // upstream and trust
  UPSTREAM_NOT_FOUND: 404,
  UPSTREAM_FAILED: 502,
  UPSTREAM_TIMEOUT: 504,
  UPSTREAM_TOO_LARGE: 502,
  INTEGRITY: 502,
  SIGNATURE: 502,
  RELEASE_INVALID: 502,
  // a signed root older than the suite's newest snapshot (a lagging or replaying mirror)
  ROLLBACK: 502,
  // local tools and parsing
  EXEC_FAILED: 500,
  DECOMPRESS_FAILED: 500,
  PARSE_FAILED: 500,
  // a worker thread (view rows) failed or is gone
  WORKER_FAILED: 500,
  // the server's own signing key (gate/key.ts): no usable key, or its directory is locked
  SIGNING_KEY: 500,
  // Debian data that fails its syntax (versions, status files, preferences, lists directories)
  VERSION_INVALID: 400,
  STATUS_INVALID: 400,
  PREFERENCES_INVALID: 400,
  LISTS_INVALID: 400,
  USAGE: 400,
  STATE_SCHEMA: 500,
  // an administrative command found no server state (it never creates one: only serve does)
  STATE_NOT_FOUND: 500,
  // a secret (database, signing key) would land in a git work tree that does not ignore it
  STATE_EXPOSED: 500,
  // the agent (aptgate-agent): another run holds the lock; the server could not be reached
  AGENT_BUSY: 409,
  // the agent was stopped by a signal; the running job was aborted and cleaned up
  AGENT_INTERRUPTED: 503,
  AGENT_TRANSPORT: 502,
  // an answer to a signed call without the server's signature over it: refused, nothing acted on
  AGENT_UNTRUSTED_ANSWER: 502,
  // the release gate: a promotion refused because the gate does not hold
  GATE_CLOSED: 409,
  // the API and the console (access/): no valid session or API token; a role too low for the
  // operation; a state-changing request without the session's CSRF token; too many failed logins
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  CSRF_REFUSED: 403,
  LOGIN_LIMITED: 429,
  // an API request body beyond the API's limit (1 MiB)
  BODY_TOO_LARGE: 413,
  // an unexpected failure while answering an API request (the server's log has the details; the answer does not)
  INTERNAL: 500,
  // the command line could not reach the server named by --server, or its answer was not aptgate's API
  REMOTE_FAILED: 502,
  // The agents' XML-RPC calls (/RPC2 answers every one with HTTP 200 and a fault: the statuses
  // below are only what these errors would be elsewhere). Each code travels as one fault number
  // (protocol/faults.ts), and an agent turns the number back into the code.
  // the body is not well-formed XML, or a character reference names no XML character
  RPC_PARSE_ERROR: 400,
  // not an XML-RPC method call, or over a request limit (protocol/limits.ts)
  RPC_INVALID_REQUEST: 400,
  // no method of that name
  RPC_METHOD_NOT_FOUND: 404,
  // a call's parameters: wrong number or type, a member missing or malformed, a forbidden member name
  RPC_INVALID_PARAMS: 400,
  // the server failed on a call (its log says why): how an agent receives the fault the server
  // sends for every error that has none of its own
  RPC_INTERNAL_ERROR: 500,
  // the agent speaks a protocol version this server does not (agent.hello)
  PROTOCOL_UNSUPPORTED: 400,
  // a signed method called unsigned, a wrong signature, an unknown or removed machine
  AUTH_FAILED: 401,
  // a signed timestamp outside the window around the server's clock, or not newer than the last accepted
  REPLAY_REFUSED: 401,
  // an enrolment token that is unknown, expired, revoked or used up
  TOKEN_INVALID: 403,
  // the machine (or its re-enrolment's credential) waits for `aptgate machines approve`
  MACHINE_PENDING: 403,
  // credentials presented with another machine-id (a cloned image), or a machine-id that is not the caller's to claim
  CLONE_DETECTED: 409,
  // a report names packages (or a delta base) the server does not have: the agent sends them in full
  PACKAGES_UNKNOWN: 409,
  // a report's packages (a delta applied to its base) do not give the announced hash
  PACKAGES_MISMATCH: 400,
  // no such job for this machine
  JOB_UNKNOWN: 404,
  // the job was cancelled, expired or finished: it is not to run
  JOB_CLOSED: 409,
  // the job was handed to another identity of this machine (before a re-enrolment), or never: its start or result is
  // refused
  JOB_NOT_LEASED: 409,
  // a report beyond the server's limits (fleet.report_max_packages, fleet.report_max_bytes, sources, holds)
  REPORT_TOO_LARGE: 413,
  // too many reports with packages (or new views) from one machine (fleet.report_rate): the message says when to try
  // again
  RATE_LIMITED: 429,
  // too many enrolments from one address, with one token or of one machine-id (fleet.enrol_limit_*)
  ENROL_RATE_LIMITED: 429,
} as const;

export type ErrorCode = keyof typeof errorCodes;

export class AptgateError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AptgateError';
    this.code = code;
    this.status = errorCodes[code];
    this.details = details;
  }
}

export function fail(code: ErrorCode, message: string, details?: Record<string, unknown>, cause?: unknown): never {
  throw new AptgateError(code, message, details, cause === undefined ? undefined : { cause });
}

export function isAptgateError(err: unknown, code?: ErrorCode): err is AptgateError {
  return err instanceof AptgateError && (code === undefined || err.code === code);
}
