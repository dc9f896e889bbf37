/** Convenience re-exports of the fixture helpers. */
export * from './apt.js';
export * from './debs.js';
export * from './exec.js';
export * from './gpg.js';
export * from './paths.js';
export * from './repo.js';
export * from './upstream.js';
