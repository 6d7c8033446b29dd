import {spawnSync} from 'node:child_process'
import {existsSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {agentArgv, AGENT_ENTRY, type AgentFlags, type AgentSubcommand} from '../protocol/index.js'

/** The repository (or installed package) root: where dist/ and playbooks/ are. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir)
    if (up === dir) throw new Error('cannot find the fleet package root')
    dir = up
  }
  return dir
}

/** The whole built agent here (dist/agent): what the dry run and redaction run on the instructor's side. */
export function localAgentDir(): string {
  return join(packageRoot(), 'dist', 'agent')
}

/** The same agent as every host gets it in its bundle (dist/agent-host: without oclif, the YAML reader, the schemas). */
export function hostAgentDir(): string {
  return join(packageRoot(), 'dist', 'agent-host')
}

/**
 * Run the agent here, on the instructor's machine, with the same contract as on a
 * host (the dry run that checks a playbook, the redaction of collected logs): the
 * agent's own code decides, so both sides agree.
 */
export function runLocalAgent<S extends AgentSubcommand>(sub: S, flags: AgentFlags[S], positional: string[] = []): {status: number | null; stdout: string; stderr: string} {
  const args = [join(localAgentDir(), AGENT_ENTRY), ...agentArgv(sub, flags, positional)]
  const r = spawnSync(process.execPath, args, {encoding: 'utf8', env: localAgentEnv()})
  return {status: r.status, stdout: r.stdout, stderr: r.stderr}
}

/** Neither the dry run nor redaction opens a TLS connection: no CA bundle to read first. */
function localAgentEnv(): NodeJS.ProcessEnv {
  return {...withoutCaBundle(process.env), NODE_ENV: 'production'}
}

/**
 * An environment without NODE_EXTRA_CA_CERTS, for a Node.js that makes no TLS connection:
 * with it set every Node.js start reads and parses that CA file before its first line
 * (~30 ms of CPU with a system bundle).
 */
export function withoutCaBundle(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const {NODE_EXTRA_CA_CERTS: _unused, ...rest} = env
  return rest
}
