// Running an operation for a principal: the role first (FORBIDDEN otherwise), then the operation;
// an operation that changes state is recorded in the audit log whatever comes of it (a refusal
// too: who tried what is part of the trail). Every edge calls this and nothing else.
import type { Principal } from '../access/principal.js';
import { roleAtLeast } from '../access/roles.js';
import type { Services } from '../assembly/services.js';
import { queryContext } from '../assembly/queries.js';
import { fail } from '../errors.js';
import type { AnyOperation, OpContext } from './operation.js';

export async function runOperation(
  operation: AnyOperation,
  services: Services,
  principal: Principal,
  input: object,
): Promise<unknown> {
  const ctx: OpContext = { services, fleet: queryContext(services), principal };
  const allowed = roleAtLeast(principal.role, operation.role);
  const refuse = (): never =>
    fail('FORBIDDEN', `${operation.name} needs the ${operation.role} role (${principal.name} is ${principal.role})`);
  if (!operation.changes) {
    if (!allowed) refuse();
    return await operation.run(ctx, input);
  }
  return await services.audit.recorded(
    {
      principal,
      action: operation.name,
      args: operation.auditArgs ? operation.auditArgs(input) : input,
    },
    () => (allowed ? operation.run(ctx, input) : refuse()),
    operation.auditDetail,
  );
}
