// An operation: one thing an administrator can ask of the server, declared once and reached three
// ways: the command line on the server host (as the local principal), the HTTP API under /api/v1
// (a user's session or an API token) and the web console (through the API). The declaration
// holds what every edge needs: the role it takes, its HTTP method and path, the JSON schema of its
// input (path parameters, then the query string for GET and DELETE or the body otherwise), the
// shape of its answer, and whether it changes anything (then every call is in the audit log).
import type { Principal } from '../access/principal.js';
import type { Role } from '../access/roles.js';
import type { Services } from '../assembly/services.js';
import type { FleetQueryContext } from '../fleet/queries/context.js';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

/** A JSON schema (draft-07, as fastify's validator and the OpenAPI document read it). */
export type JsonSchema = Record<string, unknown>;

/** What an operation runs with. */
export interface OpContext {
  services: Services;
  /** the fleet's queries over the same services (fleet/queries/) */
  fleet: FleetQueryContext;
  principal: Principal;
}

export interface Operation<I extends object = Record<string, unknown>, O = unknown> {
  /** dotted, e.g. machines.list; the audit log's action */
  name: string;
  /** one line for the OpenAPI document and `aptgate` help */
  summary: string;
  /** the lowest role that may run it */
  role: Role;
  method: HttpMethod;
  /** under /api/v1, fastify's syntax: /machines/:ref */
  path: string;
  /** the properties of the input object; each :param of the path is one of them */
  input: { properties: Record<string, JsonSchema>; required?: readonly string[] };
  /** the answer's schema (documentation and serialization); an object */
  output: JsonSchema;
  /** changes state: every call, allowed or refused, is recorded in the audit log */
  changes: boolean;
  /** the arguments the audit log records (default: the input; secrets are redacted anyway) */
  auditArgs?: (input: I) => unknown;
  /** what the audit entry keeps of a success (e.g. the generations a promotion made) */
  auditDetail?: (output: O) => unknown;
  run(ctx: OpContext, input: I): O | Promise<O>;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyOperation = Operation<any, any>;

/** Declares an operation (typed input and output). */
export function op<I extends object, O>(o: Operation<I, O>): Operation<I, O> {
  return o;
}

/** GET and DELETE take their inputs (but the path's) in the query string, the others in a JSON body. */
export function inputsInQuery(method: HttpMethod): boolean {
  return method === 'GET' || method === 'DELETE';
}

/** The path's parameters, in order: /stages/:stage/promote → ['stage']. */
export function pathParams(path: string): string[] {
  return [...path.matchAll(/:([A-Za-z][A-Za-z0-9]*)/g)].map((m) => m[1]!);
}

// ---- schema helpers (the shapes the operations repeat) ----

export const str = (description: string, extra: JsonSchema = {}): JsonSchema => ({
  type: 'string',
  maxLength: 4096,
  description,
  ...extra,
});
export const int = (description: string, min = 0, max = Number.MAX_SAFE_INTEGER): JsonSchema => ({
  type: 'integer',
  minimum: min,
  maximum: max,
  description,
});
export const bool = (description: string): JsonSchema => ({ type: 'boolean', description });
export const strings = (description: string, maxItems = 1000): JsonSchema => ({
  type: 'array',
  items: { type: 'string', maxLength: 4096 },
  maxItems,
  description,
});
/** An answer `{ key: [objects] }` (a list, documented by its key). */
export const listOf = (key: string, description: string): JsonSchema => ({
  type: 'object',
  properties: { [key]: { type: 'array', items: { type: 'object', additionalProperties: true } } },
  additionalProperties: true,
  description,
});
/** An object answer documented in docs/ (its fields are those of the matching --json output). */
export const object = (description: string): JsonSchema => ({
  type: 'object',
  additionalProperties: true,
  description,
});
