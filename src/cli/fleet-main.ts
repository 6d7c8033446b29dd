import {execute, settings} from '@oclif/core'
export {COMMANDS} from './fleet-commands.js'

settings.enableAutoTranspile = false

// Not awaited at top level: oclif imports this same module to find COMMANDS.
execute({dir: import.meta.url}).catch((e: Error & {oclif?: {exit?: number}}) => {
  process.stderr.write(`${e.message}\n`)
  process.exitCode = e.oclif?.exit ?? 1
})
