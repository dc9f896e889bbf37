// The method table behind /RPC2: own-property lookups only, parameters checked against each
// method's signature before its handler runs, and the introspection methods of the convention
// (system.listMethods, system.methodHelp, system.methodSignature, system.multicall).
import { fail } from '../errors.js';
import type { RpcType } from '../protocol/codec.js';
import { faultCodes, PROTOCOL_VERSION } from '../protocol/faults.js';
import type { VerifiedMachine } from '../fleet/auth.js';
import type { VerifiedSite } from '../fleet/sites.js';
import { faultAnswer } from './faults.js';

export interface CallContext {
  /** client address, for logs */
  client: string;
  /** the Host the client addressed (host[:port]) */
  host?: string;
  /** the machine whose signature the request carries (protocol/signing.ts), if any */
  machine?: number;
  /** that machine's row, read when its signature was checked: this call's own, never shared across calls */
  verified?: VerifiedMachine;
  /** the site whose signature the request carries (a site cache's calls, fleet/sites.ts), if any */
  site?: VerifiedSite;
}

export interface MethodSpec {
  name: string;
  help: string;
  /** the return type first, then one type per parameter */
  signature: RpcType[];
  /** only for a signed request of an enrolled machine */
  auth?: boolean;
  /** only for a request signed by a registered site */
  site?: boolean;
  handler: (params: unknown[], ctx: CallContext) => unknown;
}

function typeOf(v: unknown): RpcType {
  if (v === null) return 'nil';
  if (typeof v === 'boolean') return 'boolean';
  if (typeof v === 'string') return 'string';
  if (typeof v === 'number') return Number.isInteger(v) && v <= 2147483647 && v >= -2147483648 ? 'int' : 'double';
  if (v instanceof Date) return 'dateTime.iso8601';
  if (Buffer.isBuffer(v)) return 'base64';
  if (Array.isArray(v)) return 'array';
  return 'struct';
}

function accepts(want: RpcType, v: unknown): boolean {
  const t = typeOf(v);
  if (want === 'double') return t === 'double' || t === 'int';
  if (want === 'dateTime.iso8601') return t === want && !Number.isNaN((v as Date).getTime());
  return t === want;
}

export class MethodTable {
  private readonly methods = new Map<string, MethodSpec>();

  constructor(version: string) {
    this.add({
      name: 'system.listMethods',
      signature: ['array'],
      help: 'The names of every method this server answers.',
      handler: () => [...this.methods.keys()].sort(),
    });
    this.add({
      name: 'system.methodHelp',
      signature: ['string', 'string'],
      help: 'What a method does, its parameters and its result.',
      handler: ([name]) => this.spec(name as string).help,
    });
    this.add({
      name: 'system.methodSignature',
      signature: ['array', 'string'],
      help: 'The signatures of a method: arrays of type names, the return type first.',
      handler: ([name]) => [this.spec(name as string).signature],
    });
    this.add({
      name: 'system.multicall',
      signature: ['array', 'array'],
      help: 'Calls several methods in one request: each item a struct {methodName, params}; the answer per call is [result] or a fault struct. Nested multicalls are refused.',
      handler: async ([calls], ctx) => {
        const out: unknown[] = [];
        // the verified row is the first call's; a later call reads the machine as the calls before it left it
        let callCtx = ctx;
        for (const c of calls as unknown[]) {
          try {
            if (typeOf(c) !== 'struct') fail('RPC_INVALID_PARAMS', 'each call is a struct {methodName, params}');
            const { methodName, params } = c as { methodName?: unknown; params?: unknown };
            if (typeof methodName !== 'string') fail('RPC_INVALID_PARAMS', 'methodName must be a string');
            if (methodName === 'system.multicall') fail('RPC_INVALID_REQUEST', 'system.multicall cannot be nested');
            if (params !== undefined && !Array.isArray(params)) fail('RPC_INVALID_PARAMS', 'params must be an array');
            const mine = callCtx;
            if (callCtx.verified) callCtx = { ...ctx, verified: undefined };
            out.push([await this.call(methodName, (params as unknown[] | undefined) ?? [], mine)]);
          } catch (err) {
            const f = faultAnswer(err);
            out.push({ faultCode: f.faultCode, faultString: f.faultString });
          }
        }
        return out;
      },
    });
    this.add({
      name: 'agent.hello',
      signature: ['struct', 'struct'],
      help: `Protocol handshake: {protocol: int, agent: string} → {protocol: int, minimumProtocol: int, server: string}. A fault ${faultCodes.PROTOCOL_VERSION} (PROTOCOL_VERSION) when the agent speaks a protocol this server does not.`,
      handler: ([hello]) => {
        const h = hello as { protocol?: unknown; agent?: unknown };
        if (typeof h.protocol !== 'number' || !Number.isInteger(h.protocol))
          fail('RPC_INVALID_PARAMS', 'protocol must be an int');
        if (h.agent !== undefined && (typeof h.agent !== 'string' || h.agent.length > 200))
          fail('RPC_INVALID_PARAMS', 'agent must be a string of at most 200 characters');
        if (h.protocol !== PROTOCOL_VERSION)
          fail('PROTOCOL_UNSUPPORTED', `this server speaks protocol ${PROTOCOL_VERSION}, the agent ${h.protocol}`);
        return { protocol: PROTOCOL_VERSION, minimumProtocol: PROTOCOL_VERSION, server: `aptgate ${version}` };
      },
    });
  }

  add(spec: MethodSpec): void {
    if (this.methods.has(spec.name)) throw new Error(`method ${spec.name} defined twice`);
    this.methods.set(spec.name, spec);
  }

  private spec(name: string): MethodSpec {
    const m = this.methods.get(name);
    if (!m) fail('RPC_METHOD_NOT_FOUND', `no method "${String(name).slice(0, 100)}"`);
    return m;
  }

  names(): string[] {
    return [...this.methods.keys()].sort();
  }

  /**
   * What call() checks first, for the decoder to ask before any parameter is read: the method exists, and is signed if
   * it must be.
   */
  admit(name: string, signed: boolean, site = false): MethodSpec {
    const m = this.spec(name);
    if (m.auth && !signed) fail('AUTH_FAILED', `${name} needs a signed request (enrol first)`);
    if (m.site && !site) fail('AUTH_FAILED', `${name} needs a request signed by a registered site`);
    return m;
  }

  async call(name: string, params: unknown[], ctx: CallContext): Promise<unknown> {
    const m = this.admit(name, ctx.machine !== undefined, ctx.site !== undefined);
    const want = m.signature.slice(1);
    if (params.length !== want.length)
      fail('RPC_INVALID_PARAMS', `${name} takes ${want.length} parameter(s), got ${params.length}`);
    want.forEach((t, i) => {
      if (!accepts(t, params[i]))
        fail('RPC_INVALID_PARAMS', `${name}: parameter ${i + 1} must be ${t}, got ${typeOf(params[i])}`);
    });
    return m.handler(params, ctx);
  }
}
