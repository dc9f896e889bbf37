// Issue 6: an LTSP server's agent manages a real chroot (debootstrap minbase of bookworm, made
// through the aptgate proxy) as a machine of its own: discovered, enrolled as the host's child
// with its credentials outside the chroot, reporting; jobs run inside with /proc, /sys, /dev and
// /dev/pts mounted and daemons refused, and all of it gone afterwards (after success, failure,
// and SIGTERM); a kernel change runs the refresh (a stub `ltsp` recording its arguments); the
// dpkg lock `ltsp image` holds is waited for; a release-upgrade moves the host, then the chroot;
// a chroot of an architecture this host cannot run is reported unsupported and left alone.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { chmod, copyFile, lstat, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { spawn } from 'node:child_process';
import { POLICY_TEXT } from '../src/agent/chroot/session.js';
import { processesIn } from '../src/agent/chroot/mounts.js';
import { AgentState } from '../src/agent/identity.js';
import { buildProgram } from '../src/cli/program.js';
import { isAptgateError } from '../src/errors.js';
import type { DebSpec } from './helpers/debs.js';
import { createAgent, type TestAgent } from './helpers/agent.js';
import { bootstrapChroot, CHROOT_ALIAS, makeChrootWorld, mountsUnder, type ChrootWorld } from './helpers/chroot.js';
import { exec } from './helpers/exec.js';
import { startServer, testConfig, waitFor, type TestServer } from './helpers/server.js';
import { demo1, demo2 } from './helpers/world.js';

const sh = (body: string) => `#!/bin/sh\nset -e\n${body}\n`;
const probe: DebSpec = {
  name: 'aptgate-probe',
  version: '1.0-1',
  arch: 'all',
  description: 'records what a maintainer script sees inside the chroot',
  postinst: sh(
    [
      'out=/var/lib/aptgate-probe',
      'if [ -x /usr/sbin/policy-rc.d ]; then set +e; /usr/sbin/policy-rc.d aptgate-probe start; echo "policy-rc.d=$?" > $out; set -e; else echo "policy-rc.d=absent" > $out; fi',
      'echo "LTSP_HANDLE_DAEMONS=${LTSP_HANDLE_DAEMONS:-unset}" >> $out',
      'if [ -r /proc/self/status ]; then echo proc=mounted >> $out; else echo proc=absent >> $out; fi',
      'if [ -d /sys/kernel ]; then echo sys=mounted >> $out; else echo sys=absent >> $out; fi',
      'if [ -e /dev/pts/ptmx ]; then echo devpts=mounted >> $out; else echo devpts=absent >> $out; fi',
      'echo "machine=$(uname -m)" >> $out',
    ].join('\n'),
  ),
};
const kernel: DebSpec = {
  name: 'linux-image-aptgate',
  version: '9.9.9-1',
  description: 'a fake kernel: vmlinuz and initrd.img in /boot',
  postinst: sh('printf kernel > /boot/vmlinuz-9.9.9-aptgate\nprintf initrd > /boot/initrd.img-9.9.9-aptgate'),
};
const kernel2: DebSpec = {
  ...kernel,
  name: 'linux-image-aptgate2',
  postinst: sh('printf kernel > /boot/vmlinuz-9.9.10-aptgate'),
};
const kernel3: DebSpec = {
  ...kernel,
  name: 'linux-image-aptgate3',
  postinst: sh('printf kernel > /boot/vmlinuz-9.9.11-aptgate'),
};
const broken: DebSpec = {
  name: 'aptgate-broken',
  version: '1.0-1',
  postinst: sh('echo "aptgate-broken: postinst fails on purpose" >&2\nexit 1'),
};
// its postinst says it started, then waits until the test lets it finish
const slow: DebSpec = {
  name: 'aptgate-slow',
  version: '1.0-1',
  postinst: sh(
    'touch /var/lib/aptgate-slow-started\nwhile [ ! -e /var/lib/aptgate-slow-go ]; do sleep 0.1; done\nrm -f /var/lib/aptgate-slow-go /var/lib/aptgate-slow-started',
  ),
};
const demo3: DebSpec = { ...demo1, version: '3.0-1' };

interface RunOnce {
  status: string;
  jobs: Array<{ id: number; kind: string; failure?: string }>;
  chroots: Array<{
    name: string;
    machine?: number;
    skipped?: string;
    error?: string;
    result?: { reported: string; jobs: Array<{ id: number; kind: string; failure?: string }> };
  }>;
}

let world: ChrootWorld;
let server: TestServer;
let agent: TestAgent;
let base: string;
let chroot: string;
let chroot386: string;
let stubLog: string;
let env: NodeJS.ProcessEnv;
let hostId: number;
let chrootId: number;

