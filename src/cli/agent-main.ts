import {runFast} from '../agent/fast-cli.js'

/**
 * oclif finds the commands by importing this same module and reading COMMANDS.
 * They (and oclif) are loaded only when the fast path (src/agent/fast-cli.ts)
 * leaves the command to oclif: help, bad flags, and the rarer commands.
 */
export let COMMANDS: (typeof import('./agent-commands.js'))['COMMANDS'] | undefined

async function main(): Promise<void> {
  if (await runFast(process.argv.slice(2))) return
  const oclif = await import('./agent-oclif.js')
  COMMANDS = oclif.COMMANDS
  await oclif.runOclif(import.meta.url)
}

// Not awaited at top level: oclif imports this same module to find COMMANDS.
main().catch((e: Error & {oclif?: {exit?: number}}) => {
  process.stderr.write(`${e.message}\n`)
  process.exitCode = e.oclif?.exit ?? 1
})
