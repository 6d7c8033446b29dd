import {execute, settings} from '@oclif/core'
import {COMMANDS} from './fleet-commands.js'

/** fleet's oclif side, in a chunk of its own: loaded when the fast path leaves the command to oclif. */
export {COMMANDS}

export async function runOclif(main: string): Promise<void> {
  settings.enableAutoTranspile = false
  await execute({dir: main})
}
