// The API's JSON bodies: fastify's own parser (it refuses __proto__ and constructor keys), after a
// check of the nesting. JSON.parse of a megabyte of "[[[[…" holds the event loop for ~250 ms, and
// a body is parsed before the route knows who sent it: without this, anyone could freeze the
// server shared with every apt client, a request at a time. No answer of the API nests deeply.
import type { FastifyInstance } from 'fastify';
import { AptgateError } from '../errors.js';

/** The deepest nesting of objects and arrays a request body may have. */
export const JSON_MAX_DEPTH = 32;

/** Whether `text` nests objects or arrays deeper than `max` (strings are skipped); one pass, no parse. */
export function nestsDeeper(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // a backslash: the next character is escaped
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

/** Replaces application/json parsing in `scope` (the API's routes only). */
export function registerJsonBodies(scope: FastifyInstance): void {
  const parse = scope.getDefaultJsonParser('error', 'error');
  scope.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (nestsDeeper(body as string, JSON_MAX_DEPTH))
      return done(new AptgateError('USAGE', `the body nests deeper than ${JSON_MAX_DEPTH} levels`), undefined);
    parse(request, body as string, done);
  });
}
