/**
 * Where fleet keeps things on a host, under the login's home: the bundles by
 * content hash, the vars files by hash, the managed runtime, the detached
 * agent's output. Both sides name these paths: the orchestrator uploads and
 * starts things there, the agent's answers point into them.
 */

/** Everything fleet puts on a host lives under this folder of the login's home. */
export const REMOTE_ROOT = '.fleet'

/** The bundle of one content hash: the agent (agent.mjs and its chunks) and the playbook's files. */
export function bundleDir(hash: string): string {
  return `${REMOTE_ROOT}/bundles/${hash}`
}

/** Where a bundle is unpacked before it is moved into place under its hash (the same folder, so the move is a rename). */
export function bundleUploadDir(hash: string, nonce: string): string {
  return `${REMOTE_ROOT}/bundles/.tmp-${hash}-${nonce}`
}

/** A bundle folder holds this file once it is complete (an upload that stopped half-way has none). */
export const BUNDLE_COMPLETE = '.complete'

/** The agent's entry point inside a bundle. */
export const AGENT_ENTRY = 'agent.mjs'

export function agentEntry(hash: string): string {
  return `${bundleDir(hash)}/${AGENT_ENTRY}`
}

/** A playbook inside a bundle: the bundle keeps the playbooks folder's layout. */
export function bundledPlaybook(hash: string, playbookRel: string): string {
  return `${bundleDir(hash)}/${playbookRel}`
}

export const VARS_DIR = `${REMOTE_ROOT}/vars`

/** A vars file by its content hash (mode 0600: it holds the playbook's secrets). */
export function varsPath(hash: string): string {
  return `${VARS_DIR}/${hash}.yaml`
}

/** fleet's managed Node.js runtime, when the host's own will not do. */
export const RUNTIME_NODE = `${REMOTE_ROOT}/runtime/bin/node`

/** Where the detached agent's stray output (and a crash's stack) goes. */
export const AGENT_OUT = `${REMOTE_ROOT}/agent.out`

/**
 * The compiled playbook fleet ships beside a bundle's playbook (its schema is the agent's,
 * src/playbook/types.ts CompiledPlaybook): the agent uses it when its hash is the playbook's.
 */
export function compiledPath(playbookPath: string): string {
  return `${playbookPath}.compiled.json`
}
