// A fleet behind the API for the tests of its operations: a real server on 127.0.0.1 with the
// test users logged in, machines enrolled through /RPC2 as agents enrol, the command line as a
// real process (on the server host, or against the server with --server and an API token), and
// the audit entries of an action.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { decodeResponse, encodeCall } from '../../src/protocol/codec.js';
import { addTestUsers, login, PASSWORD, type SessionClient } from './api.js';
import { exec } from './exec.js';
import { projectRoot } from './paths.js';
import { enrolOverHttp, postSigned, type Enrolled } from './reports.js';
import { startServer, testConfig, type TestServer } from './server.js';

const CLI = path.join(projectRoot, 'dist', 'src', 'cli', 'main.js');
// the command line sees no APTGATE_* variable of the environment running the tests
const baseEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('APTGATE_')));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface ApiFleet {
  dir: string;
  server: TestServer;
  admin: SessionClient;
  operator: SessionClient;
  viewer: SessionClient;
  /** an operator's API token (oscar's), for the remote command line */
  operatorToken: string;
  /** enrols a machine through /RPC2 with an auto-approving token (or one that needs approval) */
  enrol(hostname: string, autoApprove?: boolean): Promise<Enrolled>;
  /** a signed agent.* call of an enrolled machine; its answer */
  agentCall<T = unknown>(m: Enrolled, method: string, params: Record<string, unknown>): Promise<T>;
  /** `aptgate ARGS` on the server host (the server's database) */
  local(args: string[]): Promise<CliResult>;
  /** `aptgate ARGS --server URL` with the operator's token in APTGATE_TOKEN */
  remote(args: string[], token?: string): Promise<CliResult>;
  /** the audit entries of an action, newest first, as `actor result` */
  audited(action: string): string[];
  close(): Promise<void>;
}

export async function startApiFleet(prefix: string): Promise<ApiFleet> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  const server = await startServer(testConfig(dir, {}));
  await addTestUsers(server.services);
  const admin = await login(server.url, 'alice', PASSWORD);
  const operator = await login(server.url, 'oscar', PASSWORD);
  const viewer = await login(server.url, 'vera', PASSWORD);
  const t = await operator.call('POST', '/api-tokens', { role: 'operator', expires: '1d', name: 'remote cli' });
  assert.equal(t.status, 200, JSON.stringify(t.body));
  const run = async (args: string[], env: NodeJS.ProcessEnv): Promise<CliResult> => {
    const r = await exec(process.execPath, [CLI, ...args], { env, cwd: dir, timeoutMs: 60_000 });
    return { code: r.code, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
  };
  return {
    dir,
    server,
    admin,
    operator,
    viewer,
    operatorToken: t.body.token as string,
    async enrol(hostname, autoApprove = true) {
      const { token } = server.services.fleet.enrolment.createToken({ autoApprove });
      return enrolOverHttp(server.url, token, hostname);
    },
    async agentCall<T>(m: Enrolled, method: string, params: Record<string, unknown>) {
      const xml = await postSigned(server.url, m, encodeCall(method, [{ machineId: m.machineId, ...params }]));
      return (await decodeResponse(xml)) as T;
    },
    local: (args) => run([...args, '--state-dir', dir], baseEnv),
    remote: (args, token) =>
      run([...args, '--server', server.url], { ...baseEnv, APTGATE_TOKEN: token ?? (t.body.token as string) }),
    audited: (action) => server.services.audit.query({ action, limit: 1000 }).map((e) => `${e.actor} ${e.result}`),
    async close() {
      await server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
