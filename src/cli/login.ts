// `aptgate login --server URL [--user NAME] [--expires 30d]`: logs in once with a password, makes
// an API token of the user's role for this command line, saves it (credentials.ts) and ends the
// session; later commands with --server URL use it. `aptgate logout --server URL` revokes the
// token on the server and forgets it. The password is read without echo (or from stdin).
import os from 'node:os';
import type { Command } from 'commander';
import { fail, isAptgateError } from '../errors.js';
import { operation } from '../ops/registry.js';
import { remoteServer } from './call.js';
import { credentialsPath, forgetLogin, saveLogin, savedLogin } from './credentials.js';
import type { CliShell } from './fleet-context.js';
import { readPassword } from './password-input.js';
import { answerOf, remoteCall, send } from './remote.js';
import { visible } from '../term/visible.js';

const post = (url: string, init: RequestInit) => send(url, init, url);

export function registerLoginCommands(program: Command, shell: CliShell): void {
  program
    .command('login')
    .description("log in to an aptgate server's API: saves a token for later --server commands")
    .option('--server <url>', 'the server (env APTGATE_SERVER), e.g. https://aptgate.example:3142')
    .option('--user <name>', 'the account (default: your unix user name)')
    .option('--expires <duration>', 'how long the saved token lasts (default 30d, at most 365d)', '30d')
    .action(async (o: { server?: string; user?: string; expires: string }) => {
      const server = remoteServer(o);
      if (server === undefined) fail('USAGE', 'login: name the server with --server URL (or APTGATE_SERVER)');
      const user = o.user ?? os.userInfo().username;
      const password = await readPassword(`password of ${user} at ${server}`);
      const res = await post(`${server}/api/v1/session`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify({ user, password }),
      });
      const session = (await answerOf(server, res)) as { role: string; csrf: string };
      const cookie = res.headers
        .getSetCookie()
        .find((c) => c.startsWith('aptgate_session='))
        ?.split(';')[0];
      if (!cookie) fail('REMOTE_FAILED', `${server}: the login answer set no session`);
      const headers = { cookie, 'x-aptgate-csrf': session.csrf, accept: 'application/json' };
      try {
        const made = (await answerOf(
          server,
          await post(`${server}/api/v1/api-tokens`, {
            method: 'POST',
            headers: { ...headers, 'content-type': 'application/json' },
            body: JSON.stringify({
              name: `aptgate login on ${os.hostname()}`.slice(0, 64),
              role: session.role,
              expires: o.expires,
            }),
          }),
        )) as { token: string; id: number; role: string; expiresAt: string };
        saveLogin(server, { token: made.token, tokenId: made.id, user, role: made.role, expiresAt: made.expiresAt });
        shell.out(
          `logged in to ${server} as ${visible(user)} (${made.role}); token ${made.id} expires ${made.expiresAt}, saved in ${credentialsPath()}\n`,
        );
      } finally {
        await post(`${server}/api/v1/session`, { method: 'DELETE', headers }).catch(() => undefined);
      }
    });
  program
    .command('logout')
    .description('revoke the token aptgate login saved for a server, and forget it')
    .option('--server <url>', 'the server (env APTGATE_SERVER)')
    .action(async (o: { server?: string }) => {
      const server = remoteServer(o);
      if (server === undefined) fail('USAGE', 'logout: name the server with --server URL (or APTGATE_SERVER)');
      const saved = savedLogin(server);
      if (!saved) fail('NOT_FOUND', `not logged in to ${server} (${credentialsPath()})`);
      try {
        await remoteCall(server, saved.token, operation('api-tokens.revoke'), { id: saved.tokenId });
      } catch (err) {
        // a token that no longer works is forgotten all the same
        if (!isAptgateError(err, 'UNAUTHENTICATED') && !isAptgateError(err, 'NOT_FOUND')) throw err;
      }
      forgetLogin(server);
      shell.out(`logged out of ${server}: token ${saved.tokenId} revoked and forgotten\n`);
    });
}
