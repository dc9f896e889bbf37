// aptgate's version, as the CLI and the RPC handshake report it.
export const VERSION = '0.1.0';
