import {runFleetFast} from './fleet-fast.js'
import {runCli} from './run-cli.js'

/**
 * oclif finds the commands by importing this same module and reading COMMANDS;
 * they (and oclif) are loaded only when the fast path (src/cli/fleet-fast.ts)
 * leaves the command to oclif.
 */
export let COMMANDS: (typeof import('./fleet-commands.js'))['COMMANDS'] | undefined

runCli(import.meta.url, runFleetFast, async () => {
  const oclif = await import('./fleet-oclif.js')
  COMMANDS = oclif.COMMANDS
  return oclif
})
