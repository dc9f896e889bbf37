// Issue 14: aptgate-agent given a server URL with the wrong scheme: https:// to a plain-HTTP
// aptgate answers with OpenSSL's "wrong version number", http:// to an HTTPS one with "socket
// hang up". The agent says what is wrong and which setting to change, and keeps nothing (no
// identity after a failed enrolment; an enrolled identity unchanged after a failed run).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createAgent } from './helpers/agent.js';
import { projectRoot } from './helpers/paths.js';
import { startServer, testConfig, type TestServer } from './helpers/server.js';

let dir: string;
let plain: TestServer;
let secure: TestServer;
const TLS = path.join(projectRoot, 'test/fixtures/tls');

describe('aptgate-agent and a server URL with the wrong scheme', () => {
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'aptgate-i14-agent-'));
    plain = await startServer(testConfig(path.join(dir, 'plain'), {}));
    secure = await startServer(
      testConfig(path.join(dir, 'secure'), {}, (c) => {
        c.tls = { cert: path.join(TLS, 'cert.pem'), key: path.join(TLS, 'key.pem') };
      }),
    );
  });
  after(async () => {
    await plain?.close();
    await secure?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('https:// to a plain-HTTP server: "does not speak HTTPS", use http:// in server = of the file; no identity kept', async () => {
    const wrong = plain.url.replace(/^http:/, 'https:');
    const agent = await createAgent(path.join(dir, 'a1'), wrong);
    const token = plain.fleet.enrolment.createToken({ autoApprove: true }).token;
    const r = await agent.run(['enroll', '--token', token]);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(
      r.stderr,
      `aptgate-agent: AGENT_TRANSPORT: the server at ${wrong} does not speak HTTPS (TLS handshake failed: wrong version number): use ${plain.url} in server = of ${agent.configFile} (or --server), or give the server a certificate (server.tls_cert and server.tls_key)\n`,
    );
    assert.doesNotMatch(r.stderr, /SSL routines|ssl3_get_record|openssl/i, 'no OpenSSL text');
    assert.equal(existsSync(path.join(agent.stateDir, 'identity.json')), false, 'nothing enrolled');
    // the URL given on the command line is named as such
    const cli = await agent.run(['enroll', '--token', token, '--server', wrong]);
    assert.match(cli.stderr, new RegExp(`: use ${plain.url.replace(/\./g, '\\.')} in --server, or give`));
    assert.equal(plain.fleet.machines.all().length, 0, 'the server saw no enrolment');
  });

  it('http:// to an HTTPS server: "speaks HTTPS, not plain HTTP", use https://', async () => {
    const wrong = secure.url.replace(/^https:/, 'http:');
    const agent = await createAgent(path.join(dir, 'a2'), wrong);
    const token = secure.fleet.enrolment.createToken({ autoApprove: true }).token;
    const r = await agent.run(['enroll', '--token', token]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(
        `^aptgate-agent: AGENT_TRANSPORT: the server at ${wrong.replace(/\./g, '\\.')} speaks HTTPS, not plain HTTP \\(it closed the connection: [^)]+\\): use ${secure.url.replace(/\./g, '\\.')} in server = of ${agent.configFile.replace(/[.+]/g, '\\$&')} \\(or --server\\)\n$`,
      ),
    );
    assert.equal(existsSync(path.join(agent.stateDir, 'identity.json')), false);
    // the right scheme without the CA: the certificate is not trusted, ca_file is named
    await agent.configure({ server: secure.url });
    const untrusted = await agent.run(['enroll', '--token', token]);
    assert.match(
      untrusted.stderr,
      new RegExp(
        `the server at ${secure.url.replace(/\./g, '\\.')} has a certificate this machine does not trust \\(self.signed certificate\\): set ca_file = to the PEM certificate .* in ${agent.configFile.replace(/[.+]/g, '\\$&')}\n$`,
      ),
    );
    assert.equal(existsSync(path.join(agent.stateDir, 'identity.json')), false);
  });

  it('run-once after enrolment, with server = changed to https:// on the plain server: the file is named and the identity stays as it was', async () => {
    const agent = await createAgent(path.join(dir, 'a3'), plain.url);
    await agent.runOk(['enroll', '--token', plain.fleet.enrolment.createToken({ autoApprove: true }).token]);
    const identity = await readFile(path.join(agent.stateDir, 'identity.json'));
    const wrong = plain.url.replace(/^http:/, 'https:');
    await agent.configure({ server: wrong });
    const r = await agent.run(['run-once']);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      new RegExp(
        `does not speak HTTPS \\(TLS handshake failed: wrong version number\\): use ${plain.url.replace(/\./g, '\\.')} in server = of ${agent.configFile.replace(/[.+]/g, '\\$&')}, or give`,
      ),
    );
    assert.deepEqual(await readFile(path.join(agent.stateDir, 'identity.json')), identity);
  });
});
