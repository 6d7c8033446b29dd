/**
 * The protocol's plain values and its error, in a module without zod: the agent's hot
 * path (writing and reading back its own journal) imports these, not the schemas in
 * records.ts, so a run on a host does not load and build zod to start (records.ts and
 * parse.ts re-export them; the instructor side validates every record it reads in full).
 */

/** Bump when a record changes shape incompatibly (see records.ts). */
export const PROTOCOL_VERSION = 1

/** Output chunks are cut to this many characters per record. */
export const MAX_OUTPUT_CHARS = 4096

export class ProtocolError extends Error {}
