import {execute, settings} from '@oclif/core'
export {COMMANDS} from './agent-commands.js'

// The bundle is already JavaScript; never look for TypeScript sources (NODE_ENV=test would).
settings.enableAutoTranspile = false

// Not awaited at top level: oclif imports this same module to find COMMANDS.
execute({dir: import.meta.url}).catch((e: Error & {oclif?: {exit?: number}}) => {
  process.stderr.write(`${e.message}\n`)
  process.exitCode = e.oclif?.exit ?? 1
})
