// Server entry: config → state → buildApp → listen; SIGINT/SIGTERM close cleanly.
import { once } from 'node:events';
import { closeSync, openSync, statSync } from 'node:fs';
import type { Server } from 'node:http';
import { buildApp } from './app.js';
import type { Config } from './config.js';
import { fail } from './errors.js';
import { logFormatOf, loggerOptions } from './log-human.js';
import { createMetricsServer } from './proxy/metrics-listener.js';
import { openDb } from './state/db.js';

export interface Running {
  close(): Promise<void>;
  address: string;
  port: number;
  /** the port of server.metrics_listen, when set */
  metricsPort?: number;
}

/** What can be checked before anything is created: every backend's keyrings can be read. */
export function preflight(config: Config): void {
  for (const b of config.backends.values()) {
    for (const k of b.keyrings) {
      try {
        if (!statSync(k).isFile()) throw Object.assign(new Error('not a file'), { code: 'EISDIR' });
        closeSync(openSync(k, 'r'));
      } catch (err) {
        fail('CONFIG_INVALID', `backend.${b.name}.keyring: ${k} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): nothing it signs could be verified; name a readable keyring${k.startsWith('/usr/share/keyrings/debian-') ? ' or install the debian-archive-keyring package' : ''}`, { key: `backend.${b.name}.keyring` });
      }
    }
  }
}

export async function startServer(config: Config): Promise<Running> {
  preflight(config);
  const db = openDb(config.db);
  const tty = process.stdout.isTTY === true;
  const logger = loggerOptions(config.logLevel, logFormatOf(config.logFormat, tty), tty);
  const { app, gate, proxy, allow } = await buildApp({ config, db, dbFile: config.db, logger });
  // the release gate's signing key exists from the first start on (aptgate key export)
  gate.prepareKey().then(
    (fingerprint) => app.log.info({ fingerprint }, 'signing key ready'),
    (err: Error) => app.log.error({ err: err.message }, 'signing key could not be prepared'),
  );
  let address: string;
  try {
    address = await app.listen({ host: config.listen, port: config.port });
  } catch (err) {
    // hosts without IPv6 cannot bind "::"; fall back to every IPv4 address
    if (config.listen === '::' && ['EAFNOSUPPORT', 'EADDRNOTAVAIL'].includes((err as { code?: string }).code ?? '')) {
      address = await app.listen({ host: '0.0.0.0', port: config.port });
    } else {
      await app.close();
      db.close();
      throw err;
    }
  }
  const port = (app.server.address() as { port: number }).port;
  let metrics: Server | undefined;
  if (config.metricsListen) {
    const m = config.metricsListen;
    metrics = createMetricsServer(() => proxy.registry.render(), allow, app.log);
    try {
      metrics.listen(m.port, m.host);
      await once(metrics, 'listening');
    } catch (err) {
      await app.close();
      db.close();
      throw err;
    }
    const a = metrics.address() as { address: string; port: number };
    app.log.info({ address: a.address, port: a.port }, `metrics listening at http://${a.address.includes(':') ? `[${a.address}]` : a.address}:${a.port}/-/metrics`);
  }
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      if (metrics) {
        metrics.closeAllConnections();
        await new Promise((r) => metrics!.close(r));
      }
      await app.close();
      db.close();
    })();
    return closing;
  };
  const onSignal = (sig: NodeJS.Signals) => {
    app.log.info({ signal: sig }, 'shutting down');
    void close().then(() => process.exit(0));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return { close, address, port, ...(metrics ? { metricsPort: (metrics.address() as { port: number }).port } : {}) };
}
