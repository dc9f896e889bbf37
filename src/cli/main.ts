#!/usr/bin/env node
// The `aptgate` executable.
import { runCli } from './program.js';

const code = await runCli(process.argv);
if (code !== 0) process.exitCode = code;