const statusOf = async (name: string): Promise<string | undefined> => {
  const text = await readFile(path.join(chroot, 'var/lib/dpkg/status'), 'utf8');
  const p = text.split('\n\n').find((x) => x.startsWith(`Package: ${name}\n`));
  return p && `${/^Version: (.*)$/m.exec(p)?.[1]} ${/^Status: (.*)$/m.exec(p)?.[1]}`;
};

async function runOnce(withEnv: NodeJS.ProcessEnv = env): Promise<RunOnce> {
  return JSON.parse(await agent.runOk(['run-once', '--json'], withEnv)) as RunOnce;
}

/** queues a job for `machine`, runs the agent once, returns the finished job */
async function job(
  machine: number,
  kind: string,
  params: Record<string, unknown> = {},
  policy: Record<string, unknown> = {},
  withEnv: NodeJS.ProcessEnv = env,
) {
  const [id] = server.fleet.jobs.create([machine], { kind, params, policy, origin: 'test' });
  await runOnce(withEnv);
  const j = server.fleet.jobs.byId(id!)!;
  assert.ok(j.state === 'succeeded' || j.state === 'failed', `job ${id} ${kind} is ${j.state}`);
  return j;
}

/** the server's administration CLI on the server's database (safe while it runs) */
async function aptgate(...args: string[]): Promise<string> {
  let text = '';
  const program = buildProgram((t) => {
    text += t;
  });
  program.exitOverride();
  await program.parseAsync(['node', 'aptgate', ...args, '--db', server.config.db]);
  return text;
}

async function assertCleanedUp(): Promise<void> {
  assert.deepEqual(await mountsUnder(chroot), [], 'nothing stays mounted inside the chroot');
  await assert.rejects(readFile(path.join(chroot, 'usr/sbin/policy-rc.d')), { code: 'ENOENT' }, 'policy-rc.d is gone');
  assert.deepEqual(await processesIn(chroot), [], 'no process runs inside the chroot');
}

