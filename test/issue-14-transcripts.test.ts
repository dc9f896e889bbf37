// Issue 14: job transcripts keep what a person reads, and a failed upgrade names the package
// whose maintainer script failed. Real apt-get runs dpkg on a pseudo-terminal, so dpkg rewrites
// its "(Reading database ... 45%" line with CRs; the outputs below are captured from real
// apt-get and dpkg runs in separate roots (test/helpers/root.ts; dpkg logs inside the root),
// where a copy of the host's /bin/sh lets maintainer scripts really run (chrooted by dpkg).
// End to end: a test machine's failing upgrade through a real server and agent; the stored
// transcript, the job's summary and the release gate's reason.
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RpcClient } from '../src/agent/client.js';
import { Transcript } from '../src/agent/run.js';
import { standing } from '../src/gate/gate.js';
import { dpkgErrorPackages, dpkgFailures, dpkgFailureSummary, readableOutput } from '../src/index/dpkg-output.js';
import type { JobRow } from '../src/state/jobs.js';
import { aptEnv, runAptOk, type AptEnv } from './helpers/apt.js';
import { createAgent, type TestAgent } from './helpers/agent.js';
import { buildDeb, type DebSpec } from './helpers/debs.js';
import { execOk } from './helpers/exec.js';
import { createTestRoot } from './helpers/root.js';
import { startServer, testConfig, type TestServer } from './helpers/server.js';
import { makeWorld, type World } from './helpers/world.js';

