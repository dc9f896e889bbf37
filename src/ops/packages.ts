// Package-first questions (fleet/queries/packages.ts answers): who runs a package, at which
// version, older than a version ("which machines run openssl older than 3.0.15"), which of them
// could upgrade it and which with a security update.
import { packageUsers } from '../fleet/queries/packages.js';
import { bool, int, object, op, str } from './operation.js';

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
        q: str('only machines whose host name contains this (the list; counts and versions are of all)', {
          maxLength: 200,
        }),
        version: str('only machines with this installed version (the list; counts and versions are of all)', {
          maxLength: 200,
        }),
        page: int('the page (from 1) of `limit` entries', 1, 1_000_000),
        limit: int('entries per page (default 100); counts and versions are of all', 1, 1000),
      },
      required: ['name'],
    },
    output: object(
      '`{ package, olderThan, security, machines, total, page, limit, counts, versions }` (`aptgate packages --json`)',
    ),
    changes: false,
    run: (
      { fleet },
      i: {
        name: string;
        olderThan?: string;
        security?: boolean;
        q?: string;
        version?: string;
        page?: number;
        limit?: number;
      },
    ) =>
      // a page at a time: a package every machine has is 20,000 entries (3.4 MB of JSON in one stretch)
      packageUsers(fleet, i.name, i.olderThan, {
        security: i.security === true,
        page: i.page ?? 1,
        limit: i.limit ?? 100,
        ...(i.q ? { q: i.q } : {}),
        ...(i.version ? { version: i.version } : {}),
      }),
  }),
];
