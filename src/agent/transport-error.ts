// What went wrong reaching the server, said in the administrator's terms: a URL with the wrong
// scheme (https:// to a plain-HTTP server answers with OpenSSL's "wrong version number";
// http:// to an HTTPS server ends in "socket hang up"), or a certificate this machine does not
// trust, each with the setting to change instead of OpenSSL's text. Node 18: the packaged
// agent runs there.
import tls from 'node:tls';

/** Where the server URL and the CA file are set, for the advice. */
export interface SettingPlaces {
  /** e.g. "server = in /etc/aptgate-agent/agent.conf (or --server)" */
  server: string;
  /** the configuration file (ca_file = is set there) */
  configFile: string;
}

const UNTRUSTED = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT',
  'CERT_UNTRUSTED',
]);

/** The short OpenSSL reason ("wrong version number") out of its long error text. */
function sslReason(err: NodeJS.ErrnoException): string {
  return /SSL routines:[^:]*:([^:]+)/.exec(err.message)?.[1]?.trim() ?? err.code ?? err.message;
}

/** An https:// URL to a server that answered in plain HTTP (the TLS record layer saw text). */
function plainHttpAnswer(err: NodeJS.ErrnoException): boolean {
  return (
    err.code === 'ERR_SSL_WRONG_VERSION_NUMBER' ||
    /wrong version number|unknown protocol|packet length too long|http request/i.test(err.message)
  );
}

/** Whether host:port completes a TLS handshake (any certificate), within `timeoutMs`. */
export function speaksTls(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tls.connect({
      host,
      port,
      servername: /^[\d.:[\]]+$/.test(host) ? undefined : host,
      rejectUnauthorized: false,
    });
    const done = (yes: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(yes);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once('secureConnect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** The URL with the other scheme and the same port (http://h:443, not http://h). */
function withScheme(url: URL, scheme: 'http:' | 'https:'): string {
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  return port === (scheme === 'https:' ? '443' : '80')
    ? `${scheme}//${url.hostname}`
    : `${scheme}//${url.hostname}:${port}`;
}

/** A message for a failed request to `url`, or undefined when there is nothing better to say than the error itself. */
export async function explainTransportError(
  url: URL,
  err: NodeJS.ErrnoException,
  places: SettingPlaces,
): Promise<string | undefined> {
  if (
    url.protocol === 'https:' &&
    (err.code === 'EPROTO' || err.code?.startsWith('ERR_SSL_')) &&
    plainHttpAnswer(err)
  ) {
    return `the server at ${url.origin} does not speak HTTPS (TLS handshake failed: ${sslReason(err)}): use ${withScheme(url, 'http:')} in ${places.server}, or give the server a certificate (server.tls_cert and server.tls_key)`;
  }
  if (url.protocol === 'https:' && err.code && UNTRUSTED.has(err.code)) {
    return `the server at ${url.origin} has a certificate this machine does not trust (${err.message}): set ca_file = to the PEM certificate of the CA that signed it (for a self-signed certificate, the certificate itself) in ${places.configFile}`;
  }
  if (url.protocol === 'https:' && err.code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return `the server's certificate does not name ${url.hostname} (${err.message}): use the name its certificate carries in ${places.server}`;
  }
  if (url.protocol === 'http:' && (err.code === 'ECONNRESET' || err.code === 'HPE_INVALID_CONSTANT')) {
    // the connection was closed without an answer: an HTTPS server does that to plain HTTP
    const port = Number(url.port || 80);
    if (await speaksTls(url.hostname.replace(/^\[|\]$/g, ''), port, 5000)) {
      return `the server at ${url.origin} speaks HTTPS, not plain HTTP (it closed the connection: ${err.message}): use ${withScheme(url, 'https:')} in ${places.server}`;
    }
  }
  return undefined;
}
