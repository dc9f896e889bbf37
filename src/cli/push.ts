// `aptgate push`: the pull-now flag through the operation push.create (here or on --server), then
// the agent run once over ssh from where the command runs (fleet/push.ts): its ssh, keys and options.
import { type Command } from 'commander';
import { checkPushOptions, push, pushCounts, type PushResult } from '../fleet/push.js';
import type { PushPlan } from '../fleet/queries/push.js';
import { callOperation, type RemoteOpts } from './call.js';
import { formatPush, pushLine } from './fleet-format.js';
import { durationOption, intOption, type CliShell } from './fleet-context.js';

type Json = RemoteOpts;
type Leaf = (parent: Command, spec: string, description: string) => Command;

const collect = (value: string, previous: string[] = []) => [...previous, value];

export function registerPushCommand(program: Command, shell: CliShell, leaf: Leaf): void {
  leaf(program, 'push', 'make machines pull now: set their pull-now flag and run the agent once over ssh')
    .argument('<target...>', 'class names, machine ids or hostnames')
    .option('--no-ssh', 'only set the flag: agents pull at their next check-in')
    .option('--parallel <n>', 'ssh sessions at a time', '10')
    .option('--ssh-command <cmd>', 'ssh program and leading arguments, split on blanks (no shell)', 'ssh')
    .option('--ssh-option <Key=Value>', 'passed to ssh as -o Key=Value (repeatable)', collect)
    .option('--timeout <duration>', 'kill a run that takes longer', '60s')
    .option('--json', 'machine-readable output')
    .action(
      (
        refs: string[],
        o: Json & { ssh: boolean; parallel: string; sshCommand: string; sshOption?: string[]; timeout: string },
      ) => pushCommand(shell, refs, o),
    );
}

async function pushCommand(
  shell: CliShell,
  refs: string[],
  o: Json & { ssh: boolean; parallel: string; sshCommand: string; sshOption?: string[]; timeout: string },
): Promise<void> {
  const opts = {
    sshCommand: o.sshCommand.trim().split(/\s+/).filter(Boolean),
    sshOptions: o.sshOption ?? [],
    parallel: intOption('--parallel', o.parallel, 1, 1000),
    timeoutMs: durationOption('--timeout', o.timeout),
  };
  if (o.ssh) checkPushOptions(opts);
  // the server's part first: who, the flag, and which hosts to reach
  const plan = (await callOperation(shell, o, 'push.create', { targets: refs })) as PushPlan;
  let results: PushResult[] = [];
  if (o.ssh && plan.hosts.length) {
    const tty = process.stderr.isTTY === true;
    const counts = { answered: 0, failed: 0, unreachable: 0 };
    results = await push(plan.hosts, opts, (r, done, total) => {
      counts[r.outcome]++;
      if (tty) {
        const width = 30;
        const filled = Math.round((done / total) * width);
        process.stderr.write(
          `\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}  ${counts.answered} answered, ${counts.failed} failed, ${counts.unreachable} unreachable${done === total ? '\n' : ''}`,
        );
      } else if (!o.json) {
        process.stderr.write(`aptgate: push ${pushLine(r)}\n`);
      }
    });
  }
  const data = { pullNow: plan.pullNow, skipped: plan.skipped, ssh: o.ssh, results, counts: pushCounts(results) };
  shell.out(o.json ? JSON.stringify(data, null, 2) + '\n' : formatPush(data));
}
