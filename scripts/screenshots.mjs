// `npm run screenshots`: the web console's main pages at 1366×768 from a small real test fleet,
// into docs/screenshots/*.png (the README shows them). Not part of `npm test`: it writes into the
// repository. Needs what the browser tests need (chromium, apt, dpkg-deb, gpg: `node
// scripts/debian-packages.mjs test`) and a build (the npm script runs tsc first).
import { statSync } from 'node:fs';
import { takeScreenshots } from '../dist/test/helpers/screenshots.js';

const out = new URL('../docs/screenshots/', import.meta.url).pathname;
const files = await takeScreenshots(out, (line) => console.log(line));
for (const f of files) console.log(`${f}: ${Math.round(statSync(f).size / 1024)} KiB`);
