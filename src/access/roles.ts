// The three roles, in order: each may do what the one below it may. Every operation declares the
// role it needs; a principal's role is compared with roleAtLeast.
import { fail } from '../errors.js';

export type Role = 'viewer' | 'operator' | 'admin';

/** Lowest first. */
export const ROLES: readonly Role[] = ['viewer', 'operator', 'admin'];

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}

/** Whether a principal with role `have` may do what needs `need`. */
export function roleAtLeast(have: Role, need: Role): boolean {
  return ROLES.indexOf(have) >= ROLES.indexOf(need);
}

/** The lower of two roles (a token is capped at its owner's current role). */
export function minRole(a: Role, b: Role): Role {
  return roleAtLeast(a, b) ? b : a;
}

/** A role named on a command line or in a request; anything else is USAGE. */
export function parseRole(value: string): Role {
  if (!isRole(value)) fail('USAGE', `role: expected ${ROLES.join(', ')}, got "${String(value).slice(0, 40)}"`);
  return value;
}
