// Operations on accounts, API tokens and the audit log (access/): users (admin), one's own API
// tokens (any role; an admin also others'), the audit log (viewer: read only, nobody edits it).
import { apiTokenCreatedJson, apiTokenJson, auditEntryJson, userJson } from '../access/json.js';
import { API_TOKEN_MAX_MS } from '../access/accounts.js';
import { parseRole, ROLES } from '../access/roles.js';
import { int, listOf, object, op, str } from './operation.js';
import { durationOption, sinceOption } from './values.js';

const userName = str('user name: lower-case letters, digits, _ . - (at most 32)', { maxLength: 64 });
const role = { type: 'string', enum: [...ROLES], description: 'viewer, operator or admin' };
const password = str('the password (at least 10 characters); never logged or recorded', { maxLength: 1024 });

export const userOps = [
  op({
    name: 'users.list',
    summary: 'users and their roles (never a password or its hash)',
    role: 'admin',
    method: 'GET',
    path: '/users',
    input: { properties: {} },
    output: listOf('users', 'the accounts'),
    changes: false,
    run: ({ services }) => ({ users: services.access.listUsers().map(userJson) }),
  }),
  op({
    name: 'users.add',
    summary: 'add a user with a role',
    role: 'admin',
    method: 'POST',
    path: '/users',
    input: { properties: { name: userName, role, password }, required: ['name', 'role', 'password'] },
    output: object('the new user'),
    changes: true,
    auditArgs: (i: { name: string; role: string }) => ({ name: i.name, role: i.role }),
    run: async ({ services }, i: { name: string; role: string; password: string }) =>
      userJson(await services.access.addUser(i.name, parseRole(i.role), i.password)),
  }),
  op({
    name: 'users.remove',
    summary: 'remove a user with their sessions and API tokens (never the last admin)',
    role: 'admin',
    method: 'DELETE',
    path: '/users/:name',
    input: { properties: { name: userName }, required: ['name'] },
    output: object('the removed user'),
    changes: true,
    run: ({ services }, i: { name: string }) => userJson(services.access.removeUser(i.name)),
  }),
  op({
    name: 'users.passwd',
    summary: "set a user's password; their sessions end",
    role: 'admin',
    method: 'PUT',
    path: '/users/:name/password',
    input: { properties: { name: userName, password }, required: ['name', 'password'] },
    output: object('the user'),
    changes: true,
    auditArgs: (i: { name: string }) => ({ name: i.name }),
    run: async ({ services }, i: { name: string; password: string }) =>
      userJson(await services.access.setPassword(i.name, i.password)),
  }),
  op({
    name: 'users.role',
    summary: "change a user's role, at once for their sessions and API tokens (never the last admin's)",
    role: 'admin',
    method: 'PUT',
    path: '/users/:name/role',
    input: { properties: { name: userName, role }, required: ['name', 'role'] },
    output: object('the user'),
    changes: true,
    run: ({ services }, i: { name: string; role: string }) =>
      userJson(services.access.setRole(i.name, parseRole(i.role))),
  }),
];

export const apiTokenOps = [
  op({
    name: 'api-tokens.list',
    summary: "API tokens: one's own (an admin: everyone's, or --user's); never the token itself",
    role: 'viewer',
    method: 'GET',
    path: '/api-tokens',
    input: { properties: { user: userName } },
    output: listOf('tokens', 'the API tokens'),
    changes: false,
    run: ({ services, principal }, i: { user?: string }) => ({
      tokens: services.access.listApiTokens(principal, i.user === undefined ? {} : { user: i.user }).map(apiTokenJson),
    }),
  }),
  op({
    name: 'api-tokens.create',
    summary: 'an API token for scripts, shown once; its role is at most its owner’s and yours; it expires',
    role: 'viewer',
    method: 'POST',
    path: '/api-tokens',
    input: {
      properties: {
        name: str('a label: what the token is for (at most 64 characters)', { maxLength: 64 }),
        role,
        expires: str('how long it lasts: 30d, 12h (at most 365d)', { maxLength: 40 }),
        user: { ...userName, description: 'its owner (default: you; an admin may name another user)' },
      },
      required: ['role', 'expires'],
    },
    output: object('the token, with `token` itself: shown this once'),
    changes: true,
    auditDetail: (t: { id: number }) => ({ tokenId: t.id }),
    run: ({ services, principal }, i: { name?: string; role: string; expires: string; user?: string }) => {
      const ms = durationOption('expires', i.expires);
      const expiresAt = services.now() + Math.min(ms, API_TOKEN_MAX_MS + 1);
      return apiTokenCreatedJson(
        services.access.createApiToken(principal, {
          role: parseRole(i.role),
          expiresAt,
          ...(i.name === undefined ? {} : { name: i.name }),
          ...(i.user === undefined ? {} : { user: i.user }),
        }),
      );
    },
  }),
  op({
    name: 'api-tokens.revoke',
    summary: 'revoke an API token (your own; an admin: anyone’s)',
    role: 'viewer',
    method: 'DELETE',
    path: '/api-tokens/:id',
    input: { properties: { id: int('the token id', 1) }, required: ['id'] },
    output: object('the revoked token'),
    changes: true,
    run: ({ services, principal }, i: { id: number }) => apiTokenJson(services.access.revokeApiToken(i.id, principal)),
  }),
];

export const auditOps = [
  op({
    name: 'audit.list',
    summary: 'the audit log, newest first: who did what, when, from where, with what result',
    role: 'viewer',
    method: 'GET',
    path: '/audit',
    input: {
      properties: {
        since: str('entries since this long ago (1d, 6h) or this date (2026-12-24T22:00)', { maxLength: 40 }),
        before: int('only entries older than this id (the next page)', 1),
        user: str('entries of this actor (a user, a token owner, "local root")', { maxLength: 100 }),
        action: str('entries of this action, or of every action under it (users → users.add, …)', { maxLength: 100 }),
        limit: int('at most this many entries (default 100)', 1, 1000),
      },
    },
    output: listOf('entries', 'audit entries, newest first'),
    changes: false,
    run: async (
      { services },
      i: { since?: string; before?: number; user?: string; action?: string; limit?: number },
    ) => ({
      entries: (
        await services.audit.queryInSlices({
          ...(i.since === undefined ? {} : { since: sinceOption(i.since, services.now()) }),
          ...(i.before === undefined ? {} : { before: i.before }),
          ...(i.user === undefined ? {} : { user: i.user }),
          ...(i.action === undefined ? {} : { action: i.action }),
          ...(i.limit === undefined ? {} : { limit: i.limit }),
        })
      ).map(auditEntryJson),
    }),
  }),
];
