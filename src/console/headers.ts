// The console's security headers, given by @fastify/helmet (its only user): a CSP that allows
// the console's own files and nothing else (no inline script or style, no framing, no plugins,
// requests to this origin only: the console works on an isolated network), no MIME sniffing,
// no Referer, and HSTS only when the server speaks HTTPS (a browser ignores it over HTTP).
import helmet from '@fastify/helmet';
import type { FastifyInstance } from 'fastify';

export const CONSOLE_CSP: Readonly<Record<string, readonly string[]>> = {
  'default-src': ["'none'"],
  'script-src': ["'self'"],
  'style-src': ["'self'"],
  'img-src': ["'self'"],
  'font-src': ["'self'"],
  'connect-src': ["'self'"],
  'form-action': ["'self'"],
  'frame-ancestors': ["'none'"],
  'base-uri': ["'none'"],
  'object-src': ["'none'"],
};

/** Registers the headers on `scope` (an encapsulated plugin: they apply to its routes only). */
export async function registerSecurityHeaders(scope: FastifyInstance, o: { tls: boolean }): Promise<void> {
  await scope.register(helmet, {
    contentSecurityPolicy: {
      // helmet's defaults add upgrade-insecure-requests, which breaks a console served over HTTP
      useDefaults: false,
      directives: Object.fromEntries(Object.entries(CONSOLE_CSP).map(([k, v]) => [k, [...v]])),
    },
    referrerPolicy: { policy: 'no-referrer' },
    frameguard: { action: 'deny' },
    crossOriginOpenerPolicy: { policy: 'same-origin' },
    crossOriginResourcePolicy: { policy: 'same-origin' },
    crossOriginEmbedderPolicy: false,
    strictTransportSecurity: o.tls ? { maxAge: 15_552_000, includeSubDomains: false } : false,
  });
}