const deb = (name: string, version: string, more: Partial<DebSpec> = {}): DebSpec => ({
  name,
  version,
  arch: 'all',
  ...more,
});
const fails = (script: string) => `#!/bin/sh\necho "${script} fails on purpose" >&2\nexit 1\n`;
const GENERIC = 'E: Sub-process /usr/bin/dpkg returned an error code (1)';
const NOISE = /\(Reading database \.\.\. (?:\d+%)?\r/;
const DB_LINE = /^\(Reading database \.\.\. \d+ files and directories currently installed\.\)$/gm;

/** The host's /bin/sh and the libraries it loads, copied into a root: maintainer scripts run there. */
async function addShell(root: string): Promise<void> {
  const ldd = (await execOk('ldd', ['/bin/sh'])).toString();
  const libs = [...ldd.matchAll(/(\/\S+) \(0x[0-9a-f]+\)/g)].map((m) => m[1]!);
  assert.ok(libs.length > 0, ldd);
  for (const [from, to] of [['/bin/sh', '/bin/sh'], ...libs.map((l) => [l, l])] as const) {
    await mkdir(path.dirname(path.join(root, to)), { recursive: true });
    await copyFile(from, path.join(root, to));
  }
}

let dir: string;
before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'aptgate-i14-transcripts-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** apt-get install of .deb files in a fresh root: its exit code and everything it printed. */
async function install(
  name: string,
  debs: string[],
  opts: { shell: boolean; first?: string[] },
): Promise<{ code: number | null; output: string }> {
  const t = await createTestRoot(path.join(dir, name));
  if (opts.shell) await addShell(t.root);
  if (opts.first) assert.equal((await t.apt(['install', '-y', '-q', ...opts.first])).code, 0);
  return t.apt(['install', '-y', '-q', ...debs]);
}

describe('issue 14: transcripts as a person reads them', () => {
  it('dpkg\'s "(Reading database ... N%" rewrites go; the final line and every other line stay, also when fed in pieces', async () => {
    const debs = await Promise.all(
      ['alpha', 'beta', 'gamma', 'delta'].map((n) => buildDeb(deb(n, '1.0-1'), path.join(dir, 'debs'))),
    );
    // a database with a few packages, so dpkg counts in several steps
    const r = await install('plain', debs.slice(2), { shell: false, first: debs.slice(0, 2) });
    assert.equal(r.code, 0, r.output);
    assert.match(r.output, NOISE, 'the captured output has the progress rewrites');
    assert.match(r.output, /\r\n/, 'and CR LF line ends (dpkg on a pseudo-terminal)');
    const text = readableOutput(r.output);
    assert.ok(!text.includes('\r'), text);
    assert.doesNotMatch(text, /\d+%/);
    assert.equal(text.match(DB_LINE)?.length, 1, text);
    for (const n of ['gamma', 'delta']) {
      for (const line of [
        `Selecting previously unselected package ${n}.`,
        `Unpacking ${n} (1.0-1) ...`,
        `Setting up ${n} (1.0-1) ...`,
      ]) {
        assert.ok(text.split('\n').includes(line), `${line} in\n${text}`);
      }
    }
    assert.ok(text.split('\n').includes('0 upgraded, 2 newly installed, 0 to remove and 0 not upgraded.'));
    assert.equal(text.split('\n').length, r.output.split('\n').length, 'no line lost or merged');
    // the agent's transcript gets output in whatever pieces the pipe delivers
    for (const size of [1, 2, 7, 64, r.output.length]) {
      const t = new Transcript();
      t.line('$ apt-get install');
      for (let i = 0; i < r.output.length; i += size) t.add(r.output.slice(i, i + size));
      assert.equal(t.toString(), `$ apt-get install\n${text}`, `pieces of ${size}`);
    }
    // a line still being rewritten shows its latest state; then a line of its own starts afresh
    const t = new Transcript();
    t.add('(Reading database ... \r(Reading database ... 5%\r(Reading database ... 10%');
    assert.equal(t.toString(), '(Reading database ... 10%');
    t.line('# timeout');
    assert.equal(t.toString(), '(Reading database ... 10%\n# timeout\n');
    assert.equal(readableOutput('no carriage return\n'), 'no carriage return\n');
  });

  it('stays bounded: a line rewritten forever without a newline, and much output', () => {
    const t = new Transcript(1024);
    for (let i = 0; i < 10_000; i++) t.add(`\rprogress ${i}%`);
    assert.equal(t.toString(), `progress 9999%`);
    for (let i = 0; i < 10_000; i++) t.add(`line ${i}\n`);
    const s = t.toString();
    assert.ok(Buffer.byteLength(s) <= 1024);
    assert.ok(s.endsWith('line 9999\n'));
  });
});

describe("issue 14: the package whose maintainer script failed, from dpkg's own lines", () => {
  let debs: Record<string, string>;
  before(async () => {
    const out = path.join(dir, 'fail-debs');
    debs = {
      demo: await buildDeb(deb('demo', '1.0-1', { postinst: fails('postinst') }), out),
      needs: await buildDeb(deb('needs-demo', '1.0-1', { depends: 'demo' }), out),
      pre: await buildDeb(deb('pre', '1.0-1', { preinst: fails('preinst') }), out),
      killed: await buildDeb(deb('killed', '1.0-1', { postinst: '#!/bin/sh\nkill -TERM $$\n' }), out),
    };
  });

  it('a failing postinst, and the package that depended on it', async () => {
    const r = await install('postinst', [debs['demo']!, debs['needs']!], { shell: true });
    assert.equal(r.code, 100);
    assert.ok(r.output.includes(GENERIC), r.output);
    assert.match(r.output, /postinst fails on purpose/, 'the script ran');
    assert.deepEqual(dpkgFailures(r.output), [
      { package: 'demo', action: 'configure', reason: 'post-installation script failed (exit status 1)', script: true },
      {
        package: 'needs-demo',
        action: 'configure',
        reason: 'dependency problems - leaving unconfigured',
        script: false,
      },
    ]);
    assert.equal(
      dpkgFailureSummary(r.output),
      'demo: post-installation script failed (exit status 1); needs-demo: dependency problems - leaving unconfigured',
    );
    assert.deepEqual(dpkgErrorPackages(r.output), ['demo', 'needs-demo']);
    assert.equal(dpkgFailureSummary(r.output, 1), 'demo: post-installation script failed (exit status 1); 1 more');
  });

  it('a failing preinst of an archive being unpacked, a script killed by a signal, a script that cannot run', async () => {
    const pre = await install('preinst', [debs['pre']!], { shell: true });
    assert.deepEqual(dpkgFailures(pre.output), [
      { package: 'pre', action: 'unpack', reason: 'pre-installation script failed (exit status 1)', script: true },
    ]);
    assert.deepEqual(dpkgErrorPackages(pre.output), ['pre'], 'the archive path names the package');
    const killed = await install('killed', [debs['killed']!], { shell: true });
    assert.equal(dpkgFailureSummary(killed.output), 'killed: post-installation script killed by signal (Terminated)');
    // no /bin/sh in the root: dpkg cannot execute the script (and says exit status 2)
    const noShell = await install('no-shell', [debs['demo']!], { shell: false });
    assert.equal(
      dpkgFailureSummary(noShell.output),
      'demo: post-installation script could not be run (No such file or directory)',
    );
  });

  it('nothing to say when dpkg did not fail on a package', () => {
    assert.equal(dpkgFailureSummary('E: Unable to locate package nothere\n'), undefined);
    assert.deepEqual(dpkgFailures(''), []);
    // only the list dpkg ends with (the lines before it cut off by the transcript's cap)
    assert.equal(
      dpkgFailureSummary(
        'Errors were encountered while processing:\n foo\n /var/cache/apt/archives/bar_1.0_amd64.deb\nE: Sub-process /usr/bin/dpkg returned an error code (1)\n',
      ),
      'dpkg failed on foo, bar',
    );
  });
});

describe("issue 14: a test machine's failing upgrade, end to end", () => {
  const v1 = [deb('demo', '1.0-1'), deb('other', '1.0-1'), deb('third', '1.0-1')];
  const v2 = [deb('demo', '2.0-1', { postinst: fails('postinst') }), deb('other', '2.0-1'), deb('third', '2.0-1')];
  let world: World;
  let server: TestServer;
  let observer: AptEnv;
  let qa: TestAgent;

  const settle = async () => {
    await server.proxy.indexer.idle();
    await new Promise((r) => setImmediate(r));
    await server.gate.idle();
    await server.outdated.idle();
  };

  before(async () => {
    world = await makeWorld({ debs: v1 });
    server = await startServer(
      testConfig(path.join(world.dir, 'srv'), { fixture: world.backend }, (c) => {
        c.proxy.releaseTtlMs = 0;
      }),
    );
    observer = await aptEnv(path.join(world.dir, 'observer'), {
      sources: [{ uri: `${server.url}/fixture`, suites: ['stable'], signedBy: world.key.keyring }],
      proxy: 'DIRECT',
    });
    await runAptOk(['update', '--error-on=any'], { apt: observer });
    await settle();
    server.fleet.classes.create('qa');
    server.fleet.classes.bindStage('qa', 'test', true, server.config.gate.stages);
    qa = await createAgent(path.join(world.dir, 'qa-1'), server.url, { hostname: 'qa-1' });
    await addShell(qa.root.root);
    await qa.runOk(['enroll', '--token', server.fleet.enrolment.createToken({ class: 'qa', autoApprove: true }).token]);
    const r = await qa.root.apt(['install', '-y', 'demo', 'other', 'third']);
    assert.equal(r.code, 0, r.output);
    await qa.runOk(['run-once']);
    await settle();
  });
  after(async () => {
    await server?.close();
    await world?.close();
  });

  it('the stored transcript has no progress rewrites; the job and the gate name the package and its script', async () => {
    await world.repo.publish('stable', [...v1, ...v2]);
    await runAptOk(['update', '--error-on=any'], { apt: observer });
    await settle();
    const machine = qa.state.identity()!.machine;
    server.fleet.jobs.create([machine], { kind: 'update', origin: 'test' });
    const [upgrade] = server.fleet.jobs.create([machine], { kind: 'upgrade', origin: 'test' });
    const run = JSON.parse(await qa.runOk(['run-once', '--json'])) as { jobs: Array<{ id: number; failure?: string }> };
    await settle();
    assert.deepEqual(
      run.jobs.map((j) => j.failure),
      [undefined, 'other'],
    );

    const job = server.fleet.jobs.byId(upgrade!)!;
    assert.equal(job.state, 'failed');
    const transcript = job.transcript!;
    assert.ok(!transcript.includes('\r'), transcript);
    assert.doesNotMatch(transcript, /Reading database \.\.\. \d+%/);
    assert.ok((transcript.match(DB_LINE)?.length ?? 0) >= 1, transcript);
    assert.match(transcript, /^Setting up other \(2\.0-1\) \.\.\.$/m);
    assert.match(transcript, /^postinst fails on purpose$/m);
    assert.ok(transcript.includes(GENERIC), "apt's own words stay in the transcript");
    assert.equal(job.summary, 'demo: post-installation script failed (exit status 1)');

    const qaRow = server.gate.status('test').machines.find((m) => m.hostname === 'qa-1')!;
    assert.deepEqual(qaRow.standing, {
      status: 'failed',
      job: upgrade,
      reason: `upgrade job ${upgrade} failed (other): demo: post-installation script failed (exit status 1)`,
    });
  });

  it("from an agent before issue 14 (progress rewrites sent, apt's generic summary): the gate still names the package", async () => {
    const id = qa.state.identity()!;
    const [jobId] = server.fleet.jobs.create([id.machine], { kind: 'upgrade', origin: 'test' });
    const client = new RpcClient({ server: server.url, timeoutS: 30 }, { identity: id, state: qa.state });
    const fetched = await client.call<{ jobs: Array<{ id: number }> }>('agent.fetchJob', [{ machineId: id.machineId }]);
    assert.deepEqual(
      fetched.jobs.map((j) => j.id),
      [jobId],
    );
    const raw = (
      await install(
        'old-agent',
        [await buildDeb(deb('demo', '1.0-1', { postinst: fails('postinst') }), path.join(dir, 'old-agent-debs'))],
        { shell: true },
      )
    ).output;
    assert.match(raw, NOISE);
    await client.call('agent.jobFinished', [
      {
        machineId: id.machineId,
        id: jobId,
        exitCode: 100,
        durationMs: 5,
        failure: 'other',
        summary: GENERIC,
        transcript: `$ apt-get -y -q upgrade\n${raw}`,
      },
    ]);
    // what an agent sent is stored as it came (shown with its controls made visible, issue 13)
    const job = server.fleet.jobs.byId(jobId!)!;
    assert.deepEqual([job.summary, job.transcript], [GENERIC, `$ apt-get -y -q upgrade\n${raw}`]);
    const qaRow = server.gate.status('test').machines.find((m) => m.hostname === 'qa-1')!;
    assert.equal(
      (qaRow.standing as { reason: string }).reason,
      `upgrade job ${jobId} failed (other): demo: post-installation script failed (exit status 1)`,
    );
  });

  it("the gate keeps a summary that is not apt's generic line, and the generic line when the transcript says nothing more", () => {
    const row = (summary: string, transcript: string): JobRow => ({
      id: 7,
      machineId: 1,
      kind: 'upgrade',
      params: '{}',
      policy: '{}',
      state: 'failed',
      origin: 'test',
      disruptive: true,
      createdAt: 2,
      notBefore: null,
      deadline: null,
      attempts: 1,
      maxAttempts: 3,
      leaseUntil: null,
      deliveredAt: 2,
      startedAt: 2,
      finishedAt: 3,
      exitCode: 100,
      durationMs: 1,
      failure: 'other',
      summary,
      transcript,
      leaseCredentialVersion: 0,
    });
    const reason = (j: JobRow) =>
      (standing({ id: 1, hostname: 'h', report: undefined, upgrades: [j] }, 1) as { reason: string }).reason;
    const dpkgSaid =
      'dpkg: error processing package foo (--configure):\n installed foo package post-installation script subprocess returned error exit status 3\n';
    assert.equal(
      reason(row(GENERIC, dpkgSaid)),
      'upgrade job 7 failed (other): foo: post-installation script failed (exit status 3)',
    );
    assert.equal(
      reason(row('network: Could not connect to mirror', dpkgSaid)),
      'upgrade job 7 failed (other): network: Could not connect to mirror',
    );
    assert.equal(reason(row(GENERIC, '$ apt-get upgrade\n')), `upgrade job 7 failed (other): ${GENERIC}`);
  });
});
