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
