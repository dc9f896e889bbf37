#!/usr/bin/env node
// aptgate-agent entry point.
import { runAgentCli } from './cli.js';

process.exitCode = await runAgentCli(process.argv);
