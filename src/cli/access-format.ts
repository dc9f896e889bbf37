// Human output of `aptgate users` and `aptgate audit`; --json prints the data itself. Never a
// password hash: the data has none.
import type { AuditJson, UserJson } from '../access/json.js';
import { visible } from '../term/visible.js';
import { table, when } from './fleet-format.js';

export function formatUsers(us: readonly UserJson[]): string {
  if (!us.length) return 'no users yet: aptgate users add NAME --role admin (the password is asked for)\n';
  return table(
    ['NAME', 'ROLE', 'CREATED', 'CHANGED'],
    us.map((u) => [u.name, u.role, when(u.createdAt), when(u.updatedAt)]),
  );
}

/** An entry's arguments on one line, shortened for the table (--json has them whole). */
function argsCell(args: unknown): string {
  if (args === null || args === undefined) return '-';
  const text = JSON.stringify(args);
  return text.length > 80 ? `${text.slice(0, 79)}…` : text;
}

export function formatAudit(es: readonly AuditJson[]): string {
  if (!es.length) return 'no audit entries match\n';
  return table(
    ['WHEN', 'WHO', 'FROM', 'ACTION', 'RESULT', 'ARGUMENTS'],
    es.map((e) => [
      when(e.at),
      e.actorKind === 'token' ? `${e.actor} (token ${e.tokenId})` : e.actor,
      e.address ?? '-',
      e.action,
      e.result,
      argsCell(e.args),
    ]),
  );
}

export const userLine = (verb: string, u: UserJson) => `user ${visible(u.name)} ${verb} (${u.role})\n`;
