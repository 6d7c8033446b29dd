import {createRequire} from 'node:module'
import type * as Yaml from 'yaml'

const load = createRequire(import.meta.url)
let yaml: typeof Yaml | undefined

/**
 * The YAML reader for the instructor's side, loaded when first needed: loading it costs
 * ~30 ms of CPU, and most fleet commands read no YAML (a prepare without --vars or a room
 * cache; the playbook itself is read by the agent's dry run). Not engines.ts: that one
 * serves the agent's bundle, where yaml is a chunk loaded with import() (asynchronous, so
 * its callers rerun under withEngines); here fleet runs beside node_modules, where a
 * synchronous require keeps the vars readers plain functions.
 */
export function yamlReader(): typeof Yaml {
  return (yaml ??= load('yaml') as typeof Yaml)
}
