import {UserError} from './user-error.js'

/**
 * A host gets the agent without what its runs never load (scripts/build.mjs, dist/agent-host:
 * oclif, the YAML reader, the playbook schemas; their imports there point into a folder
 * `not-shipped` that no host has). Asked for one of them anyway, the agent says so in one
 * sentence instead of a module-not-found stack.
 */
export function isShippedWithout(e: unknown): boolean {
  return (e as NodeJS.ErrnoException | undefined)?.code === 'ERR_MODULE_NOT_FOUND' && /[/\\]not-shipped[/\\][\w-]+\.mjs/.test(String((e as Error).message))
}

const SHIPPED = 'This agent is the part of it that fleet ships to hosts'
const WHOLE = "the whole agent is dist/agent in fleet's package"

export function withoutEngine(engine: string): UserError {
  return new UserError(`${SHIPPED}, without the ${engine === 'yaml' ? 'YAML reader' : 'playbook schemas'}: it runs a playbook only beside the compiled form fleet's dry run made of it (PLAYBOOK.compiled.json, matching the playbook and its templates) and reads JSON vars; for a playbook or template changed on this host, or a YAML vars file, ${WHOLE}.`)
}

export function withoutFullCli(): UserError {
  return new UserError(`${SHIPPED}, without its help and full command line: it takes run, start, follow, status, undo and logs with the flags fleet gives them; ${WHOLE}.`)
}
