import * as nodeModule from 'node:module'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {runFast} from './agent-fast.js'
import {runCli} from './run-cli.js'

/**
 * Node.js 22.1+ keeps the V8 code of the chunks it compiled (module.enableCompileCache),
 * so the next start on the host skips most of compiling them; older runtimes lack it and
 * compile as before. The cache sits beside the agent's files (the agent's own folder, not
 * a shared /tmp another account could write into); NODE_DISABLE_COMPILE_CACHE=1 turns it off.
 */
const enableCompileCache = (nodeModule as {enableCompileCache?: (dir?: string) => unknown}).enableCompileCache
if (typeof enableCompileCache === 'function' && import.meta.url.startsWith('file:')) {
  try {
    enableCompileCache(join(dirname(fileURLToPath(import.meta.url)), '.compile-cache'))
  } catch {
    // a folder it cannot write: start as without it
  }
}

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
