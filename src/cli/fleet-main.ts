import {runFleetFast} from './fleet-fast.js'

/**
 * oclif finds the commands by importing this same module and reading COMMANDS;
 * they (and oclif) are loaded only when the fast path (src/cli/fleet-fast.ts)
 * leaves the command to oclif.
 */
export let COMMANDS: (typeof import('./fleet-commands.js'))['COMMANDS'] | undefined

async function main(): Promise<void> {
  if (await runFleetFast(process.argv.slice(2))) return
  const oclif = await import('./fleet-oclif.js')
  COMMANDS = oclif.COMMANDS
  await oclif.runOclif(import.meta.url)
}

// Not awaited at top level: oclif imports this same module to find COMMANDS.
main().catch((e: Error & {oclif?: {exit?: number}}) => {
  process.stderr.write(`${e.message}\n`)
  process.exitCode = e.oclif?.exit ?? 1
})
