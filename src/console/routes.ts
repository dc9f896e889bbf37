// consoleRoutes(app, opts): the web console's files (index.html, CSS, ES modules: console/ at the
// project's root, /usr/lib/aptgate/console when packaged) under /console/, with their security
// headers (headers.ts). Only files are served here: every datum the console shows comes from
// /api/v1. Files are revalidated on every load (ETag, 304): their names carry no version, so a
// cached copy could pair a new index.html with old modules after an upgrade.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';
import { fail } from '../errors.js';
import { registerSecurityHeaders } from './headers.js';

/** The console's files: dist/src/console/ → ../../../console (the same from the package's /usr/lib/aptgate). */
export const CONSOLE_DIR = fileURLToPath(new URL('../../../console/', import.meta.url));

export const CONSOLE_PREFIX = '/console/';

export interface ConsoleOptions {
  /** the listener speaks HTTPS (HSTS) */
  tls: boolean;
  /** GET / redirects to the console (a listener of the console and the API alone, not apt's) */
  redirectRoot?: boolean;
  /** another directory of files (tests) */
  dir?: string;
}

/** The directory of the console's files; CONFIG_INVALID when it holds no index.html. */
export function consoleDir(dir = CONSOLE_DIR): string {
  if (!existsSync(path.join(dir, 'index.html')))
    fail(
      'CONFIG_INVALID',
      `admin.console is on but the console's files are missing (no ${path.join(dir, 'index.html')}): reinstall aptgate, or set admin.console = false`,
      { key: 'admin.console' },
    );
  return dir;
}

export async function consoleRoutes(app: FastifyInstance, opts: ConsoleOptions): Promise<void> {
  const root = consoleDir(opts.dir);
  await app.register(async (scope) => {
    await registerSecurityHeaders(scope, { tls: opts.tls });
    await scope.register(fastifyStatic, {
      root,
      // without its slash: the plugin then also answers /console, with a redirect to /console/
      prefix: CONSOLE_PREFIX.slice(0, -1),
      redirect: true,
      index: ['index.html'],
      decorateReply: false,
      dotfiles: 'ignore',
      serveDotFiles: false,
      cacheControl: false,
      etag: true,
      lastModified: true,
      setHeaders: (res) => {
        res.setHeader('Cache-Control', 'no-cache');
      },
    });
    if (opts.redirectRoot) scope.get('/', async (_req, reply) => reply.redirect(CONSOLE_PREFIX, 302));
  });
}
