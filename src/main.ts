// Server entry: config → state → buildApp → listen; SIGINT/SIGTERM close cleanly.
import { once } from 'node:events';
import type { Server } from 'node:http';
import { buildApp } from './app.js';
import type { Config } from './config.js';
import { keyDir } from './assembly/gate.js';
import { logFormatOf, loggerOptions } from './log-human.js';
import { createMetricsServer } from './proxy/metrics-listener.js';
import { openDb } from './state/db.js';
import { checkKeyrings, checkNotExposed, checkPortFree, createStateDirs, planStateDirs } from './state/prepare.js';

export interface Running {
  close(): Promise<void>;
  address: string;
  port: number;
  /** the port of server.metrics_listen, when set */
  metricsPort?: number;
  /** the port of admin.listen (the API and the console), when set */
  adminPort?: number;
}

/** What can be checked before anything is created; then the state directories (one level each). */
export async function prepareState(config: Config): Promise<void> {
  checkKeyrings(config);
  const plan = planStateDirs(config);
  await checkPortFree(config.listen, config.port);
  if (config.metricsListen)
    await checkPortFree(config.metricsListen.host, config.metricsListen.port, 'server.metrics_listen');
  if (config.admin.listen) await checkPortFree(config.admin.listen.host, config.admin.listen.port, 'admin.listen');
  await checkNotExposed(config, keyDir(config));
  await createStateDirs(plan);
}

export async function startServer(config: Config): Promise<Running> {
  await prepareState(config);
  const db = openDb(config.db);
  const tty = process.stdout.isTTY === true;
  const logger = loggerOptions(config.logLevel, logFormatOf(config.logFormat, tty), tty);
  const { app, gate, proxy, allow, admin } = await buildApp({ config, db, dbFile: config.db, logger });
  // the release gate's signing key exists from the first start on (aptgate key export)
  gate.prepareKey().then(
    (fingerprint) => app.log.info({ fingerprint }, 'signing key ready'),
    (err: Error) => app.log.error({ err: err.message }, 'signing key could not be prepared'),
  );
  let metrics: Server | undefined;
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
  // from here on, not only once listening: a stop during start-up still closes the database and the key
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const stop = async () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await close();
  };
  let address: string;
  try {
    address = await app.listen({ host: config.listen, port: config.port });
  } catch (err) {
    // hosts without IPv6 cannot bind "::"; fall back to every IPv4 address
    if (config.listen === '::' && ['EAFNOSUPPORT', 'EADDRNOTAVAIL'].includes((err as { code?: string }).code ?? '')) {
      address = await app.listen({ host: '0.0.0.0', port: config.port });
    } else {
      await stop();
      throw err;
    }
  }
  const port = (app.server.address() as { port: number }).port;
  // listening first: a mirror that does not answer is reported, it does not delay the start
  void proxy.checkMirrors();
  if (config.metricsListen) {
    const m = config.metricsListen;
    metrics = createMetricsServer(() => proxy.registry.render(), allow, app.log);
    try {
      metrics.listen(m.port, m.host);
      await once(metrics, 'listening');
    } catch (err) {
      await stop();
      throw err;
    }
    const a = metrics.address() as { address: string; port: number };
    app.log.info(
      { address: a.address, port: a.port },
      `metrics listening at http://${a.address.includes(':') ? `[${a.address}]` : a.address}:${a.port}/-/metrics`,
    );
  }
  let adminPort: number | undefined;
  if (admin && config.admin.listen) {
    try {
      await admin.listen({ host: config.admin.listen.host, port: config.admin.listen.port });
    } catch (err) {
      await stop();
      throw err;
    }
    adminPort = (admin.server.address() as { port: number }).port;
    app.log.info({ port: adminPort }, 'API and console listening (admin.listen)');
  }
  if (!config.tls.cert && !loopback(config.admin.listen?.host ?? config.listen))
    app.log.warn(
      'the API and the console are served over plain HTTP beyond this host: their session cookie is not Secure; use TLS (server.tls_cert) or admin.listen on a trusted network',
    );
  return {
    close,
    address,
    port,
    ...(metrics ? { metricsPort: (metrics.address() as { port: number }).port } : {}),
    ...(adminPort === undefined ? {} : { adminPort }),
  };
}

function loopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}
