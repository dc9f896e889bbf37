// How the command lines (aptgate, aptgate-agent) end on an error, in one table: what kind of
// failure each code is, the exit status that kind gets from each program, and the line on
// stderr ("<program>: CODE: message": scripts match the code, never the message).
import { isAptgateError, type ErrorCode } from '../errors.js';

/** usage: the command line or the configuration is wrong (fix it and run again); failure: the work could not be done */
export type ExitKind = 'usage' | 'failure';

/** Every code's kind; the compiler asks for each new code. */
export const exitKinds: Record<ErrorCode, ExitKind> = {
  CONFIG_INVALID: 'usage',
  USAGE: 'usage',
  CONFIG_FILE: 'failure',
  BAD_PATH: 'failure',
  BAD_REQUEST: 'failure',
  NOT_A_BACKEND: 'failure',
  CONNECT_REFUSED: 'failure',
  CLIENT_NOT_ALLOWED: 'failure',
  METHOD_NOT_ALLOWED: 'failure',
  RANGE_NOT_SATISFIABLE: 'failure',
  NOT_IN_RELEASE: 'failure',
  NOT_FOUND: 'failure',
  UPSTREAM_NOT_FOUND: 'failure',
  UPSTREAM_FAILED: 'failure',
  UPSTREAM_TIMEOUT: 'failure',
  UPSTREAM_TOO_LARGE: 'failure',
  INTEGRITY: 'failure',
  SIGNATURE: 'failure',
  RELEASE_INVALID: 'failure',
  ROLLBACK: 'failure',
  EXEC_FAILED: 'failure',
  DECOMPRESS_FAILED: 'failure',
  PARSE_FAILED: 'failure',
  WORKER_FAILED: 'failure',
  SIGNING_KEY: 'failure',
  VERSION_INVALID: 'failure',
  STATUS_INVALID: 'failure',
  PREFERENCES_INVALID: 'failure',
  LISTS_INVALID: 'failure',
  STATE_SCHEMA: 'failure',
  STATE_NOT_FOUND: 'failure',
  STATE_EXPOSED: 'failure',
  AGENT_BUSY: 'failure',
  AGENT_INTERRUPTED: 'failure',
  AGENT_TRANSPORT: 'failure',
  AGENT_UNTRUSTED_ANSWER: 'failure',
  GATE_CLOSED: 'failure',
  // what the server answered an agent: never the agent's command line at fault
  RPC_PARSE_ERROR: 'failure',
  RPC_INVALID_REQUEST: 'failure',
  RPC_METHOD_NOT_FOUND: 'failure',
  RPC_INVALID_PARAMS: 'failure',
  RPC_INTERNAL_ERROR: 'failure',
  PROTOCOL_UNSUPPORTED: 'failure',
  AUTH_FAILED: 'failure',
  REPLAY_REFUSED: 'failure',
  TOKEN_INVALID: 'failure',
  MACHINE_PENDING: 'failure',
  CLONE_DETECTED: 'failure',
  PACKAGES_UNKNOWN: 'failure',
  PACKAGES_MISMATCH: 'failure',
  JOB_UNKNOWN: 'failure',
  JOB_CLOSED: 'failure',
  JOB_NOT_LEASED: 'failure',
  REPORT_TOO_LARGE: 'failure',
  RATE_LIMITED: 'failure',
  ENROL_RATE_LIMITED: 'failure',
  UNAUTHENTICATED: 'failure',
  FORBIDDEN: 'failure',
  CSRF_REFUSED: 'failure',
  LOGIN_LIMITED: 'failure',
  BODY_TOO_LARGE: 'failure',
  INTERNAL: 'failure',
  REMOTE_FAILED: 'failure',
};

/**
 * The exit status of each kind. aptgate-agent tells a usage error (2, as commander's own
 * mistakes) from a failure (1); aptgate has always exited 1 for both, and scripts rely on it.
 * An error that is not an AptgateError is a failure.
 */
export const exitStatuses = {
  aptgate: { usage: 1, failure: 1 },
  'aptgate-agent': { usage: 2, failure: 1 },
} as const satisfies Record<string, Record<ExitKind, number>>;

export type Program = keyof typeof exitStatuses;

export function exitStatusOf(program: Program, err: unknown): number {
  return exitStatuses[program][isAptgateError(err) ? exitKinds[err.code] : 'failure'];
}

/**
 * The error's line after "<program>: ": the code first, or only the message of an error raised by no one on purpose.
 */
export function errorLine(err: unknown): string {
  return isAptgateError(err) ? `${err.code}: ${err.message}` : (err as Error).message;
}
