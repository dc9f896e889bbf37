// Client socket addresses: a dual-stack socket reports IPv4 clients as ::ffff:a.b.c.d; the key an
// address is rate-limited by (enrolments, logins).

/** The IPv4 address an IPv4-mapped IPv6 address stands for, else the address as it is. */
export function unmapIPv4(address: string): string {
  return /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1] ?? address;
}

/**
 * The rate-limit key of a client address: an IPv4 address as it is (also written IPv4-mapped),
 * an IPv6 address by its /64 — one host or one customer network usually holds a whole /64, so
 * keying single addresses would give it billions of allowances.
 */
export function addressKey(address: string): string {
  address = unmapIPv4(address);
  if (!address.includes(':')) return address;
  const [head = '', tail = ''] = address.split('%')[0]!.toLowerCase().split('::');
  const left = head ? head.split(':') : [];
  const right = address.includes('::') && tail ? tail.split(':') : [];
  const groups = address.includes('::')
    ? [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right]
    : left;
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}
