// A real aptgate-agent for tests: its own state directory, machine id, configuration file and
// a separate root (helpers/root.ts) for apt and dpkg; run through the real CLI process.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { AgentState } from '../../src/agent/identity.js';
import { exec } from './exec.js';
import { projectRoot } from './paths.js';
import { createTestRoot, type TestRoot, type TestRootOptions } from './root.js';

// .ci/run runs the agent tests a second time on Debian's own nodejs (bookworm: 18), the runtime
// the agent package depends on, extracted from its .debs
const AGENT_NODE = process.env['APTGATE_TEST_AGENT_NODE'] || process.execPath;
const AGENT_LIBS = process.env['APTGATE_TEST_AGENT_LIBS'] ?? '';

export interface TestAgent {
  dir: string;
  root: TestRoot;
  configFile: string;
  machineId: string;
  stateDir: string;
  state: AgentState;
  /** rewrites the configuration (another server URL, another machine id file, ...) */
  configure(o: { server: string; machineIdFile?: string; extra?: string[] }): Promise<void>;
  /** runs the agent CLI; `env` is added to the environment (e.g. PATH with a stub ltsp) */
  run(args: string[], env?: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }>;
  /** run, and fail with the output when the exit code is not 0 */
  runOk(args: string[], env?: NodeJS.ProcessEnv): Promise<string>;
  /** starts the agent CLI and returns the process (to signal it) */
  start(args: string[], env?: NodeJS.ProcessEnv): ChildProcess;
}

export async function createAgent(
  dir: string,
  server: string,
  opts: TestRootOptions & { hostname?: string; machineId?: string } = {},
): Promise<TestAgent> {
  await mkdir(dir, { recursive: true });
  const root = await createTestRoot(path.join(dir, 'sys'), opts);
  const machineId = opts.machineId ?? randomBytes(16).toString('hex');
  const machineIdFile = path.join(dir, 'machine-id');
  await writeFile(machineIdFile, machineId + '\n');
  const stateDir = path.join(dir, 'state');
  const configFile = path.join(dir, 'agent.conf');
  const hostname = opts.hostname ?? `host-${machineId.slice(0, 6)}`;
  const agentEnv = (env: NodeJS.ProcessEnv): NodeJS.ProcessEnv => ({
    ...process.env,
    APTGATE_AGENT_CONFIG: configFile,
    ...(AGENT_LIBS ? { LD_LIBRARY_PATH: AGENT_LIBS } : {}),
    ...env,
  });
  const agent: TestAgent = {
    dir,
    root,
    configFile,
    machineId,
    stateDir,
    state: new AgentState(stateDir),
    async configure(o) {
      await writeFile(
        configFile,
        [
          `server = ${o.server}`,
          `state_dir = ${stateDir}`,
          `root = ${root.root}`,
          `apt_config = ${root.configFile}`,
          ...root.target.dpkgOptions.map((d) => `dpkg_option = ${d}`),
          `machine_id_file = ${o.machineIdFile ?? machineIdFile}`,
          // this machine's own /opt/ltsp or /srv/ltsp are not the test's business (LTSP tests say yes)
          `hostname = ${hostname}`,
          'timeout = 30',
          'manage_chroots = no',
          ...(o.extra ?? []),
          '',
        ].join('\n'),
      );
    },
    async run(args, env = {}) {
      const r = await exec(AGENT_NODE, [path.join(projectRoot, 'dist/src/agent/main.js'), ...args], {
        env: agentEnv(env),
        timeoutMs: 300_000,
      });
      return { code: r.code, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
    },
    start(args, env = {}) {
      return spawn(AGENT_NODE, [path.join(projectRoot, 'dist/src/agent/main.js'), ...args], {
        env: agentEnv(env),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    },
    async runOk(args, env) {
      const r = await agent.run(args, env);
      if (r.code !== 0) throw new Error(`aptgate-agent ${args.join(' ')} exited ${r.code}:\n${r.stderr}${r.stdout}`);
      return r.stdout;
    },
  };
  await agent.configure({ server });
  return agent;
}
