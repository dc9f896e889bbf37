// Client socket addresses: a dual-stack socket reports IPv4 clients as ::ffff:a.b.c.d.

/** The IPv4 address an IPv4-mapped IPv6 address stands for, else the address as it is. */
export function unmapIPv4(address: string): string {
  return /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1] ?? address;
}
