#!/usr/bin/env node
// Bundles aptgate-agent into ONE self-contained script for the aptgate-agent Debian package:
// the compiled agent (dist/src/agent) with commander and xmlrpc (sax, xmlbuilder), CommonJS,
// syntax for Node 18 (Debian bookworm's own nodejs), `#!/usr/bin/node`, no native module.
//
//   node packaging/bundle-agent.mjs [ROOT] [OUT]
//     ROOT: a tree with dist/ (after tsc) and node_modules/ (default: the checkout)
//     OUT:  the script to write (default: ROOT/dist-agent/aptgate-agent), in a directory of its
//           own: a package.json saying "type": "commonjs" is written next to it
//
// CommonJS, not ESM: /usr/bin/aptgate-agent has no .mjs extension and no package.json next to
// it, and Node 18 runs such a file as CommonJS. So the entry is a small wrapper without
// top-level await, and the codec's createRequire(import.meta.url) (meaningless in a bundle) is
// turned into the bundle's own require, which esbuild resolves at build time.
import { build } from 'esbuild';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readFile } from 'node:fs/promises';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(process.argv[2] ?? path.join(here, '..'));
const out = path.resolve(process.argv[3] ?? path.join(root, 'dist-agent', 'aptgate-agent'));
const cli = path.join(root, 'dist', 'src', 'agent', 'cli.js');

const CREATE_REQUIRE = 'const require = createRequire(import.meta.url);';

/** codec.js: use the bundle's require (resolved and inlined by esbuild) instead of createRequire. */
const bundleRequire = {
  name: 'bundle-require',
  setup(b) {
    b.onLoad({ filter: /[\\/]dist[\\/]src[\\/]protocol[\\/]codec\.js$/ }, async (args) => {
      const text = await readFile(args.path, 'utf8');
      if (!text.includes(CREATE_REQUIRE)) throw new Error(`${args.path}: expected "${CREATE_REQUIRE}" (update packaging/bundle-agent.mjs)`);
      return { contents: text.replace(CREATE_REQUIRE, ''), loader: 'js' };
    });
  },
};

mkdirSync(path.dirname(out), { recursive: true });
const result = await build({
  stdin: {
    contents: `import { runAgentCli } from ${JSON.stringify(cli)};\n` +
      'runAgentCli(process.argv).then((code) => { process.exitCode = code; });\n',
    resolveDir: root,
    sourcefile: 'aptgate-agent-entry.js',
    loader: 'js',
  },
  bundle: true,
  platform: 'node',
  target: 'node18',
  format: 'cjs',
  outfile: out,
  banner: { js: '#!/usr/bin/node\n// aptgate-agent: one bundled file (aptgate, commander, xmlrpc, sax, xmlbuilder; see /usr/share/doc/aptgate-agent/copyright)' },
  legalComments: 'inline',
  minify: false,
  logLevel: 'warning',
  metafile: true,
  plugins: [bundleRequire],
});

// nothing may be left to load at run time but Node's own modules
const inputs = Object.keys(result.metafile.inputs);
const unresolved = Object.values(result.metafile.outputs).flatMap((o) => o.imports).filter((i) => i.external && !/^node:|^[a-z_]+$/.test(i.path));
if (unresolved.length) throw new Error(`the agent bundle still imports ${unresolved.map((i) => i.path).join(', ')}`);
const bad = inputs.filter((i) => /better-sqlite3|fastify|undici|\.node$/.test(i));
if (bad.length) throw new Error(`the agent bundle must not contain server modules: ${bad.join(', ')}`);
chmodSync(out, 0o755);
// so the script runs as CommonJS where it is written too (as in /usr/bin, where no package.json
// says otherwise), even inside this project whose package.json says "type": "module"
writeFileSync(path.join(path.dirname(out), 'package.json'), '{ "type": "commonjs" }\n');
process.stdout.write(`aptgate-agent bundled: ${out} (${inputs.length} modules)\n`);
