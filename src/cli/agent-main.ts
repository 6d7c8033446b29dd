import {runFast} from './agent-fast.js'
import {enableCompileCache} from '../agent/compile-cache.js'
import {runCli} from './run-cli.js'

// For the whole agent's chunks (dist/agent); a host's agent turned it on in its entry already.
enableCompileCache(import.meta.url)

/**
 * oclif finds the commands by importing this same module and reading COMMANDS.
 * They (and oclif) are loaded only when the fast path (src/cli/agent-fast.ts)
 * leaves the command to oclif: help, bad flags, and the rarer commands.
 */
export let COMMANDS: (typeof import('./agent-commands.js'))['COMMANDS'] | undefined

runCli(import.meta.url, runFast, async () => {
  // The fast path loads the playbook's libraries as a run needs them; oclif's commands have them all first.
  const oclif = await import('./agent-oclif.js').catch(async (e: unknown) => {
    const {isShippedWithout, withoutFullCli} = await import('../errors/shipped-agent.js')
    throw isShippedWithout(e) ? withoutFullCli() : e
  })
  await (await import('../playbook/engines.js')).loadAllEngines()
  COMMANDS = oclif.COMMANDS
  return oclif
})
