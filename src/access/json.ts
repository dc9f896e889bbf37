// The JSON shapes the command line prints with --json and the API answers: the domain's objects
// with times as ISO 8601 strings (as every other answer of aptgate), never a hash or a secret.
import type { ApiTokenCreated, ApiTokenInfo, LoginResult, UserInfo } from './accounts.js';
import type { AuditEntry } from './audit.js';

const iso = (ms: number) => new Date(ms).toISOString();
const isoOrNull = (ms: number | null) => (ms === null ? null : iso(ms));

export interface UserJson {
  id: number;
  name: string;
  role: UserInfo['role'];
  createdAt: string;
  updatedAt: string;
}

export function userJson(u: UserInfo): UserJson {
  return { id: u.id, name: u.name, role: u.role, createdAt: iso(u.createdAt), updatedAt: iso(u.updatedAt) };
}

export interface ApiTokenJson extends Omit<ApiTokenInfo, 'createdAt' | 'expiresAt' | 'revokedAt' | 'lastUsed'> {
  createdAt: string;
  expiresAt: string;
  revokedAt: string | null;
  lastUsed: string | null;
}

export function apiTokenJson(t: ApiTokenInfo): ApiTokenJson {
  return {
    id: t.id,
    owner: t.owner,
    name: t.name,
    role: t.role,
    effectiveRole: t.effectiveRole,
    createdAt: iso(t.createdAt),
    expiresAt: iso(t.expiresAt),
    revokedAt: isoOrNull(t.revokedAt),
    lastUsed: isoOrNull(t.lastUsed),
    state: t.state,
  };
}

/** A new token with the token itself: the only time it is shown. */
export function apiTokenCreatedJson(t: ApiTokenCreated): ApiTokenJson & { token: string } {
  return { ...apiTokenJson(t), token: t.token };
}

export interface AuditJson extends Omit<AuditEntry, 'at'> {
  at: string;
}

export function auditEntryJson(e: AuditEntry): AuditJson {
  return { ...e, at: iso(e.at) };
}

/** What a login answers (the session token goes into the cookie, not into this). */
export function loginJson(l: LoginResult): {
  user: string;
  role: LoginResult['role'];
  csrf: string;
  expiresAt: string;
} {
  return { user: l.user, role: l.role, csrf: l.csrf, expiresAt: iso(l.expiresAt) };
}
