// The `aptgate-agent` command line: enrol, run-once, status. Logs go to stderr (the journal
// under systemd); --json prints machine-readable results on stdout.
import { Argument, Command } from 'commander';
import { completionScript, SHELLS, type Shell } from '../term/completion.js';
import { errorLine, exitStatusOf } from '../term/exit-status.js';
import { fail } from '../errors.js';
import { reenrolProof, type ReenrolProof } from '../protocol/identity-proof.js';
import { PROTOCOL_VERSION } from '../protocol/faults.js';
import { VERSION } from '../version.js';
import { RpcClient, ServerFault } from './client.js';
import { collectState } from './collect.js';
import { DEFAULT_CONFIG_FILE, loadAgentConfig, targetOf, type AgentConfig } from './config.js';
import { runCycle } from './cycle.js';
import { serverExposures, exposuresLine } from './exposures.js';
import { collectFacts, readMachineId } from './facts.js';
import { AgentState } from './identity.js';
import { acquireRunLock } from './lock.js';
import { installStageSources } from './stage-sources.js';
import { chrootStatuses, hostExecutor, registerChrootCommands, runChroots } from './cli-chroots.js';

function log(msg: string): void {
  process.stderr.write(`aptgate-agent: ${msg}\n`);
}

function stateOf(c: AgentConfig): { state: AgentState; identity: NonNullable<ReturnType<AgentState['identity']>> } {
  const state = new AgentState(c.stateDir);
  const identity = state.identity();
  if (!identity)
    fail('USAGE', `not enrolled (no identity in ${c.stateDir}): run aptgate-agent enrol --server URL --token TOKEN`);
  return { state, identity };
}

