// Enrolment tokens (fleet/queries/tokens.ts answers): what a new machine needs to join. Listing
// is the viewer's (never the tokens themselves); creating (the token is shown once) and revoking
// are the operator's.
import { createToken, listTokens, revokeToken } from '../fleet/queries/tokens.js';
import { bool, int, listOf, object, op, str } from './operation.js';
import { durationOption } from './values.js';

export interface TokenCreateInput {
  class?: string;
  autoApprove?: boolean;
  expires?: string;
  uses?: number;
  note?: string;
  enrolUrl?: string;
}

export const tokenOps = [
  op({
    name: 'tokens.list',
    summary: 'enrolment tokens with their class, expiry, uses and state (never the tokens themselves)',
    role: 'viewer',
    method: 'GET',
    path: '/tokens',
    input: { properties: {} },
    output: listOf('tokens', 'the enrolment tokens'),
    changes: false,
    run: ({ fleet }) => ({ tokens: listTokens(fleet) }),
  }),
  op({
    name: 'tokens.create',
    summary: 'an enrolment token, shown once, with the command to run on a client',
    role: 'operator',
    method: 'POST',
    path: '/tokens',
    input: {
      properties: {
        class: str('machines enrolled with it join this class', { maxLength: 100 }),
        autoApprove: bool('machines enrolled with it are approved at once (default: pending)'),
        expires: str('valid for this long: 7d, 12h (default: no expiry)', { maxLength: 40 }),
        uses: int('enrolments it allows (default: unlimited)', 1, 1_000_000),
        note: str('a note for the token list (one line, at most 200 characters)', { maxLength: 1000 }),
        enrolUrl: str("the server URL in the enrol command (default: http(s)://the server's host name:its port)", {
          maxLength: 300,
        }),
      },
    },
    output: object('the token, with `token` itself (shown this once) and `enrolCommand`'),
    changes: true,
    auditDetail: (t: { id: number }) => ({ tokenId: t.id }),
    run: ({ fleet }, i: TokenCreateInput) =>
      createToken(fleet, {
        ...(i.class === undefined ? {} : { class: i.class }),
        autoApprove: i.autoApprove === true,
        ...(i.expires === undefined ? {} : { expiresMs: durationOption('expires', i.expires) }),
        ...(i.uses === undefined ? {} : { uses: i.uses }),
        ...(i.note === undefined ? {} : { note: i.note }),
        ...(i.enrolUrl === undefined ? {} : { server: i.enrolUrl }),
      }),
  }),
  op({
    name: 'tokens.revoke',
    summary: 'revoke an enrolment token: no further enrolment with it',
    role: 'operator',
    method: 'DELETE',
    path: '/tokens/:id',
    input: { properties: { id: int('the token id', 1) }, required: ['id'] },
    output: object('the revoked token'),
    changes: true,
    run: ({ fleet }, i: { id: number }) => revokeToken(fleet, i.id),
  }),
];
