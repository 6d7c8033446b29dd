import * as nodeModule from 'node:module'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

/**
 * Node.js 22.1+ keeps the V8 code of the modules it compiles (module.enableCompileCache),
 * so the next start on the host skips most of compiling them; older runtimes lack it and
 * compile as before. It covers only modules loaded after it is on: hence the shipped agent's
 * entry turns it on and then imports the agent's module (src/cli/agent-host-entry.ts). The
 * cache sits beside the agent's files (the bundle's own folder, not a shared /tmp another
 * account could write into); NODE_DISABLE_COMPILE_CACHE=1 turns it off.
 */
const node = nodeModule as {enableCompileCache?: (dir?: string) => unknown; flushCompileCache?: () => void}

export function enableCompileCache(moduleUrl: string): void {
  if (typeof node.enableCompileCache !== 'function' || !moduleUrl.startsWith('file:')) return
  try {
    node.enableCompileCache(join(dirname(fileURLToPath(moduleUrl)), '.compile-cache'))
  } catch {
    // a folder it cannot write: start as without it
  }
}

/**
 * Node writes the cache when the process exits; `agent start` outlives the run it starts,
 * so it writes what it has first (Node.js 22.10+), and the run loads the agent from it.
 */
export function flushCompileCache(): void {
  try {
    node.flushCompileCache?.()
  } catch {
    // a cache it cannot write: the run compiles as without it
  }
}
