import {execute, settings} from '@oclif/core'
import {COMMANDS} from './agent-commands.js'

/**
 * The agent's oclif side (help, bad flags, the rarer commands), in a chunk of its
 * own: loaded only when the fast path leaves the command to oclif.
 */
export {COMMANDS}

export async function runOclif(main: string): Promise<void> {
  // The bundle is already JavaScript; never look for TypeScript sources (NODE_ENV=test would).
  settings.enableAutoTranspile = false
  await execute({dir: main})
}
