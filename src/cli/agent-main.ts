import {runFast} from './agent-fast.js'
import {runCli} from './run-cli.js'

/**
 * oclif finds the commands by importing this same module and reading COMMANDS.
 * They (and oclif) are loaded only when the fast path (src/cli/agent-fast.ts)
 * leaves the command to oclif: help, bad flags, and the rarer commands.
 */
export let COMMANDS: (typeof import('./agent-commands.js'))['COMMANDS'] | undefined

runCli(import.meta.url, runFast, async () => {
  const oclif = await import('./agent-oclif.js')
  COMMANDS = oclif.COMMANDS
  return oclif
})