export function buildAgentProgram(out: (s: string) => void = (s) => process.stdout.write(s)): Command {
  const program = new Command('aptgate-agent')
    .description('reports this machine to an aptgate server and runs the jobs it is given')
    .version(VERSION)
    .option(
      '-c, --config <file>',
      'configuration file (default /etc/aptgate-agent/agent.conf; env APTGATE_AGENT_CONFIG)',
    )
    .showHelpAfterError();
  const config = () => loadAgentConfig(program.opts<{ config?: string }>().config);
  // the file config() reads: named when the server URL there needs changing
  const configFile = () =>
    program.opts<{ config?: string }>().config ?? process.env['APTGATE_AGENT_CONFIG'] ?? DEFAULT_CONFIG_FILE;

  program
    .command('enrol')
    // the spelling of earlier releases: scripts that run it keep working
    .alias('enroll')
    .description('enrol this machine with a token from `aptgate token create`')
    .requiredOption('--token <token>', 'the enrolment token')
    .option(
      '--server <url>',
      'the aptgate server, e.g. http://aptgate.example:3142 (default: server in the configuration)',
    )
    .option('--json', 'machine-readable output')
    .action(async (o: { token: string; server?: string; json?: boolean }) => {
      const c = config();
      const server = (o.server ?? c.server).replace(/\/$/, '');
      if (!/^https?:\/\/[^\s/]+$/.test(server)) fail('USAGE', '--server must be http(s)://host[:port]');
      const target = targetOf(c);
      const facts = await collectFacts(target, {
        machineId: await readMachineId(c.machineIdFile),
        hostname: c.hostname,
      });
      const places = {
        server: o.server !== undefined ? '--server' : `server = of ${configFile()} (or --server)`,
        configFile: configFile(),
      };
      const client = new RpcClient({ server, caFile: c.caFile, timeoutS: c.timeoutS, places });
      await client.call('agent.hello', [{ protocol: PROTOCOL_VERSION, agent: `aptgate-agent ${VERSION}` }]);
      const state = new AgentState(c.stateDir);
      // enrolled here before: prove the current secret, so the server renews it without asking
      // the administrator (a token alone never takes an enrolled identity over)
      const before = state.identity();
      let proof: ReenrolProof | undefined;
      if (before && before.server === server && before.machineId === facts.machineId) {
        const ts = Math.max(Date.now(), state.lastTimestamp() + 1);
        state.saveTimestamp(ts);
        proof = reenrolProof(before.secret, before.machine, facts.machineId, ts, o.token);
      }
      const r = await client.call<{ machine: number; secret: string; status: string; reenrol?: string; code?: string }>(
        'agent.enroll',
        [{ token: o.token, facts, ...(proof ? { proof } : {}) }],
      );
      const identity = { server, machine: r.machine, secret: r.secret, machineId: facts.machineId };
      // that answer could not be signed (no secret yet): a signed call, whose answer is signed
      // with the new secret, shows it came from the server before it is kept
      const signed = new RpcClient({ server, caFile: c.caFile, timeoutS: c.timeoutS, places }, { identity, state });
      await signed
        .call('agent.hello', [{ protocol: PROTOCOL_VERSION, agent: `aptgate-agent ${VERSION}` }])
        .catch((err: Error) => {
          // a re-enrolment that waits for approval is answered MACHINE_PENDING, signed with the new secret
          if (err instanceof ServerFault && err.signed && err.code === 'MACHINE_PENDING' && r.reenrol === 'pending')
            return;
          fail(
            'AGENT_UNTRUSTED_ANSWER',
            `enrolment not confirmed by a signed call with the new identity (${err.message}); the answer may have been changed on the way: enrol over https or from a trusted network`,
          );
        });
      state.saveIdentity(identity);
      // an approved machine behind the release gate gets its stage's sources and the server's key now
      if (r.status === 'approved') await installStageSources(signed, facts.machineId, target, state, log);
      if (o.json)
        out(
          JSON.stringify({
            machine: r.machine,
            status: r.status,
            server,
            reenrol: r.reenrol ?? '',
            code: r.code ?? '',
          }) + '\n',
        );
      else if (r.reenrol === 'pending') {
        out(
          `enrolled again as machine ${r.machine} on ${server}: this machine-id was enrolled already, so the new credential waits for the administrator: aptgate machines approve ${r.machine} (re-enrolment code ${r.code})\n`,
        );
      } else
        out(
          `enrolled as machine ${r.machine} on ${server}: ${r.status === 'pending' ? 'waiting for approval (aptgate machines approve)' : 'approved'}\n`,
        );
    });

  program
    .command('run-once')
    .description('check in, report if the state changed, run waiting jobs')
    .option('--json', 'machine-readable output')
    .option('--random-delay <seconds>', "wait a random time up to this long first (cron: spreads a fleet's runs)")
    .action(async (o: { json?: boolean; randomDelay?: string }) => {
      const c = config();
      if (o.randomDelay !== undefined) {
        if (!/^\d{1,5}$/.test(o.randomDelay)) fail('USAGE', '--random-delay is a number of seconds');
        await new Promise((r) => setTimeout(r, Math.random() * Number(o.randomDelay) * 1000));
      }
      const { state, identity } = stateOf(c);
      state.ensureDir();
      const release = acquireRunLock(c.stateDir);
      // a stop request (SIGTERM, SIGINT, SIGHUP) lets the running job finish, apt and dpkg are
      // not cut short, and starts no other; SIGTERM or SIGINT again aborts the running job (its
      // process group gets SIGTERM, then SIGKILL) and still cleans up (a chroot's mounts)
      const stop = new AbortController();
      const abort = new AbortController();
      const onSignal = (sig: NodeJS.Signals) => {
        if (stop.signal.aborted && sig !== 'SIGHUP') {
          log(`${sig} again: aborting the running job`);
          abort.abort();
        } else if (!stop.signal.aborted) {
          log(`${sig}: stopping after the running job (${sig === 'SIGHUP' ? 'SIGTERM' : sig} again aborts it)`);
          stop.abort();
        }
      };
      process.on('SIGTERM', onSignal).on('SIGINT', onSignal).on('SIGHUP', onSignal);
      try {
        const server = c.server || identity.server;
        // without server = the agent uses the URL it enrolled with: setting server = overrides it
        const places = {
          server: `server = of ${configFile()}${c.server ? '' : ' (unset now: the URL given at enrolment is used)'}`,
          configFile: configFile(),
        };
        const client = new RpcClient({ server, caFile: c.caFile, timeoutS: c.timeoutS, places }, { identity, state });
        const machineId = await readMachineId(c.machineIdFile);
        const target = targetOf(c);
        const opts = { rebootCommand: c.rebootCommand, signal: abort.signal, stop: stop.signal };
        const r = await runCycle({
          client,
          identity,
          machineId,
          state,
          target,
          rebootCommand: c.rebootCommand,
          log,
          stop: stop.signal,
          abort: abort.signal,
          aptProxy: { server },
          execute: hostExecutor(c, server, target, log, opts),
        });
        const chroots =
          r.status === 'approved' && !stop.signal.aborted
            ? await runChroots({ config: c, identity, client, machineId, log, stop: stop.signal, abort: abort.signal })
            : [];
        if (o.json) out(JSON.stringify({ ...r, chroots }) + '\n');
        else {
          out(`${r.status}; report: ${r.reported}; jobs: ${jobsText(r.jobs)}\n`);
          for (const ch of chroots)
            out(
              `chroot ${ch.name}: ${ch.skipped ? `left alone: ${ch.skipped}` : ch.error ? `error: ${ch.error}` : `machine ${ch.machine}; ${ch.result!.status}; report: ${ch.result!.reported}; jobs: ${jobsText(ch.result!.jobs)}`}\n`,
            );
        }
        if (abort.signal.aborted)
          fail('AGENT_INTERRUPTED', 'stopped by a signal; the running job was aborted and cleaned up');
        if (stop.signal.aborted) log('stopped by a signal after the running job; waiting jobs run next time');
      } finally {
        process.off('SIGTERM', onSignal).off('SIGINT', onSignal).off('SIGHUP', onSignal);
        release();
      }
    });

  program
    .command('status')
    .description('updates and security updates as apt sees them, for this host and each LTSP chroot (like apt-check)')
    .option('--json', 'machine-readable output')
    .action(async (o: { json?: boolean }) => {
      const c = config();
      const identity = new AgentState(c.stateDir).identity();
      const s = await collectState(targetOf(c));
      const up = s.extras.aptUpgradable;
      const security = up.filter((u) => u.security).length;
      const chroots = await chrootStatuses(c, log);
      const state = new AgentState(c.stateDir);
      const server = await serverExposures(c, identity, state, {
        server: `server = of ${configFile()}`,
        configFile: configFile(),
      });
      const r = {
        enrolled: identity ? { server: identity.server, machine: identity.machine } : null,
        updates: up.length,
        security,
        packages: up,
        rebootRequired: s.extras.reboot.required,
        holds: s.extras.holds,
        dpkgInterrupted: s.extras.dpkg.interrupted,
        chroots,
        // what the server finds this machine exposed to (null: not enrolled or not reached; exposuresError says why)
        exposures: server.exposures,
        exposuresError: server.why,
      };
      if (o.json) out(JSON.stringify(r, null, 2) + '\n');
      else {
        const line = [
          `host: ${updatesText(up.length, security)}`,
          ...chroots.map(
            (ch) =>
              `chroot ${ch.name}: ${ch.updates === null ? `unknown (${ch.skipped ?? ''})` : updatesText(ch.updates, ch.security ?? 0)}`,
          ),
        ];
        out(
          `${line.join('; ')}${r.rebootRequired ? '; reboot required' : ''}${r.dpkgInterrupted ? '; dpkg was interrupted' : ''}\n`,
        );
        for (const u of up)
          out(`  ${u.package}:${u.architecture} ${u.installed} -> ${u.candidate}${u.security ? ' [security]' : ''}\n`);
        if (r.holds.length) out(`held: ${r.holds.join(' ')}\n`);
        if (identity) out(`${exposuresLine(server)}\n`);
        out(identity ? `enrolled as machine ${identity.machine} on ${identity.server}\n` : 'not enrolled\n');
      }
    });
  registerChrootCommands(program, config, out);
  program
    .command('completion')
    .description(
      'print the shell completion script (bash: source <(aptgate-agent completion bash); the Debian package installs both)',
    )
    .addArgument(new Argument('<shell>', 'bash or zsh').choices(SHELLS))
    .action((shell: Shell) => out(completionScript(program, shell)));
  return program;
}

/** "12 updates (3 security)", as apt-check counts them */
function updatesText(n: number, security: number): string {
  return `${n} update${n === 1 ? '' : 's'} (${security} security)`;
}

function jobsText(jobs: Array<{ id: number; kind: string; failure: string | undefined }>): string {
  return jobs.length ? jobs.map((j) => `${j.id} ${j.kind} ${j.failure ?? 'ok'}`).join(', ') : 'none';
}

export async function runAgentCli(argv: string[]): Promise<number> {
  const program = buildAgentProgram();
  program.exitOverride();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    const e = err as { code?: string; exitCode?: number; message: string };
    if (e.code?.startsWith('commander.'))
      return e.code === 'commander.helpDisplayed' || e.code === 'commander.version' ? 0 : (e.exitCode ?? 2);
    log(err instanceof ServerFault ? `the server refused: ${err.message} (fault ${err.faultCode})` : errorLine(err));
    return exitStatusOf('aptgate-agent', err);
  }
}
