// Package-first questions (fleet/queries/packages.ts answers): who runs a package, at which
// version, older than a version ("which machines run openssl older than 3.0.15"), which of them
// could upgrade it and which with a security update.
import { packageUsers } from '../fleet/queries/packages.js';
import { bool, object, op, str } from './operation.js';

export const packageOps = [
  op({
    name: 'packages.users',
    summary: 'who runs a package: machines, instance, version, candidate, security; per version; older than a version',
    role: 'viewer',
    method: 'GET',
    path: '/packages/:name',
    input: {
      properties: {
        name: str('binary package name, e.g. openssl', { maxLength: 200 }),
        olderThan: str('only installed versions older than this (dpkg order)', { maxLength: 200 }),
        security: bool('only the machines with a security update of it'),
      },
      required: ['name'],
    },
    output: object('`{ package, olderThan, security, machines, counts, versions }` (`aptgate packages --json`)'),
    changes: false,
    run: ({ fleet }, i: { name: string; olderThan?: string; security?: boolean }) =>
      packageUsers(fleet, i.name, i.olderThan, { security: i.security === true }),
  }),
];