describe('issue 6: LTSP chroots managed like machines', () => {
  before(async () => {
    world = await makeChrootWorld({
      debs: [demo1, probe, kernel, kernel2, kernel3, broken, slow],
      architectures: ['amd64', 'i386'],
    });
    server = await startServer(
      testConfig(path.join(world.dir, 'srv'), { debian: world.backend }, (c) => {
        world.tweak(c);
        c.proxy.releaseTtlMs = 0;
      }),
    );
    base = path.join(world.dir, 'ltsp');
    // an amd64 chroot and an i386 one (run under linux32), both made through aptgate
    [chroot, chroot386] = (
      await Promise.all([
        bootstrapChroot(world, server.url, path.join(base, 'amd64')),
        bootstrapChroot(world, server.url, path.join(base, 'i386'), { arch: 'i386' }),
      ])
    ).map((c) => c.target) as [string, string];
    for (const c of [chroot, chroot386]) {
      // debootstrap inside a container (like this CI) makes proc a link to the host's /proc instead
      // of mounting it; a chroot made on a real host, as LTSP's are, has a directory there
      for (const d of ['proc', 'sys']) {
        if ((await lstat(path.join(c, d))).isSymbolicLink()) {
          await rm(path.join(c, d));
          await mkdir(path.join(c, d));
        }
      }
      // the chroot trusts the fixture archive's key, as a Debian chroot trusts Debian's
      await copyFile(world.key.keyring, path.join(c, 'etc/apt/trusted.gpg.d/aptgate-test.gpg'));
    }
    // a chroot this amd64 host cannot run: an arm64 dpkg binary (only its ELF header matters)
    const arm = path.join(base, 'arm64');
    for (const d of ['proc', 'usr/bin', 'etc']) await mkdir(path.join(arm, d), { recursive: true });
    const elf = Buffer.alloc(64);
    elf.write('\x7fELF', 0, 'latin1');
    elf[4] = 2;
    elf[5] = 1;
    elf.writeUInt16LE(0xb7, 18);
    await writeFile(path.join(arm, 'usr/bin/dpkg'), elf);
    await writeFile(path.join(arm, 'etc/os-release'), 'ID=debian\nVERSION_CODENAME=bookworm\n');
    // modern LTSP's `ltsp`, as a stub recording its arguments
    const stubDir = path.join(world.dir, 'stub-bin');
    stubLog = path.join(world.dir, 'ltsp-calls.log');
    await mkdir(stubDir);
    await writeFile(
      path.join(stubDir, 'ltsp'),
      `#!/bin/sh\nprintf '%s\\n' "$*" >> '${stubLog}'\n[ ! -e '${stubLog}.fail' ] || exit 3\n`,
    );
    await chmod(path.join(stubDir, 'ltsp'), 0o755);
    env = { PATH: `${stubDir}:${process.env['PATH'] ?? '/usr/bin:/bin'}` };

    agent = await createAgent(path.join(world.dir, 'host'), server.url, {
      hostname: 'ltsp1',
      sources: [{ uri: `${server.url}/debian`, suites: ['bookworm'], signedBy: world.key.keyring }],
    });
    await agent.configure({ server: server.url, extra: ['manage_chroots = yes', `chroot = ${base}`] });
    server.fleet.classes.create('ltsp');
    await agent.runOk(
      ['enroll', '--token', server.fleet.enrolment.createToken({ autoApprove: true, class: 'ltsp' }).token],
      env,
    );
    hostId = agent.state.identity()!.machine;
  });
  after(async () => {
    await server?.close();
    await world?.close();
  });

  it('discovers the chroots: name, path, architecture read from their files, distribution, whether this host runs them', async () => {
    const r = JSON.parse(await agent.runOk(['chroots', 'list', '--json'], env)) as {
      chroots: Array<Record<string, unknown>>;
      problems: string[];
    };
    assert.deepEqual(r.problems, []);
    assert.deepEqual(
      r.chroots.map((c) => [c['name'], c['path'], c['architecture'], c['distribution'], c['codename'], c['run']]),
      [
        ['amd64', chroot, 'amd64', 'debian', 'bookworm', 'native'],
        ['arm64', path.join(base, 'arm64'), 'arm64', 'debian', 'bookworm', 'unsupported'],
        ['i386', chroot386, 'i386', 'debian', 'bookworm', 'linux32'],
      ],
    );
    assert.match(String(r.chroots[1]!['reason']), /cannot execute arm64/);
    const text = await agent.runOk(['chroots', 'list', path.join(base, 'arm64')], env);
    assert.match(text, /^NAME +PATH +ARCH +DISTRIBUTION +RUNS HERE +MACHINE$/m);
    assert.match(text, /^arm64 .* unsupported \(this amd64 host cannot execute arm64 programs\) +-$/m);
    const bad = await agent.run(['chroots', 'list', 'relative/dir'], env);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /give absolute paths/);
  });

  it('enrols the chroot as a child machine of the host, with credentials outside the chroot, and reports it', async () => {
    const r = await runOnce();
    const [amd64, arm64, i386] = r.chroots;
    assert.equal(amd64?.name, 'amd64');
    assert.equal(amd64?.result?.reported, 'full');
    assert.match(arm64?.skipped ?? '', /^unsupported: this amd64 host cannot execute arm64/);
    chrootId = amd64!.machine!;
    const m = server.fleet.machines.byId(chrootId)!;
    assert.equal(m.parentId, hostId);
    assert.equal(m.hostname, 'ltsp1/amd64');
    assert.equal(m.architecture, 'amd64');
    assert.equal(m.codename, 'bookworm');
    assert.equal(m.status, 'approved', 'approved with its host');
    assert.deepEqual(
      server.fleet.classes.classesOf(m).map((c) => c.name),
      ['ltsp'],
      "in the class of the host's token",
    );
    assert.deepEqual(server.fleet.machines.byHostname('ltsp1/arm64'), [], 'the unsupported chroot is never enrolled');
    assert.equal(i386?.result?.reported, 'full');
    const m386 = server.fleet.machines.byId(i386!.machine!)!;
    assert.deepEqual([m386.hostname, m386.parentId, m386.architecture], ['ltsp1/i386', hostId, 'i386']);
    const report = server.fleet.machines.report(chrootId)!;
    assert.ok(report, 'the chroot reported');
    assert.ok(m.profileId !== null);
    const extras = JSON.parse(report.extras) as { sources: Array<{ path: string; content: string }> };
    assert.deepEqual(
      extras.sources.map((s) => s.path),
      ['/etc/apt/sources.list'],
      'paths as the chroot sees them',
    );
    assert.match(extras.sources[0]!.content, new RegExp(`deb http://${CHROOT_ALIAS} bookworm main`));
    // the credentials: on the host, under the agent's state directory; nowhere in the chroot
    const id = JSON.parse(await readFile(path.join(agent.stateDir, 'chroots/amd64/identity.json'), 'utf8')) as {
      machine: number;
      secret: string;
    };
    assert.equal(id.machine, chrootId);
    const grep = await exec('grep', ['-rlF', '--', id.secret, chroot]);
    assert.equal(grep.code, 1, `the secret is in ${grep.stdout.toString()}`);
    await assertCleanedUp();
    // listed with its machine now
    assert.match(
      await agent.runOk(['chroots', 'list'], env),
      new RegExp(`^amd64 +${chroot} +amd64 +Debian GNU/Linux 12 \\(bookworm\\) +yes +${chrootId}$`, 'm'),
    );
  });

  it('installs and upgrades packages inside the chroot through the proxy: mounts, policy-rc.d and LTSP_HANDLE_DAEMONS=false during the job, none of it after', async () => {
    const j = await job(chrootId, 'install', { packages: ['aptgate-demo', 'aptgate-probe'] });
    assert.equal(j.state, 'succeeded', j.transcript ?? '');
    assert.equal(await statusOf('aptgate-demo'), '1.0-1 install ok installed');
    assert.match(
      j.transcript!,
      new RegExp(
        `\\$ chroot ${chroot} apt-get -o Acquire::http::Proxy=${server.url} -o Acquire::http::Proxy::127\\.0\\.0\\.1=DIRECT .* install aptgate-demo aptgate-probe`,
      ),
    );
    assert.deepEqual((await readFile(path.join(chroot, 'var/lib/aptgate-probe'), 'utf8')).trim().split('\n'), [
      'policy-rc.d=101',
      'LTSP_HANDLE_DAEMONS=false',
      'proc=mounted',
      'sys=mounted',
      'devpts=mounted',
      'machine=x86_64',
    ]);
    await assertCleanedUp();
    // the .deb came through aptgate (the chroot's mirror name does not even resolve)
    assert.ok(
      world.upstream.requests().some((q) => q.path.startsWith('pool/') && q.path.includes('aptgate-demo_1.0-1')),
      'aptgate fetched the .deb',
    );

    await world.publish([demo1, demo2, probe, kernel, kernel2, kernel3, broken, slow]);
    const u = await job(chrootId, 'update');
    assert.equal(u.state, 'succeeded', u.transcript ?? '');
    // like apt-check: the host and every chroot
    assert.equal(
      (await agent.runOk(['status'], env)).split('\n')[0],
      'host: 0 updates (0 security); chroot amd64: 1 update (0 security); chroot arm64: unknown (unsupported: this amd64 host cannot execute arm64 programs); chroot i386: 0 updates (0 security)',
    );
    const st = JSON.parse(await agent.runOk(['status', '--json'], env)) as {
      updates: number;
      chroots: Array<{ name: string; machine: number | null; updates: number | null; security: number | null }>;
    };
    assert.deepEqual(
      st.chroots.map((c) => [c.name, c.machine, c.updates, c.security]),
      [
        ['amd64', chrootId, 1, 0],
        ['arm64', null, null, null],
        ['i386', server.fleet.machines.byHostname('ltsp1/i386')[0]!.id, 0, 0],
      ],
    );
    await server.proxy.indexer.idle();
    await runOnce();
    assert.deepEqual(
      (await server.fleet.outdatedListsInSlices(chrootId)).available?.entries.map(
        (e) => `${e.package} ${e.installed}->${e.candidate}`,
      ),
      ['aptgate-demo 1.0-1->2.0-1'],
      'the server agrees',
    );

    const up = await job(chrootId, 'upgrade');
    assert.equal(up.state, 'succeeded', up.transcript ?? '');
    assert.equal(await statusOf('aptgate-demo'), '2.0-1 install ok installed');
    await assertCleanedUp();
    await runOnce();
    assert.deepEqual((await server.fleet.outdatedListsInSlices(chrootId)).available?.entries, []);
  });

  it("runs an i386 chroot under linux32: maintainer scripts see i686, apt and dpkg the chroot's i386", async () => {
    const id386 = server.fleet.machines.byHostname('ltsp1/i386')[0]!.id;
    const j = await job(id386, 'install', { packages: ['aptgate-probe'] });
    assert.equal(j.state, 'succeeded', j.transcript ?? '');
    assert.match(j.transcript!, new RegExp(`\\$ linux32 chroot ${chroot386} apt-get .* install aptgate-probe`));
    assert.match(j.transcript!, /^# LTSP chroot i386 \(.*, i386, under linux32\)$/m);
    const seen = (await readFile(path.join(chroot386, 'var/lib/aptgate-probe'), 'utf8')).trim().split('\n');
    assert.deepEqual(seen.slice(-2), ['devpts=mounted', 'machine=i686']);
    assert.deepEqual(await mountsUnder(chroot386), []);
    await assert.rejects(readFile(path.join(chroot386, 'usr/sbin/policy-rc.d')), { code: 'ENOENT' });
    await runOnce();
    const r = JSON.parse(server.fleet.machines.report(id386)!.extras) as { aptUpgradable: unknown[] };
    assert.deepEqual(r.aptUpgradable, []);
    assert.equal(server.fleet.machines.byId(id386)!.architecture, 'i386');
    // a chroot whose apt fails does not hide the others in status
    const broken = path.join(chroot386, 'etc/apt/sources.list.d/broken.list');
    await writeFile(broken, 'this is not a sources line\n');
    const st = JSON.parse(await agent.runOk(['status', '--json'], env)) as {
      chroots: Array<{ name: string; updates: number | null; skipped?: string }>;
    };
    assert.deepEqual(
      st.chroots.map((c) => [c.name, c.updates]),
      [
        ['amd64', 0],
        ['arm64', null],
        ['i386', null],
      ],
    );
    assert.match(st.chroots[2]!.skipped!, /apt list --upgradable exited/);
    await rm(broken);
  });

  it("refreshes the image when a job changed the kernel or initramfs, with the result in the job's", async () => {
    await mkdir(path.join(base, 'images'));
    await writeFile(path.join(base, 'images/amd64.img'), 'squashfs');
    await rm(stubLog, { force: true });
    const j = await job(chrootId, 'install', { packages: ['linux-image-aptgate'] });
    assert.equal(j.state, 'succeeded', j.transcript ?? '');
    assert.equal(await readFile(stubLog, 'utf8'), `--base-dir=${base} image amd64\n`);
    assert.match(j.summary!, new RegExp(`refreshed: ltsp --base-dir=${base} image amd64$`));
    // a job that does not touch /boot runs no refresh
    await rm(stubLog);
    const k = await job(chrootId, 'install', { packages: ['aptgate-demo'] });
    assert.equal(k.state, 'succeeded');
    await assert.rejects(readFile(stubLog), { code: 'ENOENT' });
    // `ltsp image -r`: offered when there is a previous image to go back to
    const none = await job(chrootId, 'image-revert');
    assert.equal(none.state, 'failed');
    assert.match(none.summary!, new RegExp(`no previous image to go back to \\(${base}/images/amd64\\.img\\.old\\)`));
    await writeFile(path.join(base, 'images/amd64.img.old'), 'older squashfs');
    const back = await job(chrootId, 'image-revert');
    assert.equal(back.state, 'succeeded', back.transcript ?? '');
    assert.equal(await readFile(stubLog, 'utf8'), `--base-dir=${base} image -r amd64\n`);
    // LTSP 5 (no `ltsp`, its ltsp-update-* tools): kernels, then the image of this chroot
    const stub5 = path.join(world.dir, 'stub-ltsp5');
    await mkdir(stub5);
    for (const tool of ['ltsp-update-kernels', 'ltsp-update-image']) {
      await writeFile(path.join(stub5, tool), `#!/bin/sh\nprintf '%s %s\\n' "$(basename "$0")" "$*" >> '${stubLog}'\n`);
      await chmod(path.join(stub5, tool), 0o755);
    }
    await rm(stubLog);
    const five = await job(
      chrootId,
      'install',
      { packages: ['linux-image-aptgate2'] },
      {},
      { PATH: `${stub5}:${process.env['PATH'] ?? '/usr/bin:/bin'}` },
    );
    assert.equal(five.state, 'succeeded', five.transcript ?? '');
    assert.equal(await readFile(stubLog, 'utf8'), 'ltsp-update-kernels \nltsp-update-image amd64\n');
    assert.match(five.summary!, /refreshed: ltsp-update-kernels, ltsp-update-image amd64$/);
    // a refresh that fails fails the job, stays pending and is tried again at the chroot's next turn
    await rm(stubLog);
    await writeFile(`${stubLog}.fail`, '');
    const failing = await job(chrootId, 'install', { packages: ['linux-image-aptgate3'] });
    assert.equal(failing.state, 'failed');
    assert.match(
      failing.summary!,
      new RegExp(`refresh failed: ltsp --base-dir=${base} image amd64 exited 3; it is tried again at the next run$`),
    );
    await rm(`${stubLog}.fail`);
    const retry = await agent.run(['run-once'], env);
    assert.match(
      retry.stderr,
      new RegExp(`chroot amd64: pending kernel refresh: refreshed: ltsp --base-dir=${base} image amd64`),
    );
    assert.equal(await readFile(stubLog, 'utf8'), `--base-dir=${base} image amd64\n`.repeat(2));
    const quiet = await agent.run(['run-once'], env);
    assert.doesNotMatch(quiet.stderr, /pending kernel refresh/, 'done once it succeeded');
    await rm(path.join(base, 'images'), { recursive: true });
  });

  it('cleans up after a failing job too, and keeps a policy-rc.d that was there before', async () => {
    const j = await job(chrootId, 'install', { packages: ['aptgate-broken'] });
    assert.equal(j.state, 'failed');
    assert.match(j.transcript!, /aptgate-broken: postinst fails on purpose/);
    await assertCleanedUp();
    const own = "#!/bin/sh\n# the administrator's own\nexit 0\n";
    await writeFile(path.join(chroot, 'usr/sbin/policy-rc.d'), own, { mode: 0o755 });
    const r = await job(chrootId, 'remove', { packages: ['aptgate-broken'] });
    assert.equal(r.state, 'succeeded', r.transcript ?? '');
    assert.match(r.transcript!, /policy-rc\.d exists already: kept as it is/);
    assert.equal(await readFile(path.join(chroot, 'usr/sbin/policy-rc.d'), 'utf8'), own);
    await rm(path.join(chroot, 'usr/sbin/policy-rc.d'));
    // ours, left by a killed agent: removed after the next job
    await writeFile(path.join(chroot, 'usr/sbin/policy-rc.d'), POLICY_TEXT, { mode: 0o755 });
    const after = await job(chrootId, 'install', { packages: ['aptgate-demo'] });
    assert.match(after.transcript!, /policy-rc\.d left by an earlier run: removed after this job/);
    assert.deepEqual(await mountsUnder(chroot), []);
  });

  it('on SIGTERM finishes the running job, then stops; on a second SIGTERM aborts it; cleans up either way', async () => {
    const started = path.join(chroot, 'var/lib/aptgate-slow-started');
    const go = path.join(chroot, 'var/lib/aptgate-slow-go');
    const runUntilStarted = async () => {
      const child = agent.start(['run-once'], env);
      const err = { text: '' };
      child.stderr!.on('data', (d: Buffer) => {
        err.text += d.toString();
      });
      await waitFor(
        () =>
          readFile(started).then(
            () => true,
            () => false,
          ),
        'the slow postinst runs',
        120_000,
      );
      assert.ok((await mountsUnder(chroot)).length > 0, 'mounted while the job runs');
      return { child, err, exit: once(child, 'exit') as Promise<[number | null]> };
    };
    // one SIGTERM: dpkg is not cut short; the job ends as it would have, the run stops after it
    const [first] = server.fleet.jobs.create([chrootId], {
      kind: 'install',
      params: { packages: ['aptgate-slow'] },
      origin: 'test',
    });
    const [second] = server.fleet.jobs.create([chrootId], { kind: 'update', origin: 'test' });
    const a = await runUntilStarted();
    a.child.kill('SIGTERM');
    await waitFor(
      () => a.err.text.includes('SIGTERM: stopping after the running job'),
      'the agent says it stops after the job',
    );
    await writeFile(go, '');
    const [codeA] = await a.exit;
    assert.equal(codeA, 0, a.err.text);
    assert.equal(server.fleet.jobs.byId(first!)!.state, 'succeeded');
    assert.equal(server.fleet.jobs.byId(second!)!.state, 'queued', 'no further job started');
    assert.equal(await statusOf('aptgate-slow'), '1.0-1 install ok installed');
    await assertCleanedUp();
    assert.equal((await job(chrootId, 'remove', { packages: ['aptgate-slow'] })).state, 'succeeded');
    assert.equal(server.fleet.jobs.byId(second!)!.state, 'succeeded');

    // twice: the running job is aborted, and still cleaned up
    const [id] = server.fleet.jobs.create([chrootId], {
      kind: 'install',
      params: { packages: ['aptgate-slow'] },
      origin: 'test',
    });
    const b = await runUntilStarted();
    b.child.kill('SIGTERM');
    await waitFor(() => b.err.text.includes('SIGTERM: stopping after the running job'), 'the first signal is taken');
    b.child.kill('SIGTERM');
    const [codeB] = await b.exit;
    assert.notEqual(codeB, 0);
    assert.match(b.err.text, /SIGTERM again: aborting the running job/);
    await assertCleanedUp();
    const j = server.fleet.jobs.byId(id!)!;
    assert.equal(j.state, 'failed', "the aborted job's result reached the server");
    assert.match(j.summary!, /^aborted/);
    await writeFile(go, ''); // when dpkg configures it again, the postinst finishes
    // somebody else's mounts (ltsp-chroot -m, an administrator): the job does not touch them
    await exec('mount', ['-t', 'proc', 'proc', path.join(chroot, 'proc')]);
    const inUse = await job(chrootId, 'install', { packages: ['aptgate-slow'] });
    assert.equal(inUse.state, 'failed');
    assert.match(
      inUse.summary!,
      /^the chroot is in use: .*\/proc is mounted by someone else .*run the job again once they are gone$/,
    );
    assert.deepEqual(await mountsUnder(chroot), [path.join(chroot, 'proc')], 'left as it was');
    // a killed agent (SIGKILL: no clean-up) leaves its mounts and its marker: the next job takes them down
    const gone = spawn('true');
    await once(gone, 'exit');
    await writeFile(
      path.join(agent.stateDir, 'chroots/amd64/mounted.json'),
      JSON.stringify({ pid: gone.pid, at: new Date().toISOString() }),
    );
    // ... unless something runs inside (an administrator's shell): never ended by the agent
    const shell = spawn('chroot', [chroot, '/bin/sleep', '600'], { stdio: 'ignore' });
    await waitFor(async () => (await processesIn(chroot)).includes(shell.pid!), 'the shell runs inside the chroot');
    const busy = await job(chrootId, 'install', { packages: ['aptgate-slow'] });
    assert.equal(busy.state, 'failed');
    assert.match(busy.summary!, new RegExp(`^the chroot is in use: processes ${shell.pid} run inside it`));
    assert.equal(shell.exitCode, null, 'still running');
    assert.deepEqual(await mountsUnder(chroot), [path.join(chroot, 'proc')]);
    shell.kill('SIGKILL');
    await once(shell, 'exit');
    // configured again, it completes; the killed agent's mounts went first, at the chroot's turn
    const [againId] = server.fleet.jobs.create([chrootId], {
      kind: 'install',
      params: { packages: ['aptgate-slow'] },
      origin: 'test',
    });
    const run = await agent.run(['run-once'], env);
    assert.equal(run.code, 0, run.stderr);
    assert.match(
      run.stderr,
      new RegExp(`chroot amd64: mounts left by agent process ${gone.pid} \\(gone\\) since .*: taking them down`),
    );
    const again = server.fleet.jobs.byId(againId!)!;
    assert.equal(again.state, 'succeeded', again.transcript ?? '');
    await assertCleanedUp();
    await assert.rejects(readFile(path.join(agent.stateDir, 'chroots/amd64/mounted.json')), { code: 'ENOENT' });
  });

  it("waits while something (ltsp image) holds the chroot's dpkg lock, and mounts nothing meanwhile", async () => {
    const lock = path.join(chroot, 'var/lib/dpkg/lock');
    const holder = spawn(
      'perl',
      [
        '-e',
        'use Fcntl; open(my $f, "+<", $ARGV[0]) or die; my $l = pack("s s l l l", F_WRLCK, 0, 0, 0, 0); fcntl($f, F_SETLKW, $l) or die "$!"; $| = 1; print "locked\\n"; sleep 600',
        lock,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      await new Promise<void>((resolve, reject) => {
        holder.stdout.on('data', (d: Buffer) => d.toString().includes('locked') && resolve());
        holder.on('exit', () => reject(new Error('perl exited')));
      });
      const j = await job(chrootId, 'install', { packages: ['aptgate-demo'] }, { lockTimeout: 1 });
      assert.equal(j.state, 'failed');
      assert.equal(j.failure, 'dpkg-lock');
      assert.match(j.summary!, new RegExp(`dpkg lock is held by perl -e .* \\(pid ${holder.pid}\\)`));
      assert.doesNotMatch(j.transcript!, /\$ mount/);
    } finally {
      holder.kill('SIGKILL');
    }
    await assertCleanedUp();
  });

  it('moves the host, then its chroots, to the next release in one job, stopping at the first failure', async () => {
    // the next release holds only the test's packages: the host's test root has no essential
    // packages for dist-upgrade to add, and the chroot's minbase stays as it is
    await world.repo.publish('trixie', [demo3, probe, kernel, broken, slow], { architectures: ['amd64', 'i386'] });
    // the host's root has no os-release yet: its release is unknown, so nothing moves
    const first = await job(hostId, 'release-upgrade', { codename: 'trixie' });
    assert.equal(first.state, 'failed');
    assert.match(
      first.summary!,
      /^stopped at host; host: failed \(other\): release-upgrade: the running release is unknown.*; chroot amd64: not attempted; chroot arm64: not attempted; chroot i386: not attempted$/,
    );
    assert.match(await readFile(path.join(chroot, 'etc/apt/sources.list'), 'utf8'), / bookworm main/);

    await writeFile(path.join(agent.root.root, 'etc/os-release'), 'ID=debian\nVERSION_CODENAME=bookworm\n');
    // from the administrator's command line, for the whole class: the host's job covers its chroot
    const added = JSON.parse(
      await aptgate('jobs', 'add', 'release-upgrade', '--to', 'ltsp', '--codename', 'trixie', '--json'),
    ) as { jobs: Array<{ id: number; machine: { hostname: string } }> };
    assert.deepEqual(
      added.jobs.map((x) => x.machine.hostname),
      ['ltsp1'],
    );
    await assert.rejects(aptgate('jobs', 'add', 'upgrade', '--to', 'ltsp', '--codename', 'trixie'), (e) =>
      isAptgateError(e, 'USAGE'),
    );
    await assert.rejects(aptgate('jobs', 'add', 'image-revert', '--to', 'ltsp1'), (e) => isAptgateError(e, 'USAGE'));
    await runOnce();
    const j = server.fleet.jobs.byId(added.jobs[0]!.id)!;
    assert.equal(j.state, 'succeeded', j.transcript ?? '');
    assert.match(
      j.summary!,
      /^host: release-upgrade bookworm -> trixie: .*; chroot amd64: release-upgrade bookworm -> trixie: 1 upgraded, .*; chroot arm64: skipped \(unsupported: .*\); chroot i386: release-upgrade bookworm -> trixie: 0 upgraded, .*$/,
    );
    assert.equal(
      await readFile(path.join(chroot386, 'etc/apt/sources.list'), 'utf8'),
      `deb http://${CHROOT_ALIAS} trixie main\n`,
    );
    assert.match(await readFile(agent.root.sourcesFile, 'utf8'), /^Suites: trixie$/m);
    assert.equal(
      await readFile(path.join(chroot, 'etc/apt/sources.list'), 'utf8'),
      `deb http://${CHROOT_ALIAS} trixie main\n`,
    );
    assert.equal(await statusOf('aptgate-demo'), '3.0-1 install ok installed');
    assert.match(j.transcript!, /## host\n[\s\S]*## chroot amd64\n[\s\S]*## chroot arm64\n# skipped/);
    await assertCleanedUp();
    // the new release reaches the server with the next report (class rules and stage sources follow it)
    await writeFile(path.join(agent.root.root, 'etc/os-release'), 'ID=debian\nVERSION_CODENAME=trixie\n');
    await runOnce();
    assert.equal(server.fleet.machines.byId(hostId)!.codename, 'trixie');
  });

  it("applies the release gate to a chroot as to a host: its stage's sources inside it, verified with the server's key", async () => {
    await server.proxy.indexer.idle();
    await server.gate.idle();
    server.fleet.classes.bindStage('ltsp', 'test', false, server.config.gate.stages);
    const r = await runOnce();
    const ch = r.chroots.find((c) => c.name === 'amd64')!;
    const written = (ch.result as { sources?: string } | undefined)?.sources;
    assert.ok(written, 'the stage sources were written in this run');
    const text = await readFile(path.join(chroot, 'etc/apt/sources.list.d/aptgate.sources'), 'utf8');
    assert.match(text, new RegExp(`^URIs: ${server.url}/stage/test/debian$`, 'm'));
    assert.match(text, /^Suites: bookworm$/m, "the stage of the chroot's own release");
    assert.match(
      text,
      /^Signed-By: \/etc\/apt\/keyrings\/aptgate\.asc$/m,
      "the key's path as apt inside the chroot sees it",
    );
    assert.match(
      await readFile(path.join(chroot, 'etc/apt/keyrings/aptgate.asc'), 'utf8'),
      /BEGIN PGP PUBLIC KEY BLOCK/,
    );
    // kept only when apt-get update inside the chroot verified the stage's InRelease
    assert.equal(new AgentState(path.join(agent.stateDir, 'chroots/amd64')).sourcesHash(), written);
    await assertCleanedUp();
  });

  it('enrols a chroot again through its host when the server forgot it', async () => {
    assert.match(await aptgate('machines', 'remove', 'ltsp1/amd64'), /ltsp1\/amd64 \(machine \d+\): removed/);
    assert.equal(server.fleet.machines.byId(chrootId), undefined);
    const r = await runOnce();
    const again = r.chroots.find((c) => c.name === 'amd64')!;
    assert.equal(again.error, undefined);
    assert.ok(again.machine, 'enrolled again');
    assert.equal(again.result?.reported, 'hash', 'its packages are known to the server (the same set as before)');
    assert.ok(server.fleet.machines.report(again.machine));
    const m = server.fleet.machines.byId(again.machine)!;
    assert.equal(m.parentId, hostId);
    assert.equal(m.hostname, 'ltsp1/amd64');
    await assertCleanedUp();
  });
});
