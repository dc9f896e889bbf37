#!/usr/bin/env node
// aptgate-agent entry point.
import { runAgentCli } from './cli.js';

// a terminal or ssh session that went away (SIGHUP, a closed pipe) must not end a run in the
// middle of a job: what cannot be written is dropped
process.stdout.on('error', () => undefined);
process.stderr.on('error', () => undefined);

process.exitCode = await runAgentCli(process.argv);
