// Enrolment tokens for the administrator and the API: plain functions over the fleet's services
// that return the documented JSON shapes (docs/cli-fleet.md); cli/fleet-format.ts turns them into tables.
import os from 'node:os';
import type { Config } from '../../config.js';
import { fail } from '../../errors.js';
import type { TokenRow } from '../../state/machines.js';
import { iso, oneLine, type FleetQueryContext } from './context.js';

/** The URL agents enrol with: this host and the configured port (https when TLS is set). */
export function serverUrl(config: Config): string {
  return `${config.tls.cert ? 'https' : 'http'}://${os.hostname()}:${config.port}`;
}

// ---- tokens ----

export type TokenState = 'valid' | 'expired' | 'revoked' | 'used up';

export interface TokenInfo {
  id: number;
  class: string | null;
  autoApprove: boolean;
  note: string | null;
  createdAt: string;
  expiresAt: string | null;
  uses: number;
  maxUses: number | null;
  state: TokenState;
}

export function tokenInfo(t: TokenRow, now: number): TokenInfo {
  const state: TokenState =
    t.revokedAt !== null
      ? 'revoked'
      : t.expiresAt !== null && t.expiresAt <= now
        ? 'expired'
        : t.maxUses !== null && t.uses >= t.maxUses
          ? 'used up'
          : 'valid';
  return {
    id: t.id,
    class: t.class,
    autoApprove: t.autoApprove,
    note: t.note,
    createdAt: iso(t.createdAt)!,
    expiresAt: iso(t.expiresAt),
    uses: t.uses,
    maxUses: t.maxUses,
    state,
  };
}

export interface TokenCreated extends TokenInfo {
  /** the only copy: only its hash is stored */
  token: string;
  /** what to run on a client */
  enrolCommand: string[];
}

export function createToken(
  ctx: FleetQueryContext,
  o: { class?: string; autoApprove?: boolean; expiresMs?: number; uses?: number; note?: string; server?: string },
): TokenCreated {
  // a token's class is joined by name at enrolment: it must exist now, or machines would silently join nothing
  if (o.class !== undefined) ctx.fleet.classes.get(o.class);
  if (o.note !== undefined) oneLine('--note', o.note);
  const server = o.server ?? serverUrl(ctx.config);
  if (!/^https?:\/\/[A-Za-z0-9.-]+(?::\d{1,5})?$|^https?:\/\/\[[0-9a-fA-F:.]+\](?::\d{1,5})?$/.test(server))
    fail('USAGE', `enrol URL: expected http(s)://host[:port], not "${server.slice(0, 80)}"`);
  const made = ctx.fleet.enrolment.createToken({
    class: o.class,
    autoApprove: o.autoApprove === true,
    expiresInMs: o.expiresMs,
    maxUses: o.uses,
    note: o.note,
  });
  const row = ctx.fleet.machines.tokenById(made.id)!;
  return {
    ...tokenInfo(row, ctx.now()),
    token: made.token,
    enrolCommand: ['aptgate-agent', 'enrol', '--server', server, '--token', made.token],
  };
}

export function listTokens(ctx: FleetQueryContext): TokenInfo[] {
  const now = ctx.now();
  return ctx.fleet.machines.tokens().map((t) => tokenInfo(t, now));
}

export function revokeToken(ctx: FleetQueryContext, id: number): TokenInfo {
  const t = ctx.fleet.machines.tokenById(id);
  if (!t) fail('NOT_FOUND', `no token ${id}`);
  if (!ctx.fleet.revokeToken(id)) fail('USAGE', `token ${id} is revoked already`);
  return tokenInfo(ctx.fleet.machines.tokenById(id)!, ctx.now());
}
