// Every error aptgate raises on purpose, declared once with a stable code and HTTP status.
// Tests assert codes, never messages.

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
