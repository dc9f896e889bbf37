// How /RPC2 answers an error, in one table: a code with a fault of its own (protocol/faults.ts)
// gets that fault and the error's message; the codes below get the fault named, or, when they
// say `internal`, INTERNAL_ERROR with a fixed text, as does anything that is not an
// AptgateError. Those messages are for the server's log (paths, upstream URLs, SQL): an agent
// could do nothing with them and must not learn them. The compiler asks for every new code here.
import { isAptgateError, type ErrorCode } from '../errors.js';
import { faultCodes, faultOf, type FaultErrorCode, type FaultName } from '../protocol/faults.js';

/** INTERNAL_ERROR, and why no agent call meets this code, or why it learns nothing from it. */
interface Internal {
  internal: string;
}

const CONFIG = 'configuration is read before /RPC2 answers anything';
const PROXY =
  "raised by the proxy's and the stage repositories' HTTP routes; in an agent's call, the server's own trouble";
const SERVER = "the server's own trouble: its log says what, the agent can only try again later";
const AGENT = 'raised by the agent itself, never by the server';
const ADMIN = "made for the administrator's commands; in an agent's call, the server's own trouble";
const API = 'raised by the API and the console (accounts, sessions, roles), never in an agent call';

/** Every code without a fault of its own. */
const answers: Record<Exclude<ErrorCode, FaultErrorCode>, FaultName | Internal> = {
  CONFIG_INVALID: { internal: CONFIG },
  CONFIG_FILE: { internal: CONFIG },
  BAD_PATH: { internal: PROXY },
  BAD_REQUEST: { internal: PROXY },
  NOT_A_BACKEND: { internal: PROXY },
  CONNECT_REFUSED: { internal: PROXY },
  CLIENT_NOT_ALLOWED: { internal: PROXY },
  METHOD_NOT_ALLOWED: { internal: PROXY },
  RANGE_NOT_SATISFIABLE: { internal: PROXY },
  NOT_IN_RELEASE: { internal: PROXY },
  NOT_FOUND: { internal: ADMIN },
  UPSTREAM_NOT_FOUND: { internal: PROXY },
  UPSTREAM_FAILED: { internal: PROXY },
  UPSTREAM_TIMEOUT: { internal: PROXY },
  UPSTREAM_TOO_LARGE: { internal: PROXY },
  INTEGRITY: { internal: PROXY },
  SIGNATURE: { internal: PROXY },
  RELEASE_INVALID: { internal: PROXY },
  ROLLBACK: { internal: PROXY },
  EXEC_FAILED: { internal: SERVER },
  DECOMPRESS_FAILED: { internal: SERVER },
  PARSE_FAILED: { internal: SERVER },
  WORKER_FAILED: { internal: SERVER },
  SIGNING_KEY: { internal: SERVER },
  // a version in what an agent sent is checked where it is read (wire.ts, profile-record.ts),
  // so one reaching this edge failed in the server's own data
  VERSION_INVALID: { internal: SERVER },
  // a package record line of agent.report that is not one (fleet/report-payload.ts): a
  // malformed parameter, the message says which line
  STATUS_INVALID: 'INVALID_PARAMS',
  PREFERENCES_INVALID: { internal: SERVER },
  LISTS_INVALID: { internal: SERVER },
  USAGE: { internal: ADMIN },
  STATE_SCHEMA: { internal: SERVER },
  STATE_NOT_FOUND: { internal: SERVER },
  STATE_EXPOSED: { internal: SERVER },
  AGENT_BUSY: { internal: AGENT },
  AGENT_INTERRUPTED: { internal: AGENT },
  AGENT_TRANSPORT: { internal: AGENT },
  AGENT_UNTRUSTED_ANSWER: { internal: AGENT },
  GATE_CLOSED: { internal: ADMIN },
  UNAUTHENTICATED: { internal: API },
  FORBIDDEN: { internal: API },
  CSRF_REFUSED: { internal: API },
  LOGIN_LIMITED: { internal: API },
  BODY_TOO_LARGE: { internal: API },
  INTERNAL: { internal: API },
  REMOTE_FAILED: { internal: API },
};

/** Why a code without a fault of its own answers INTERNAL_ERROR; undefined when it has a fault. */
export function internalReason(code: ErrorCode): string | undefined {
  if (faultOf(code)) return undefined;
  const a = answers[code as Exclude<ErrorCode, FaultErrorCode>];
  return typeof a === 'string' ? undefined : a.internal;
}

/** The fault for an error code: its own, the one named above, or INTERNAL_ERROR. */
export function faultFor(code: ErrorCode): FaultName {
  const own = faultOf(code);
  if (own) return own;
  const a = answers[code as Exclude<ErrorCode, FaultErrorCode>];
  return typeof a === 'string' ? a : 'INTERNAL_ERROR';
}

export interface FaultAnswer {
  faultCode: number;
  faultString: string;
  /** INTERNAL_ERROR: the error belongs in the server's log */
  internal: boolean;
}

/** The fault struct for whatever a call threw. */
export function faultAnswer(err: unknown): FaultAnswer {
  const fault = isAptgateError(err) ? faultFor(err.code) : 'INTERNAL_ERROR';
  if (fault === 'INTERNAL_ERROR')
    return { faultCode: faultCodes.INTERNAL_ERROR, faultString: 'internal error', internal: true };
  return { faultCode: faultCodes[fault], faultString: (err as Error).message, internal: false };
}
