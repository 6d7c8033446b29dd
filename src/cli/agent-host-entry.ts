/**
 * The entry of the agent as hosts get it (dist/agent-host/agent.mjs, scripts/build.mjs): the
 * compile cache first, then the agent's one module, so that its code is cached too (turned
 * on from inside that module, the cache would only cover what it loads later).
 */
import {enableCompileCache} from '../agent/compile-cache.js'

enableCompileCache(import.meta.url)
await import('./agent-main.js')
